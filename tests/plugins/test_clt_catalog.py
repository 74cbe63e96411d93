"""The CLT command catalogue against seed 003, and its placeholders through the real CLI."""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from mturkmake.cli import _parse_command
from mturkmake.core.plugins import BUILTIN_PLUGINS
from mturkmake.errors import NotImplementedCommand, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Flag
from mturkmake.plugins import clt_placeholders
from mturkmake.plugins.clt_catalog import (
    CLT_COMMANDS,
    CltCommand,
    check_one_of,
    command,
    snake_case,
)
from mturkmake.testing import Project
from tests.reference import REFERENCE

SEED = REFERENCE / "seeds" / "003_2fd0dcf7b819a5d5.txt"
PLUGIN = "mturkmake.plugins.clt_placeholders"
# Until the lead lists the placeholders among the built-ins, load them with -p.
LOAD = () if PLUGIN in BUILTIN_PLUGINS else ("-p", PLUGIN)

# Documented "Yes" rows that mturkmake does not require: the makeTemplate.sh wrapper supplied them.
WRAPPER_SUPPLIED = {"os", "type", "templateRootDir", "targetRootDir", "scriptTemplateDir"}
# A "Conditional" row whose condition is the content of another file, not another flag.
FILE_CONDITIONAL = {("updateQualificationScore", "score")}


# --------------------------------------------------------------------------------------------
# Reading seed 003 (the CLT reference, as text extracted from its PDF)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocFlag:
    """One row of a command's Arguments table."""

    name: str
    takes_value: bool
    required: str  # "Yes", "No" or "Conditional"


@cache
def seed_lines() -> tuple[str, ...]:
    # The PDF uses U+2011 (non-breaking hyphen) in some Name cells ("‑help or ‑h").
    if not SEED.is_file():  # no corpus: the tests that need it are skipped (tests/reference.py)
        return ()
    return tuple(SEED.read_text(encoding="utf-8").replace("\u2011", "-").splitlines())


@cache
def seed_topics() -> tuple[str, ...]:
    """The command names of the "Topics" list near the top."""
    lines = seed_lines()
    if not lines:
        return ()
    start = lines.index("Topics")
    end = next(i for i, line in enumerate(lines) if line.startswith("This section describes"))
    return tuple(
        line.strip()[1:].strip() for line in lines[start:end] if line.strip().startswith("•")
    )


def _next_text(lines: tuple[str, ...], i: int) -> str:
    return next((line.strip() for line in lines[i + 1 :] if line.strip()), "")


_ROW = re.compile(r"^\s*-([A-Za-z]+)(.*)$")


@cache
def seed_arguments() -> dict[str, tuple[DocFlag, ...]]:
    """Each command heading's Arguments table (without ``-help or -h``)."""
    lines = seed_lines()
    heads = {
        line.strip(): i
        for i, line in enumerate(lines)
        if line.strip() in seed_topics() and _next_text(lines, i) == "Description"
    }
    files = next(
        i
        for i, line in enumerate(lines)
        if i > max(heads.values()) and line.strip() == "Files Used by the Command Line Tools"
    )
    bounds = [*sorted(heads.values()), files]
    tables: dict[str, tuple[DocFlag, ...]] = {}
    for name, start in heads.items():
        section = lines[start : bounds[bounds.index(start) + 1]]
        first = next(i for i, line in enumerate(section) if line.strip().lower() == "arguments")
        last = next(i for i, line in enumerate(section) if i > first and line.strip() == "Example")
        block = section[first + 1 : last]
        starts = [i for i, line in enumerate(block) if _ROW.match(line)]
        rows = []
        for k, i in enumerate(starts):
            row = block[i : [*starts, len(block)][k + 1]]
            match = _ROW.match(row[0])
            assert match is not None
            flag, rest = match.group(1), match.group(2).strip()
            if flag == "help":
                continue
            placeholder = rest.startswith("[") or (not rest and row[1].strip().startswith("["))
            example = any(re.search(rf"Example:\s*-{flag}\s+\S", line) for line in row)
            cells = {line.strip() for line in row}
            required = (
                "Yes"
                if "Yes" in cells
                else "Conditional"
                if "Condition" in cells
                else "No"
                if "No" in cells
                else "?"
            )
            rows.append(DocFlag(flag, placeholder or example, required))
        tables[name] = tuple(rows)
    return tables


