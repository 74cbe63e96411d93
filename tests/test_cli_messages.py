"""The messages of issue #18 through the CLI, each with its exact text: typo suggestions,
``--help`` for every command and ``--help-config``, double-dash global options after a CLT
command, a ``--wait`` that times out, rounded percentages, a ``.success`` the endpoint does
not know, and the ``marketplace serve`` banner's aws command run as printed."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mturkmake.testing import Project, make_host
from tests.plugins.test_approved_rule import (
    batch_files,
    fetched,
    results_with_marks,
)


def _success_ids(project: Project, name: str = "survey.success") -> list[str]:
    return [row["hitid"] for row in project.table(name)]


# --------------------------------------------------------------------------------------------
# Typos
# --------------------------------------------------------------------------------------------


def test_a_mistyped_target_gets_a_make_style_suggestion(mturkmake_local_project: Project) -> None:
    project = mturkmake_local_project
    project.write(batch_files(1, name="senti"))
    result = project.run("senti.aproved")
    assert result.exit_code == 2
    assert result.stderr == (
        "mturkmake: No rule to make target 'senti.aproved' — did you mean 'senti.approved'?\n"
    )
    assert not project.path(".mturkmake/local-marketplace.db").exists()  # nothing was called


def test_a_target_nothing_resembles_gets_make_s_line(mturkmake_local_project: Project) -> None:
    result = mturkmake_local_project.run("zzzz.qqq")
    assert result.exit_code == 2
    assert result.stderr == "mturkmake: No rule to make target 'zzzz.qqq'.\n"


@pytest.mark.parametrize(
    ("typed", "meant"), [("approvework", "approveWork"), ("getresult", "getResults")]
)
def test_a_mistyped_command_gets_a_suggestion(
    mturkmake_local_project: Project, typed: str, meant: str
) -> None:
    result = mturkmake_local_project.run(typed, "-successfile", "x.success")
    assert result.exit_code == 2
    assert result.stderr == f"mturkmake: unknown command '{typed}' — did you mean '{meant}'?\n"


# --------------------------------------------------------------------------------------------
# Help
# --------------------------------------------------------------------------------------------


def test_help_marks_the_commands_not_implemented_yet(mturkmake_local_project: Project) -> None:
    result = mturkmake_local_project.run("--help")
    assert result.exit_code == 0
    listed = result.stdout.split("\ncommands:\n", 1)[1].splitlines()
    commands = make_host().commands()
    assert len(listed) == len(commands)
    for spec in commands:
        line = next(line for line in listed if line.split("  ")[1] == spec.name)
        expected = f"  {spec.name:<34} {spec.help}"
        if not spec.implemented:
            expected += " (not implemented yet)"
        assert line == expected


def test_every_command_answers_help(mturkmake_local_project: Project) -> None:
    for spec in make_host().commands():
        for flag in ("--help", "-help"):
            result = mturkmake_local_project.run(*spec.name.split(), flag)
            assert result.exit_code == 0, (spec.name, result.output)
            assert result.stdout.startswith(f"usage: mturkmake {spec.name}"), spec.name
            assert result.stderr == ""


def test_help_config_lists_every_key_with_its_default(mturkmake_local_project: Project) -> None:
    from mturkmake.core.config import CORE_KEYS

    result = mturkmake_local_project.run("--help-config")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "configuration keys (mturkmake.toml, [tool.mturkmake] in pyproject.toml):"
    assert "  lock_timeout (int or float, default 30.0, env MTURKMAKE_LOCK_TIMEOUT)" in lines
    assert "      seconds to wait for the project lock" in lines
    assert "  key_columns (list, default unset)" in lines  # a plugin's key, not from the env
    names = [line.split()[0] for line in lines[1:] if line.startswith("  ") and line[2] != " "]
    from mturkmake.core.plugins import PluginHost, make_plugin_manager

    host = PluginHost(make_plugin_manager())  # with installed plugins, as the CLI loads them
    declared = {key.name for key in (*CORE_KEYS, *host.config_keys())}
    assert set(names) == declared
    assert names == sorted(names)


# --------------------------------------------------------------------------------------------
# Global options after a CLT command
# --------------------------------------------------------------------------------------------


def test_double_dash_global_options_after_a_clt_command(mturkmake_project: Project) -> None:
    project = mturkmake_project  # no endpoint in the project file: sandbox by default
    files = batch_files(2)
    del files["mturkmake.toml"]
    project.write(files)
    loaded = project.run(
        "loadHITs",
        "-input",
        "survey.input",
        "-question",
        "survey.question",
        "-properties",
        "survey.properties",
        "--endpoint",
        "local",
        "--yes",
    )
    assert loaded.exit_code == 0, loaded.output
    assert "Successfully loaded 2 HITs." in loaded.stdout
    got = project.run(
        "getResults",
        "-successfile",
        "survey.success",
        "-outputfile",
        "survey.tab",
        "--endpoint=local",
    )
    assert got.exit_code == 0, got.output
    assert "Results have been written to file 'survey.tab'." in got.stdout
    assert {row["hitid"] for row in project.table("survey.tab")} == set(_success_ids(project))


def test_an_unknown_double_dash_option_after_a_command_is_still_refused(
    mturkmake_local_project: Project,
) -> None:
    result = mturkmake_local_project.run(
        "getResults", "-successfile", "a", "-outputfile", "b", "--endpiont", "local"
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "mturkmake: unrecognized arguments: --endpiont local — see 'mturkmake getResults --help'\n"
    )


# --------------------------------------------------------------------------------------------
# Waiting, percentages, a .success from elsewhere
# --------------------------------------------------------------------------------------------


def test_a_wait_that_times_out_exits_2_naming_what_is_pending(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(2, extra="[local]\nspeed = 0.01\n"))
    result = project.run("survey.results", "--wait=1s")
    assert result.exit_code == 2, result.output
    first, second = _success_ids(project)
    assert result.stderr == (
        "mturkmake: 'survey.results': --wait timed out after 1 s: 2 of 2 HITs not final "
        f"({first}, {second}), 0/2 assignments submitted; run it again to poll on "
        "(target kept, marked incomplete)\n"
    )
    assert project.run("-q", "survey.results").exit_code == 1


def test_the_reject_share_is_rounded(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    fetched(project)
    first = project.table("survey.results")[0]["assignmentid"]
    project.write(
        {"survey.review": results_with_marks(project.read("survey.results"), {first: "no"})}
    )
    result = project.run("survey.approved")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "mturkmake: 'survey.approved': 1 of 3 assignments (33.3%) would be rejected, more than "
        "max_reject_share (20%); no terminal to confirm — "
    )


def test_a_copied_success_file_says_what_happened(
    mturkmake_project: Project, tmp_path: Path
) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    assert project.run("survey.success").exit_code == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("mturkmake.toml", "survey.input", "survey.question", "survey.properties"):
        (copy / name).write_bytes(project.path(name).read_bytes())
    (copy / "survey.success").write_bytes(project.path("survey.success").read_bytes())
    result = project.run("survey.results", cwd=copy)
    assert result.exit_code == 2
    assert result.stderr == (
        "mturkmake: 'survey.results': survey.success: the local endpoint does not know the "
        "HITs this file lists (2 HITs): it was made elsewhere (a copied folder, another "
        "endpoint, a reset marketplace) — set 'endpoint' to where they were created, or remove "
        "survey.success to post the batch again\n"
    )
    assert not (copy / "survey.results").exists()
    clt = project.run(
        "getResults", "-successfile", "survey.success", "-outputfile", "o.tab", cwd=copy
    )
    assert clt.exit_code == 2
    assert clt.stderr.splitlines()[-1] == (
        "mturkmake: survey.success: the local endpoint does not know the HITs this file lists "
        "(2 HITs): it was made elsewhere (a copied folder, another endpoint, a reset "
        "marketplace) — set 'endpoint' to where they were created, or remove survey.success "
        "to post the batch again"
    )


# --------------------------------------------------------------------------------------------
# The serve banner
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("awscli") is None, reason="awscli is not installed")
def test_the_serve_banner_prints_an_aws_command_that_works_as_printed(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    env.update(  # no credentials at all, as on a fresh machine
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mturkmake", "marketplace", "serve", "--port", "0"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]
        match = re.fullmatch(
            r"Serving the local MTurk marketplace at (http://127\.0\.0\.1:\d+) "
            r"\(clock 2026-01-01T00:00:00Z\); Ctrl-C stops\.\n",
            banner[0],
        )
        assert match, banner
        url = match.group(1)
        assert banner[1] == (
            f"  aws mturk get-account-balance --no-sign-request --region us-east-1 "
            f"--endpoint-url {url}\n"
        )
        assert banner[2] == (
            f"  boto3.client('mturk', endpoint_url='{url}', region_name='us-east-1', "
            "aws_access_key_id='local', aws_secret_access_key='local')\n"
        )
        words = shlex.split(banner[1])
        assert words[0] == "aws"
        ran = subprocess.run(
            [sys.executable, "-m", "awscli", *words[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert '"AvailableBalance": "10000.00"' in ran.stdout
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


# --------------------------------------------------------------------------------------------
# -n: a full rehearsal
# --------------------------------------------------------------------------------------------


def _request_log(project: Project) -> list[tuple[str, str]]:
    from tests.plugins.test_approved_rule import marketplace

    with marketplace(project) as market:
        return market.request_log()


def test_dry_run_over_budget_exits_2_naming_the_budget_and_calls_nothing(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(4, extra="budget = 0.1\n"))
    result = project.run("-n", "survey.approved")
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0] == (
        "Cost: 4 HITs × 1 assignment × $0.05 = $0.20 + $0.04 fees = $0.24 "
        "(local marketplace: no real money)"
    )
    assert result.stderr == (
        "mturkmake: 'survey.success': this would commit $0.24 on local, where $0.00 is already "
        "committed and the budget is $0.10; nothing was sent — raise 'budget' in "
        "mturkmake.toml or do less in this step\n"
    )
    assert not project.path(".mturkmake").exists()  # no ledger, no marketplace, no lock
    assert not project.path("survey.success").exists()


def test_dry_run_rehearses_costs_and_every_verdict_without_a_call(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(3, extra="max_reject_share = 0.5\n"))
    fetched(project)
    first = project.table("survey.results")[0]["assignmentid"]
    project.write(
        {"survey.review": results_with_marks(project.read("survey.results"), {first: "off topic"})}
    )
    project.write({"survey.input": project.read("survey.input") + "One more?\nAnd another?\n"})
    before = _request_log(project)
    state = project.path(".mturkmake/state.db").read_bytes()
    result = project.run("-n", "survey.approved")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "Cost: 2 HITs × 1 assignment × $0.05 = $0.10 + $0.02 fees = $0.12 "
        "(local marketplace: no real money)",
        "would reconcile 'survey.success' with 5 input rows: 2 HITs to create, 3 exist already "
        "(loadHITs)",
    ]
    assert (
        "would poll 0 of the 3 HITs in survey.success (3 final already) and write "
        "survey.results (getResults)"
    ) in lines  # the cache holds them final
    rows = {r["assignmentid"]: r for r in project.table("survey.results")}
    verdicts = [line for line in lines if line.startswith("would ")][1:]
    assert len([v for v in verdicts if v.startswith(("would approve", "would reject"))]) == 3
    row = rows[first]
    assert (
        f"would reject {first} (worker {row['workerid']}, HIT {row['hitid']}) "
        "[reject-column]: off topic"
    ) in lines
    assert "Cost: 2 approvals = $0.10 + $0.02 fees = $0.12 (local marketplace: no real money)" in (
        lines
    )
    assert _request_log(project) == before
    assert project.path(".mturkmake/state.db").read_bytes() == state
    assert not project.path("survey.approved").exists()


def test_the_readme_lists_every_command_and_links_the_files_page() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for spec in make_host().commands():
        word = spec.name.removeprefix("marketplace ")
        assert f"`{word}" in readme, spec.name
    assert "[docs/files.md](docs/files.md)" in readme
    assert "## Using mturkmake from make, Snakemake and CI" in readme


def test_a_clt_review_leaves_the_results_out_of_date_for_make_too(
    mturkmake_project: Project,
) -> None:
    from mturkmake.core.run import INCOMPLETE_AGE_NS

    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)  # survey.results, final
    assert project.mtime("survey.results") >= project.mtime("survey.success")
    first = project.table("survey.results")[0]["assignmentid"]
    assert project.run("approveWork", "-assignment", first, "-force").exit_code == 0
    # Its statuses changed remotely: stale for -q, and older than .success for make.
    assert project.run("-q", "survey.results").exit_code == 1
    assert project.mtime("survey.results") == project.mtime("survey.success") - INCOMPLETE_AGE_NS
    assert project.run("survey.results").exit_code == 0
    assert project.mtime("survey.results") >= project.mtime("survey.success")
    assert project.run("-q", "survey.results").exit_code == 0
