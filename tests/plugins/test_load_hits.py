"""loadHITs and ``%.success`` end to end, through the CLI, on the local marketplace.

Every "creates nothing" is asserted on the marketplace (ListHITs), not on the ledger. The
helpers at the top are shared with the crash and sample tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.plugins import BUILTIN_PLUGINS
from mturkmake.testing import Project

PLUGIN = "mturkmake.plugins.load_hits"
NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
QUESTION = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
    "  <Question><QuestionIdentifier>answer</QuestionIdentifier>\n"
    "    <QuestionContent><Text>${question}</Text></QuestionContent>\n"
    "    <AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>\n"
    "</QuestionForm>\n"
)
PROPERTIES = (
    "title:Answer a question\n"
    "description:Please provide a short answer.\n"
    "reward:0.02\n"
    "assignments:1\n"
    "annotation:${question}\n"
    "assignmentduration:3600\n"
    "hitlifetime:259200\n"
    "autoapprovaldelay:1296000\n"
)


def project_toml(extra: str = "") -> str:
    """``mturkmake.toml`` for the local endpoint, loading the plugin if it is not built in."""
    lines = ['endpoint = "local"']
    if PLUGIN not in BUILTIN_PLUGINS:
        lines.append(f'plugins = ["{PLUGIN}"]')
    return "\n".join(lines) + "\n" + extra


def input_text(rows: int, *, start: int = 0, header: str = "question\tnote") -> str:
    """A tab input with ``rows`` distinct questions (and a non-key ``note`` column)."""
    lines = [header]
    lines += [f"Question number {n}?\tnote {n}" for n in range(start, start + rows)]
    return "\n".join(lines) + "\n"


def batch_files(rows: int, name: str = "survey") -> dict[str, str]:
    """The three files of a batch plus the project file."""
    return {
        "mturkmake.toml": project_toml(),
        f"{name}.input": input_text(rows),
        f"{name}.question": QUESTION,
        f"{name}.properties": PROPERTIES,
    }


def marketplace_hits(root: Path) -> list[dict[str, Any]]:
    """Every HIT the project's local marketplace holds."""
    db = root / ".mturkmake" / "local-marketplace.db"
    if not db.exists():
        return []
    from mturkmake.marketplace.service import Marketplace

    marketplace = Marketplace(db)
    try:
        hits: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"MaxResults": 100}
            if token:
                params["NextToken"] = token
            page = marketplace.call("ListHITs", params)
            hits.extend(page["HITs"])
            token = page.get("NextToken")
            if not token:
                return hits
    finally:
        marketplace.close()