def test_the_seed_parser_finds_every_command_section() -> None:
    assert len(seed_topics()) == 23
    assert set(seed_arguments()) == set(seed_topics())
    assert all(seed_arguments()[name] for name in seed_topics())


# --------------------------------------------------------------------------------------------
# The catalogue against the seed
# --------------------------------------------------------------------------------------------


def test_every_seed_command_is_catalogued_in_the_seed_order() -> None:
    assert [c.name for c in CLT_COMMANDS] == list(seed_topics())


@pytest.mark.parametrize("name", seed_topics())
def test_flags_are_the_documented_arguments(name: str) -> None:
    cmd = command(name)
    documented = seed_arguments()[name]
    assert [f.name for f in cmd.flags] == [d.name for d in documented]
    grouped = {flag for group in cmd.one_of for flag in group}
    for doc, flag in zip(documented, cmd.flags, strict=True):
        assert (flag.value is not None) == doc.takes_value, flag.name
        assert flag.help, flag.name
        assert not flag.repeat, flag.name
        if doc.required == "Yes":
            wrapper_supplied = name == "makeTemplate" and doc.name in WRAPPER_SUPPLIED
            assert flag.required is not wrapper_supplied, flag.name
        else:
            assert not flag.required, flag.name
        if doc.required == "Conditional" and (name, doc.name) not in FILE_CONDITIONAL:
            assert doc.name in grouped, f"{name} -{doc.name} is in no one_of group"
            assert "required unless" in flag.help
    assert grouped <= {f.name for f in cmd.flags}
    assert all(len(group) >= 2 for group in cmd.one_of)


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("loadHITs", "input label maxhits preview previewfile properties question sandbox"),
        ("getResults", "namevaluepairs outputfile sandbox successfile"),
        ("approveWork", "approvefile assignment force sandbox successfile"),
        ("rejectWork", "assignment force rejectfile sandbox"),
        ("grantBonus", "amount assignment reason sandbox workerid"),
        ("extendHITs", "assignments hours sandbox successfile"),
        ("createQualificationType", "answer noretry properties question sandbox"),
        ("updateQualificationScore", "input qualtypeid sandbox score workerid"),
        ("getBalance", "sandbox"),
    ],
)
def test_spot_checked_flags(name: str, flags: str) -> None:
    assert [f.name for f in command(name).flags] == flags.split()


def test_spot_checked_values_requirements_and_groups() -> None:
    load = command("loadHITs")
    assert {f.name for f in load.flags if f.required} == {"input", "question", "properties"}
    assert load.flag("maxhits").value is not None  # "-maxhits 1", although no [n] in the table
    assert load.flag("preview").value is None
    assert load.flag("sandbox").value is None
    assert command("approveWork").one_of == (("approvefile", "assignment", "successfile"),)
    assert command("rejectWork").one_of == (("assignment", "rejectfile"),)
    assert command("extendHITs").one_of == (("assignments", "hours"),)
    assert command("assignQualification").one_of == (
        ("input", "qualtypeid"),
        ("scorefile", "workerid"),
    )
    bonus = command("grantBonus")
    assert all(f.required for f in bonus.flags if f.name != "sandbox")
    assert command("unblockWorker").flag("reason").value is not None
    assert command("updateQualificationType").flag("qualtypeid").required
    assert command("makeTemplate").flag("os").required is False
    assert command("makeTemplate").flag("target").required is True
    assert command("updateHITs").flag("success").required  # -success, not -successfile
    assert command("approveQualificationRequests").flag("qualRequest").value is not None


def test_every_command_documents_sandbox_and_no_flag_named_help() -> None:
    for cmd in CLT_COMMANDS:
        assert cmd.flag("sandbox").value is None
        assert all(f.name not in ("help", "h") for f in cmd.all_flags), cmd.name


def test_confirming_and_money_commands() -> None:
    assert {c.name for c in CLT_COMMANDS if c.confirms} == {
        "approveWork",
        "rejectWork",
        "reviewResults",
        "deleteHITs",
        "resetAccount",
        "approveQualificationRequests",
        "rejectQualificationRequests",
    }
    assert {c.name for c in CLT_COMMANDS if c.spends_money} == {
        "loadHITs",
        "extendHITs",
        "grantBonus",
        "approveWork",
        "reviewResults",
        "deleteHITs",
        "resetAccount",
        "updateHITs",
    }
    # A confirming command can always be made unattended with -force (DESIGN §8).
    for cmd in CLT_COMMANDS:
        if cmd.confirms:
            assert cmd.flag("force").value is None, cmd.name


def test_extra_flags_are_marked_as_mturkmake_additions() -> None:
    extras = {c.name: [f.name for f in c.extra_flags] for c in CLT_COMMANDS if c.extra_flags}
    assert extras == {
        "grantBonus": ["again"],
        "loadHITs": ["replace-edited", "new-batch"],
        "resetAccount": ["all-account"],
        "reviewResults": ["force"],
    }
    for cmd in CLT_COMMANDS:
        for flag in cmd.extra_flags:
            assert "mturkmake" in flag.help
            assert flag.name not in {f.name for f in cmd.flags}


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("loadHITs", "load_hits"),
        ("getResults", "get_results"),
        ("deleteHITs", "delete_hits"),
        ("approveQualificationRequests", "approve_qualification_requests"),
        ("makeTemplate", "make_template"),
        ("getBalance", "get_balance"),
    ],
)
def test_snake_case_aliases(name: str, alias: str) -> None:
    assert snake_case(name) == alias
    assert command(name).alias == alias
    assert command(alias) is command(name)


def test_names_and_aliases_are_unique() -> None:
    words = [w for c in CLT_COMMANDS for w in (c.name, c.alias)]
    assert len(words) == len(set(words)) == 46


def test_unknown_command_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match=r"'loadHits' is not a CLT command.*did you mean loadHITs"):
        command("loadHits")
    with pytest.raises(KeyError, match="'frobnicate' is not a CLT command"):
        command("frobnicate")


def test_flag_lookup_names_the_command() -> None:
    assert command("resetAccount").flag("all-account").value is None
    with pytest.raises(KeyError, match="getBalance has no flag -input"):
        command("getBalance").flag("input")


def _handler(args: Mapping[str, Any], ctx: Context) -> int:
    return 0


def test_spec_carries_the_catalogue() -> None:
    spec = command("reviewResults").spec(_handler)
    assert isinstance(spec, CommandSpec)
    assert spec.name == "reviewResults"
    assert spec.aliases == ("review_results",)
    assert [f.name for f in spec.flags] == ["resultsfile", "sandbox", "force"]
    assert spec.confirms
    assert spec.spends_money
    assert spec.handler is _handler
    assert spec.help == command("reviewResults").help
    assert spec.implemented


def test_spec_accepts_more_flags_but_refuses_a_clash() -> None:
    cmd = command("getBalance")
    spec = cmd.spec(_handler, help="h", extra_flags=(Flag("json", None, "as JSON"),))
    assert [f.name for f in spec.flags] == ["sandbox", "json"]
    assert spec.help == "h"
    with pytest.raises(ValueError, match="defined twice: sandbox"):
        cmd.spec(_handler, extra_flags=(Flag("sandbox"),))