def success_ids(path: Path) -> list[str]:
    """The hitid column of a ``.success`` file (header checked)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "hitid\thittypeid"
    return [line.split("\t")[0] for line in lines[1:] if line]


def delete_ledger(root: Path) -> None:
    """Remove ``.mturkmake/state.db`` (and its WAL files), as a fresh clone lacks it."""
    for path in (root / ".mturkmake").glob("state.db*"):
        path.unlink()


def _count(project: Project) -> int:
    return len(marketplace_hits(project.root))


# --------------------------------------------------------------------------------------------
# Reconciliation: money never moves twice
# --------------------------------------------------------------------------------------------


def test_twelve_rows_then_every_rerun_creates_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(12))
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    assert "Cost: 12 HITs" in result.stdout
    assert _count(project) == 12
    ids = success_ids(project.path("survey.success"))
    assert sorted(ids) == sorted(h["HITId"] for h in marketplace_hits(project.root))

    def again(*args: str) -> None:
        outcome = project.run(*args)
        assert outcome.exit_code == 0, outcome.output
        assert _count(project) == 12, args
        assert success_ids(project.path("survey.success")) == ids

    again("survey.success")
    again("-B", "survey.success")
    # An added column (not a key column) and a re-save with CRLF and trailing spaces.
    rows = input_text(12, header="question\tnote\textra").splitlines()
    rows = [rows[0]] + [f"{line}\tmore  " for line in rows[1:]]
    project.write({"survey.input": "\r\n".join(rows) + "\r\n"})
    again("survey.success")
    crlf = input_text(12).splitlines()
    project.write({"survey.input": "\r\n".join(f"{line}   " for line in crlf) + "\r\n"})
    again("survey.success")
    later = project.mtime("survey.input") + 10**9
    project.set_mtime("survey.input", later)
    again("survey.success")
    delete_ledger(project.root)
    again("-B", "survey.success")
    delete_ledger(project.root)
    again(
        "loadHITs",
        "-input",
        "survey.input",
        "-question",
        "survey.question",
        "-properties",
        "survey.properties",
    )


def test_appending_three_rows_creates_exactly_three(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(12))
    assert project.run("survey.success").exit_code == 0
    project.write({"survey.input": input_text(15)})
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    assert "Cost: 3 HITs" in result.stdout
    assert _count(project) == 15
    assert len(success_ids(project.path("survey.success"))) == 15


def test_identical_rows_are_separate_hits(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({**batch_files(0), "survey.input": "question\nsame\nsame\n"})
    assert project.run("survey.success").exit_code == 0
    assert _count(project) == 2
    project.write({"survey.input": "question\nsame\nsame\nsame\n"})
    assert project.run("survey.success").exit_code == 0
    assert _count(project) == 3


def test_an_edited_row_is_refused_then_replaced(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(5))
    assert project.run("survey.success").exit_code == 0
    old_ids = success_ids(project.path("survey.success"))
    lines = input_text(5).splitlines()
    lines[3] = "An edited question?\tnote 2"
    project.write({"survey.input": "\n".join(lines) + "\n"})
    refused = project.run("survey.success")
    assert refused.exit_code == 2
    assert "survey.input:4:" in refused.stderr
    assert old_ids[2] in refused.stderr
    assert "--replace-edited" in refused.stderr
    assert _count(project) == 5
    assert success_ids(project.path("survey.success")) == old_ids

    replaced = project.run("--replace-edited", "survey.success")
    assert replaced.exit_code == 0, replaced.output
    hits = {h["HITId"]: h for h in marketplace_hits(project.root)}
    assert len(hits) == 6
    new_ids = success_ids(project.path("survey.success"))
    assert set(old_ids) < set(new_ids)  # the old HIT stays until its work is decided
    (new,) = set(new_ids) - set(old_ids)
    assert "An edited question?" in hits[new]["Question"]
    assert hits[old_ids[2]]["Expiration"] <= hits[new]["CreationTime"]
    again = project.run("--replace-edited", "-B", "survey.success")
    assert again.exit_code == 0, again.output
    assert _count(project) == 6


def test_a_large_addition_to_a_live_batch_needs_yes(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(100))
    assert project.run("survey.success").exit_code == 0
    project.write({"survey.input": input_text(150)})
    stopped = project.run("survey.success")
    assert stopped.exit_code == 2
    assert "would add 50 HITs" in stopped.stderr
    assert _count(project) == 100
    allowed = project.run("--yes", "survey.success")
    assert allowed.exit_code == 0, allowed.output
    assert _count(project) == 150


def test_changed_question_creates_nothing_and_says_so(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    assert project.run("survey.success").exit_code == 0
    project.write({"survey.question": QUESTION.replace("<Text>", "<Text>Please: ")})
    result = project.run("survey.success")
    assert result.exit_code == 0
    assert "3 existing HITs were made from an earlier" in result.stderr
    assert "updateHITs" in result.stderr
    assert _count(project) == 3
    project.write(
        {
            "survey.question": QUESTION,
            "survey.properties": PROPERTIES.replace("reward:0.02", "reward:0.05"),
        }
    )
    result = project.run("survey.success")
    assert result.exit_code == 0
    assert "3 existing HITs were made from an earlier" in result.stderr
    assert _count(project) == 3


# --------------------------------------------------------------------------------------------
# CLT mode
# --------------------------------------------------------------------------------------------


def test_clt_output_and_success_naming(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({**batch_files(3, name="MyHITs")})
    result = project.run(
        "loadHITs",
        "-input",
        "MyHITs.input",
        "-question",
        "MyHITs.question",
        "-properties",
        "MyHITs.properties",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        "--[Initializing]----------",
        " Input: MyHITs.input",
        " Properties: MyHITs.properties",
        " Question File: MyHITs.question",
        " Preview mode disabled",
        "--[Loading HITs]----------",
    ]
    assert lines[6].startswith("  Start time: ")
    ids = success_ids(project.path("MyHITs.success"))
    for n, hit_id in enumerate(ids, start=1):
        assert f"Created HIT {n}: HITId={hit_id}" in lines
    assert any(line.startswith("You may see your HIT(s) with HITTypeId '") for line in lines)
    assert lines[-4].startswith("  End time: ")
    assert lines[-3] == "--[Done Loading HITs]----------"
    assert lines[-2].startswith("  Total load time: ")
    assert lines[-2].endswith(" seconds.")
    assert lines[-1] == "  Successfully loaded 3 HITs."
    assert not project.path("MyHITs.failure").exists()


def test_clt_input_without_dot_input_keeps_its_name(mturkmake_project: Project) -> None:
    project = mturkmake_project
    files = batch_files(2)
    project.write(
        {
            "mturkmake.toml": files["mturkmake.toml"],
            "data.tab": files["survey.input"],
            "q.xml": QUESTION,
            "p.txt": PROPERTIES,
        }
    )
    result = project.run(
        "loadHITs",
        "-input",
        "data.tab",
        "-question",
        "q.xml",
        "-properties",
        "p.txt",
        "-maxhits",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert len(success_ids(project.path("data.tab.success"))) == 1
    assert _count(project) == 1


def test_clt_load_then_make_posts_nothing_twice(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(4, name="x"))
    result = project.run(
        "loadHITs", "-input", "x.input", "-question", "x.question", "-properties", "x.properties"
    )
    assert result.exit_code == 0, result.output
    for args in (("x.results",), ("x.success",), ("-B", "x.results"), ("x.results", "--wait")):
        made = project.run(*args)
        assert made.exit_code == 0, made.output
        assert _count(project) == 4
    assert project.path("x.results").exists()


def test_a_new_label_is_refused_unless_new_batch(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(4, name="x"))
    flags = ("-input", "x.input", "-question", "x.question", "-properties", "x.properties")
    assert project.run("loadHITs", *flags).exit_code == 0
    refused = project.run("loadHITs", *flags, "-label", "again")
    assert refused.exit_code == 2
    assert "--new-batch" in refused.stderr
    assert _count(project) == 4
    again = project.run("loadHITs", *flags, "-label", "again", "--new-batch")
    assert again.exit_code == 0, again.output
    assert "Cost: 4 HITs" in again.stdout
    assert _count(project) == 8
    assert project.run("loadHITs", *flags, "-label", "again").exit_code == 0
    assert _count(project) == 8


# --------------------------------------------------------------------------------------------
# Failures, money and truth
# --------------------------------------------------------------------------------------------


def test_a_failed_row_goes_to_failure_and_exits_2(mturkmake_project: Project) -> None:
    project = mturkmake_project
    properties = PROPERTIES + "qualification.1:${qual}\nqualification.comparator.1:exists\n"
    good = "00000000000000000071"  # Worker_Locale exists on the local marketplace
    project.write(
        {
            **batch_files(0),
            "survey.properties": properties,
            "survey.input": f"question\tqual\na\t{good}\nb\tNOSUCHQUALIFICATION1\nc\t{good}\n",
        }
    )
    result = project.run("survey.success")
    assert result.exit_code == 2
    assert "survey.input:3" in result.stderr
    assert _count(project) == 2
    assert len(success_ids(project.path("survey.success"))) == 2
    failure = project.read("survey.failure").splitlines()
    assert failure == ["question\tqual", "b\tNOSUCHQUALIFICATION1"]
    # The target is incomplete: the next run retries only the failed row.
    project.write({"survey.input": f"question\tqual\na\t{good}\nb\t{good}\nc\t{good}\n"})
    fixed = project.run("survey.success")
    assert fixed.exit_code == 0, fixed.output
    assert _count(project) == 3
    assert not project.path("survey.failure").exists()


def test_budget_stops_before_the_first_call(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({**batch_files(12), "mturkmake.toml": project_toml("budget = 0.10\n")})
    result = project.run("survey.success")
    assert result.exit_code == 2
    assert "budget" in result.stderr.lower()
    assert _count(project) == 0
    assert not project.path("survey.success").exists()


def test_gold_columns_register_true_answers(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(
        {
            **batch_files(0),
            "mturkmake.toml": project_toml('gold_columns = {answer = "gold"}\n'),
            "survey.input": "question\tgold\nTwo plus two?\tfour\n",
        }
    )
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    (hit_id,) = success_ids(project.path("survey.success"))
    from mturkmake.marketplace.service import Marketplace

    marketplace = Marketplace(project.root / ".mturkmake" / "local-marketplace.db")
    row = (
        marketplace.store.connection()
        .execute("SELECT truth FROM truths WHERE hit_id = ?", (hit_id,))
        .fetchone()
    )
    marketplace.close()
    assert row is not None
    assert "four" in row[0]


def test_dry_run_creates_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    result = project.run("-n", "survey.success")
    assert result.exit_code == 0, result.output
    assert "3 input rows" in result.stdout
    assert _count(project) == 0
    assert not project.path("survey.success").exists()


# --------------------------------------------------------------------------------------------
# Preflight errors through the CLI: one line, exit 2, nothing created
# --------------------------------------------------------------------------------------------

TOO_LONG = "x" * 2_001

PREFLIGHT_CASES = {
    "input width": ({"survey.input": "question\tnote\nonly one value\n"}, "survey.input:2:"),
    "input empty": ({"survey.input": ""}, "survey.input:1:"),
    "properties syntax": ({"survey.properties": PROPERTIES + "titel:x\n"}, "survey.properties:9:"),
    "title": (
        {"survey.properties": PROPERTIES.replace("Answer a question", "t" * 129)},
        "survey.properties:1:",
    ),
    "description": (
        {"survey.properties": PROPERTIES.replace("Please provide a short answer.", TOO_LONG)},
        "survey.properties:2:",
    ),
    "keywords": (
        {"survey.properties": PROPERTIES + "keywords:" + "k" * 1001 + "\n"},
        "survey.properties:9:",
    ),
    "annotation": (
        {"survey.properties": PROPERTIES.replace("${question}", "a" * 256)},
        "survey.properties:5:",
    ),
    "assignments": (
        {"survey.properties": PROPERTIES.replace("assignments:1", "assignments:0")},
        "survey.properties:4:",
    ),
    "assignmentduration": (
        {"survey.properties": PROPERTIES.replace(":3600", ":29")},
        "survey.properties:6:",
    ),
    "hitlifetime": (
        {"survey.properties": PROPERTIES.replace(":259200", ":31536001")},
        "survey.properties:7:",
    ),
    "autoapprovaldelay": (
        {"survey.properties": PROPERTIES.replace(":1296000", ":2592001")},
        "survey.properties:8:",
    ),
    "reward": (
        {"survey.properties": PROPERTIES.replace("reward:0.02", "reward:-1")},
        "survey.properties:3:",
    ),
    "qualification count": (
        {
            "survey.properties": PROPERTIES
            + "".join(
                f"qualification.{n}:00000000000000000071\nqualification.comparator.{n}:exists\n"
                for n in range(1, 12)
            )
        },
        "survey.properties:",
    ),
    "comparator": (
        {
            "survey.properties": PROPERTIES + "qualification.1:00000000000000000071\n"
            "qualification.comparator.1:sortof\n"
        },
        "survey.properties:10:",
    ),
    "template reference": (
        {"survey.question": QUESTION.replace("${question}", "${questoin}")},
        "survey.question:3:",
    ),
    "question xml": (
        {"survey.question": QUESTION.replace("</Text>", "</Txt>")},
        "survey.question merged with survey.input:2:",
    ),
    "question type": ({"survey.question": "<Survey/>\n"}, "survey.question merged with"),
    "question size": (
        {
            "survey.input": "question\tnote\n" + "q" * 70_000 + "\tn\n",
            "survey.properties": PROPERTIES.replace("annotation:${question}\n", ""),
        },
        "survey.question merged with survey.input:2:",
    ),
}


@pytest.mark.parametrize("case", sorted(PREFLIGHT_CASES))
def test_preflight_errors_exit_2_with_one_line(mturkmake_project: Project, case: str) -> None:
    files, where = PREFLIGHT_CASES[case]
    project = mturkmake_project
    project.write({**batch_files(3), **files})
    result = project.run("survey.success")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert where in errors[0]
    assert "Cost:" not in result.stdout
    assert _count(project) == 0
    assert not project.path("survey.success").exists()


def test_http_external_url_is_refused_on_sandbox(mturkmake_project: Project) -> None:
    project = mturkmake_project
    question = (
        f'<ExternalQuestion xmlns="{NS}/2006-07-14/ExternalQuestion.xsd">\n'
        "<ExternalURL>http://example.com/?q=$helper.urlencode($question)</ExternalURL>\n"
        "<FrameHeight>400</FrameHeight></ExternalQuestion>\n"
    )
    project.write({**batch_files(2), "survey.question": question})
    result = project.run("--endpoint", "sandbox", "survey.success")
    assert result.exit_code == 2
    assert "survey.question:2:" in result.stderr
    assert "https" in result.stderr
    assert not project.path("survey.success").exists()
    warned = project.run("survey.success")
    assert warned.exit_code == 0, warned.output
    assert "warning" in warned.stderr
    assert _count(project) == 2


def test_a_preflight_error_keeps_the_old_success(mturkmake_project: Project) -> None:
    # The batch still exists, so its projection stays; the failed run writes nothing.
    project = mturkmake_project
    project.write(batch_files(2))
    assert project.run("survey.success").exit_code == 0
    before = project.read("survey.success")
    project.write({"survey.properties": PROPERTIES.replace("reward:0.02", "reward:lots")})
    assert project.run("survey.success").exit_code == 2
    assert project.read("survey.success") == before
    assert os.path.exists(project.path("survey.success"))


def test_production_spending_refuses_without_a_terminal(mturkmake_project: Project) -> None:
    # No terminal, no --yes: refused after the cost line, before any call (and no
    # credentials exist, so a call could not even be signed).
    project = mturkmake_project
    project.write(
        {
            **batch_files(2),
            "mturkmake.toml": 'endpoint = "production"\n' + project_toml().split("\n", 1)[1],
        }
    )
    result = project.run("survey.success")
    assert result.exit_code == 2
    assert "Cost: 2 HITs" in result.stdout
    assert "--yes" in result.stderr
    assert not project.path("survey.success").exists()


def test_configured_key_columns(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(
        {
            **batch_files(0),
            "mturkmake.toml": project_toml('key_columns = ["id"]\n'),
            "survey.input": "id\tquestion\n1\tFirst?\n2\tSecond?\n",
        }
    )
    assert project.run("survey.success").exit_code == 0
    # The question text is not a key column: rewording it creates nothing and says so.
    project.write({"survey.input": "id\tquestion\n1\tFirst, reworded?\n2\tSecond?\n"})
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    assert "1 existing HITs were made from an earlier" in result.stderr
    assert _count(project) == 2


def test_unknown_key_column_is_a_config_error(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({**batch_files(2), "mturkmake.toml": project_toml('key_columns = ["nope"]\n')})
    result = project.run("survey.success")
    assert result.exit_code == 2
    assert "key_columns" in result.stderr
    assert "nope" in result.stderr
    assert _count(project) == 0


def test_one_hit_type_per_distinct_type_properties(mturkmake_project: Project) -> None:
    project = mturkmake_project
    properties = PROPERTIES.replace("title:Answer a question", "title:Answer about ${topic}")
    project.write(
        {
            **batch_files(0),
            "survey.properties": properties,
            "survey.input": "question\ttopic\na\tcats\nb\tdogs\nc\tcats\n",
        }
    )
    result = project.run(
        "loadHITs",
        "-input",
        "survey.input",
        "-question",
        "survey.question",
        "-properties",
        "survey.properties",
    )
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in project.read("survey.success").splitlines()[1:]]
    types = [hit_type for _, hit_type in rows]
    assert types[0] == types[2] != types[1]
    hits = {h["HITId"]: h for h in marketplace_hits(project.root)}
    assert hits[rows[1][0]]["Title"] == "Answer about dogs"
    assert result.stdout.count("You may see your HIT(s) with HITTypeId") == 2


def test_clt_preflight_error_is_one_line_and_writes_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(
        {**batch_files(3), "survey.question": QUESTION.replace("${question}", "${questoin}")}
    )
    result = project.run(
        "loadHITs",
        "-input",
        "survey.input",
        "-question",
        "survey.question",
        "-properties",
        "survey.properties",
    )
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1
    assert errors[0].startswith("mturkmake: survey.question:3:")
    assert not project.path("survey.success").exists()
    assert _count(project) == 0