def test_check_one_of() -> None:
    approve = command("approveWork")
    with pytest.raises(
        UsageError, match="approveWork: give -approvefile, -assignment or -successfile"
    ) as info:
        check_one_of(approve, {"approvefile": None, "assignment": None, "force": True})
    assert "approveWork -help" in info.value.one_line()
    check_one_of(approve, {"successfile": "a.success"})
    check_one_of("approve_work", {"assignment": "A1,A2"})
    with pytest.raises(UsageError, match="give -assignment or -rejectfile"):
        check_one_of("rejectWork", {"assignment": ""})
    # Both groups are checked: the second one fails here.
    with pytest.raises(UsageError, match="give -scorefile or -workerid"):
        check_one_of("assignQualification", {"qualtypeid": "Q1", "workerid": None})
    check_one_of("getBalance", {})


# --------------------------------------------------------------------------------------------
# The placeholders, through the real CLI
# --------------------------------------------------------------------------------------------


@cache
def implementers() -> Mapping[str, str]:
    """Command name → the built-in plugin that implements it (``-p no:NAME`` blocks it)."""
    found: dict[str, str] = {}
    for module in BUILTIN_PLUGINS:
        plugin = importlib.import_module(module)
        hook = getattr(plugin, "mturkmake_commands", None)
        if hook is None or module == PLUGIN:
            continue
        for spec in hook():
            if spec.implemented:
                found[spec.name] = module.rsplit(".", 1)[1]
    return found


def minimal_args(cmd: CltCommand) -> list[str]:
    """Flags that satisfy ``cmd``'s requirements: each required flag, one of each group."""
    names = [f.name for f in cmd.flags if f.required] + [g[0] for g in cmd.one_of]
    args: list[str] = []
    for name in names:
        flag = cmd.flag(name)
        args += [f"-{name}"] if flag.value is None else [f"-{name}", "x"]
    return args


def run(project: Project, *args: str) -> Any:
    return project.run(*LOAD, *args)


def placeholder_only(name: str) -> tuple[str, ...]:
    """``-p`` options that leave ``name`` to its placeholder: block the plugin that implements
    it (every CLT command has one now), so the placeholder path is still exercised."""
    plugin = implementers().get(name)
    return ("-p", f"no:{plugin}") if plugin else ()


def test_the_hook_is_trylast_and_marks_every_spec() -> None:
    opts = clt_placeholders.mturkmake_commands.mturkmake_impl  # type: ignore[attr-defined]
    assert opts["trylast"] is True
    specs = clt_placeholders.mturkmake_commands()
    assert [s.name for s in specs] == [c.name for c in CLT_COMMANDS]
    assert not any(s.implemented for s in specs)
    assert all(getattr(s.handler, "mturkmake_placeholder", False) is True for s in specs)


@pytest.mark.parametrize("name", seed_topics())
def test_help_prints_every_flag(mturkmake_project: Project, name: str) -> None:
    result = run(mturkmake_project, name, "-help")
    assert result.exit_code == 0, result.output
    for flag in command(name).all_flags:
        assert f"-{flag.name}" in result.stdout
    assert command(name).help.split()[0] in result.stdout
    assert result.stderr == ""


def test_global_help_lists_every_command(mturkmake_project: Project) -> None:
    result = run(mturkmake_project, "--help")
    assert result.exit_code == 0
    # names are padded: a name ("loadHITs", "marketplace serve") ends at two spaces
    listed = re.findall(r"^  (\S+(?: \S+)?) {2,}", result.stdout, flags=re.MULTILINE)
    assert set(seed_topics()) <= set(listed)
    assert len(set(listed)) == len(listed)  # an implemented command is not listed twice


@pytest.mark.parametrize("word", ["-h", "--help"])
def test_h_and_double_dash_help(mturkmake_project: Project, word: str) -> None:
    result = run(mturkmake_project, "grantBonus", word)
    assert result.exit_code == 0
    assert "-amount" in result.stdout
    assert "-workerid" in result.stdout


def test_help_wins_over_missing_required_flags(mturkmake_project: Project) -> None:
    result = run(mturkmake_project, "load_hits", "-h")
    assert result.exit_code == 0
    assert "-previewfile" in result.stdout


@pytest.mark.parametrize("name", seed_topics())
def test_each_unimplemented_command_parses_then_refuses(
    mturkmake_project: Project, name: str
) -> None:
    blocked = placeholder_only(name)
    result = run(mturkmake_project, *blocked, name, *minimal_args(command(name)), "-sandbox")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"mturkmake: {name} is not implemented yet in mturkmake 0.1.0 — nothing was done; "
        f"'mturkmake --help' lists the commands, '{name} -help' its flags"
    ]
    # It wrote nothing (cli.py may leave the project lock file of a money command in .mturkmake).
    written = [p for p in mturkmake_project.root.rglob("*") if p.is_file()]
    assert [p.name for p in written if p.parent.name == ".mturkmake"] == [p.name for p in written]
    assert {p.name for p in written} <= {"lock"}


def test_snake_case_alias_reaches_the_same_command(mturkmake_project: Project) -> None:
    result = run(mturkmake_project, *placeholder_only("getBalance"), "get_balance")
    assert result.exit_code == 2
    assert "getBalance is not implemented yet" in result.stderr


def test_unknown_flag_is_one_line_and_exit_2(mturkmake_project: Project) -> None:
    result = run(mturkmake_project, "getBalance", "-sandbx")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "-sandbx" in result.stderr
    assert "not implemented" not in result.stderr
    assert result.stdout == ""


def test_missing_required_flag_comes_before_not_implemented(mturkmake_project: Project) -> None:
    result = run(mturkmake_project, "getResults", "-successfile", "a.success")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "mturkmake: getResults: missing required flag -outputfile — "
        "see 'mturkmake getResults -help'"
    ]


def test_one_of_comes_before_not_implemented(mturkmake_project: Project) -> None:
    blocked = placeholder_only("extendHITs")
    result = run(mturkmake_project, *blocked, "extendHITs", "-successfile", "a.success")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "mturkmake: extendHITs: give -assignments or -hours — see 'mturkmake extendHITs -help'"
    ]
    result = run(
        mturkmake_project, *blocked, "extendHITs", "-successfile", "a.success", "-hours", "3"
    )
    assert "not implemented" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["-input", "a.input", "-question", "a.question", "-properties", "a.properties"],
        ["--input", "a.input", "--question", "a.question", "--properties", "a.properties"],
        ["--input=a.input", "-question", "a.question", "--properties", "a.properties"],
    ],
)
def test_single_and_double_dash_flags(mturkmake_project: Project, argv: list[str]) -> None:
    parsed = _parse_command(command("loadHITs").spec(_handler), [*argv, "-maxhits", "2"])
    assert parsed is not None
    assert (parsed["input"], parsed["question"], parsed["maxhits"]) == (
        "a.input",
        "a.question",
        "2",
    )
    assert parsed["preview"] is False
    result = run(mturkmake_project, *placeholder_only("loadHITs"), "loadHITs", *argv)
    assert result.exit_code == 2
    assert "loadHITs is not implemented yet" in result.stderr


def test_double_dash_abbreviation_refused(mturkmake_project: Project) -> None:
    result = run(
        mturkmake_project, "loadHITs", "--inp", "a.input", "-question", "q", "-properties", "p"
    )
    assert result.exit_code == 2
    assert "unrecognized arguments: --inp" in result.stderr


def test_single_dash_abbreviation_refused(mturkmake_project: Project) -> None:
    result = run(
        mturkmake_project, "loadHITs", "-inp", "a.input", "-question", "q", "-properties", "p"
    )
    assert result.exit_code == 2
    assert "unrecognized arguments: -inp" in result.stderr


def test_the_placeholder_handler_raises_not_implemented() -> None:
    handler = clt_placeholders.PlaceholderHandler(command("blockWorker"))
    with pytest.raises(NotImplementedCommand, match="blockWorker is not implemented yet"):
        handler({"workerid": "A1", "reason": "r", "sandbox": False}, None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="give -approvefile or -qualRequest"):
        clt_placeholders.PlaceholderHandler(command("approveQualificationRequests"))(
            {"approvefile": None, "qualRequest": None},
            None,  # type: ignore[arg-type]
        )
