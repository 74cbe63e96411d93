"""A project's identity on MTurk (issue #12): ``project_id`` in every token, a marker in every
HIT's RequesterAnnotation, and two project folders on one account that never share a HIT.

Real CLI runs in ``tmp_path``: on each project's own local marketplace (a copied folder
copies it, as a second folder on one account sees the same HITs), and — the key test — two
project folders sharing one ``mturkmake marketplace serve`` on 127.0.0.1 in another process.
Every "creates nothing" and "decided" is asserted on the marketplace, not on the ledger.
"""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.config import read_project_table
from mturkmake.errors import ConfigError
from mturkmake.mturk.ledger import intent_uid
from mturkmake.mturk.project import (
    MARKER_ROOM,
    mark_annotation,
    marker_of,
    ownership,
    project_id,
    strip_marker,
    write_project_id,
)
from mturkmake.mturk.settings import mturk_config
from mturkmake.testing import Project
from tests.plugins.test_load_hits import (
    PROPERTIES,
    QUESTION,
    batch_files,
    delete_ledger,
    input_text,
    marketplace_hits,
    success_ids,
)

ID_LINE = re.compile(r'^project_id = "([0-9a-f]{32})"$', re.MULTILINE)


def _id_in(path: Path) -> str:
    found = ID_LINE.findall(path.read_text(encoding="utf-8"))
    assert len(found) == 1, path.read_text(encoding="utf-8")
    return str(found[0])


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _create_intents(root: Path) -> int:
    db = root / ".mturkmake" / "state.db"
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM ledger_intent WHERE operation = 'CreateHITWithHITType'"
        ).fetchone()
    except sqlite3.OperationalError:  # no ledger tables yet
        return 0
    finally:
        conn.close()
    return int(count)


def _results_column(text: str, column: str) -> list[str]:
    lines = text.splitlines()
    header = [cell.strip('"') for cell in lines[0].split("\t")]
    at = header.index(column)
    return [line.split("\t")[at].strip('"') for line in lines[1:] if line]


# --------------------------------------------------------------------------------------------
# The marker and the token
# --------------------------------------------------------------------------------------------


def test_marker_round_trip_and_ownership() -> None:
    ours, theirs = "a" * 32, "b" * 32
    assert mark_annotation(None, ours) == "mturkmake:" + "a" * 12
    marked = mark_annotation("row 7", ours)
    assert marked == "row 7 mturkmake:aaaaaaaaaaaa"
    assert strip_marker(marked) == "row 7"
    assert strip_marker(mark_annotation(None, ours)) is None  # the CLT's null
    assert strip_marker("no marker here") == "no marker here"
    assert strip_marker(None) is None
    assert marker_of(marked) == "a" * 12
    assert ownership(marked, ours) == "ours"
    assert ownership(marked, theirs) == "foreign"
    assert ownership("row 7", ours) == ownership(None, ours) == "unmarked"
    assert len(mark_annotation("x" * (255 - MARKER_ROOM), ours)) == 255


def test_tokens_differ_by_project_and_repeat_within_one() -> None:
    one = intent_uid("local", "survey.input", "CreateHITWithHITType", "k#0", 0, project="a" * 32)
    assert one == intent_uid(
        "local", "survey.input", "CreateHITWithHITType", "k#0", 0, project="a" * 32
    )
    assert one != intent_uid(
        "local", "survey.input", "CreateHITWithHITType", "k#0", 0, project="b" * 32
    )


# --------------------------------------------------------------------------------------------
# Where the id is written
# --------------------------------------------------------------------------------------------


def test_the_id_is_written_once_before_the_first_intent(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    assert project.run("-n", "survey.success").exit_code == 0
    assert "project_id" not in project.read("mturkmake.toml")  # nothing intended yet
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    written = _id_in(project.path("mturkmake.toml"))
    assert read_project_table(project.root).values["endpoint"] == "local"  # nothing else moved
    hits = marketplace_hits(project.root)
    assert len(hits) == 3
    assert {marker_of(h["RequesterAnnotation"]) for h in hits} == {written[:12]}
    before = project.path("mturkmake.toml").read_bytes()
    assert project.run("-B", "survey.success").exit_code == 0
    assert project.path("mturkmake.toml").read_bytes() == before
    assert len(marketplace_hits(project.root)) == 3


def test_a_project_without_a_config_file_gets_one(tmp_path: Path) -> None:
    config = mturk_config(tmp_path, "local", values={}, sources={})
    first = project_id(config)
    assert _id_in(tmp_path / "mturkmake.toml") == first
    assert project_id(config) == first  # read back, not written again


def test_threads_of_one_run_agree_on_one_id(tmp_path: Path) -> None:
    config = mturk_config(tmp_path, "local", values={}, sources={})
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(project_id(config))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert _id_in(tmp_path / "mturkmake.toml") == seen[0]


def test_a_pyproject_table_gets_the_id_and_no_mturkmake_toml(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    files = batch_files(2)
    table = files.pop("mturkmake.toml")
    project.write(
        {
            **files,
            "pyproject.toml": '[project]\nname = "survey"\n\n# ours\n[tool.mturkmake]\n'
            + table
            + "\n[tool.other]\nx = 1\n",
        }
    )
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    assert not project.path("mturkmake.toml").exists()  # discovery still finds pyproject's
    text = project.read("pyproject.toml")
    written = _id_in(project.path("pyproject.toml"))
    assert text.index("[tool.mturkmake]") < text.index("project_id") < text.index("[tool.other]")
    assert "# ours" in text
    assert 'name = "survey"' in text
    assert read_project_table(project.root).values["project_id"] == written
    assert {marker_of(h["RequesterAnnotation"]) for h in marketplace_hits(project.root)} == {
        written[:12]
    }


def test_a_pyproject_with_only_sub_tables_gets_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mturkmake.local]\nseed = 3\n", encoding="utf-8")
    write_project_id(tmp_path, "c" * 32)
    values = read_project_table(tmp_path).values
    assert values == {"local": {"seed": 3}, "project_id": "c" * 32}


def test_an_inline_table_is_refused_with_what_to_write(mturkmake_project: Project) -> None:
    project = mturkmake_project
    files = batch_files(2)
    files.pop("mturkmake.toml")
    project.write({**files, "pyproject.toml": 'tool.mturkmake = { endpoint = "local" }\n'})
    before = project.read("pyproject.toml")
    result = project.run("survey.success")
    assert result.exit_code == 2
    (line,) = _errors(result.stderr)
    assert "pyproject.toml" in line
    assert 'project_id = "' in line
    assert project.read("pyproject.toml") == before
    assert marketplace_hits(project.root) == []


def test_a_malformed_id_is_a_config_error(tmp_path: Path) -> None:
    config = mturk_config(tmp_path, "local", values={"project_id": "short"}, sources={})
    with pytest.raises(ConfigError, match="project_id"):
        project_id(config)


# --------------------------------------------------------------------------------------------
# The annotation: room for the marker, hidden in .results
# --------------------------------------------------------------------------------------------


def test_an_annotation_without_room_for_the_marker_is_refused(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    room = 255 - MARKER_ROOM
    too_long = PROPERTIES.replace("annotation:${question}", "annotation:" + "x" * (room + 1))
    project.write({**batch_files(2), "survey.properties": too_long})
    assert project.run("-n", "survey.success").exit_code == 2  # the preview says so too
    result = project.run("survey.success")
    assert result.exit_code == 2
    (line,) = _errors(result.stderr)
    assert "survey.properties:5:" in line
    assert str(room) in line
    assert marketplace_hits(project.root) == []
    fits = PROPERTIES.replace("annotation:${question}", "annotation:" + "x" * room)
    project.write({"survey.properties": fits})
    assert project.run("survey.success").exit_code == 0
    assert {len(h["RequesterAnnotation"]) for h in marketplace_hits(project.root)} == {255}


def test_results_show_the_users_annotation_not_the_marker(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    result = project.run("survey.results", "--wait")
    assert result.exit_code == 0, result.output
    text = project.read("survey.results")
    assert "mturkmake:" not in text
    assert sorted(_results_column(text, "annotation")) == [
        f"Question number {n}?" for n in range(3)
    ]
    assert all(" mturkmake:" in h["RequesterAnnotation"] for h in marketplace_hits(project.root))


# --------------------------------------------------------------------------------------------
# Adoption: a clone adopts its own, a fork adopts nothing foreign, the CLT's are adopted
# --------------------------------------------------------------------------------------------


def _copy(project: Project, name: str, *, ledger: bool = False) -> Project:
    """A copy of the project folder, without its ledger (a fresh clone) unless ``ledger``;
    its local marketplace is copied too, so it sees the same HITs, as one account does."""
    target = project.root.parent / name
    shutil.copytree(project.root, target)
    if not ledger:
        delete_ledger(target)
    return Project(target, project._capsys, project._monkeypatch)


def _drop_id(project: Project) -> None:
    toml = project.path("mturkmake.toml")
    lines = toml.read_text(encoding="utf-8").splitlines(True)
    toml.write_text("".join(line for line in lines if "project_id" not in line), encoding="utf-8")


def test_a_clone_with_the_id_adopts_its_own_success(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(4))
    assert project.run("survey.success").exit_code == 0
    clone = _copy(project, "clone")
    result = clone.run("-B", "survey.success")
    assert result.exit_code == 0, result.output
    assert "Adopted 4 HITs" in result.output
    assert len(marketplace_hits(clone.root)) == 4  # nothing created
    assert success_ids(clone.path("survey.success")) == success_ids(project.path("survey.success"))


def test_a_fork_adopts_nothing_foreign_and_creates_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(4))
    assert project.run("survey.success").exit_code == 0
    original = _id_in(project.path("mturkmake.toml"))
    fork = _copy(project, "fork")
    toml = fork.path("mturkmake.toml")
    _drop_id(fork)
    before = fork.read("survey.success")
    result = fork.run("-B", "survey.success")
    assert result.exit_code == 2
    (line,) = _errors(result.stderr)
    assert "survey.success:2:" in line
    assert "another mturkmake project" in line
    assert f"mturkmake:{original[:12]}" in line
    assert len(marketplace_hits(fork.root)) == 4
    assert _create_intents(fork.root) == 0  # nothing adopted either
    assert fork.read("survey.success") == before
    assert _id_in(toml) != original  # the fork is a project of its own now


def test_a_ledger_restores_a_lost_id_and_refuses_another(mturkmake_project: Project) -> None:
    # The ledger's records say which HITs are the project's: the id stays with them.
    project = mturkmake_project
    project.write(batch_files(2))
    assert project.run("survey.success").exit_code == 0
    original = _id_in(project.path("mturkmake.toml"))
    _drop_id(project)  # e.g. a checkout of the file undid mturkmake's line
    project.write({"survey.input": input_text(3)})  # one more row to create
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    assert _id_in(project.path("mturkmake.toml")) == original
    assert len(marketplace_hits(project.root)) == 3
    other = project.read("mturkmake.toml").replace(original, "d" * 32)
    project.write({"mturkmake.toml": other, "survey.input": input_text(4)})
    refused = project.run("survey.success")
    assert refused.exit_code == 2
    (line,) = _errors(refused.stderr)
    assert f'project_id = "{original}"' in line
    assert "delete .mturkmake/" in line
    assert len(marketplace_hits(project.root)) == 3


def test_a_hit_made_by_the_clt_listed_in_success_is_adopted(mturkmake_project: Project) -> None:
    from mturkmake.marketplace.service import Marketplace

    project = mturkmake_project
    project.write(batch_files(3))
    assert project.run("-n", "survey.success").exit_code == 0  # the marketplace exists
    market = Marketplace(project.root / ".mturkmake" / "local-marketplace.db")
    try:
        made = market.call(
            "CreateHIT",
            {
                "Title": "Answer a question",
                "Description": "Please provide a short answer.",
                "Reward": "0.02",
                "MaxAssignments": 1,
                "LifetimeInSeconds": 259200,
                "AssignmentDurationInSeconds": 3600,
                "Question": QUESTION.replace("${question}", "Question number 0?"),
                "RequesterAnnotation": "made by the CLT",
            },
        )["HIT"]
    finally:
        market.close()
    project.write({"survey.success": f"hitid\thittypeid\n{made['HITId']}\t{made['HITTypeId']}\n"})
    result = project.run("-B", "survey.success")
    assert result.exit_code == 0, result.output
    assert "Adopted 1 HITs" in result.output
    ids = success_ids(project.path("survey.success"))
    assert ids[0] == made["HITId"]
    assert len(ids) == 3
    assert len(marketplace_hits(project.root)) == 3


# --------------------------------------------------------------------------------------------
# Two project folders on one served marketplace
# --------------------------------------------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _cli(*words: str) -> list[str]:
    return [sys.executable, "-m", "mturkmake", *words]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``mturkmake marketplace serve --port 0`` in its own process and folder; yields its
    URL and the folder (where ``marketplace advance`` moves its clock)."""
    folder = tmp_path / "market"
    folder.mkdir()
    (folder / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    process = subprocess.Popen(
        _cli("marketplace", "serve", "--port", "0"),
        cwd=folder,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+) ", first)
        assert match, (first, process.poll())
        yield match.group(1), folder
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server fails the test
            process.kill()
            raise


def _served_market(folder: Path) -> Any:
    from mturkmake.marketplace.service import Marketplace

    return Marketplace(folder / ".mturkmake" / "local-marketplace.db")


def _assignments(folder: Path) -> dict[str, dict[str, Any]]:
    market = _served_market(folder)
    try:
        found: dict[str, dict[str, Any]] = {}
        for hit in market.call("ListHITs", {"MaxResults": 100})["HITs"]:
            page = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 100})
            found.update({a["AssignmentId"]: a for a in page["Assignments"]})
        return found
    finally:
        market.close()


def _approved(path: Path) -> dict[str, dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    return {row["assignmentid"]: row for row in rows}


def test_two_projects_on_one_served_marketplace_never_share_a_hit(
    served: tuple[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mturkmake_env: None,
) -> None:
    url, market_folder = served
    rows = 3
    projects: list[Project] = []
    for name in ("first", "second"):
        root = tmp_path / name
        root.mkdir()
        project = Project(root, capsys, monkeypatch)
        files = batch_files(rows)
        files["mturkmake.toml"] = f'endpoint = "{url}"\n'
        project.write(files)
        projects.append(project)
    first, second = projects
    for project in projects:
        loaded = project.run("survey.success")
        assert loaded.exit_code == 0, loaded.output
    market = _served_market(market_folder)
    try:
        hits = market.call("ListHITs", {"MaxResults": 100})["HITs"]
    finally:
        market.close()
    assert len(hits) == 2 * rows
    ids = {p.root.name: set(success_ids(p.path("survey.success"))) for p in projects}
    assert len(ids["first"]) == len(ids["second"]) == rows
    assert not ids["first"] & ids["second"]
    markers = {p.root.name: _id_in(p.path("mturkmake.toml"))[:12] for p in projects}
    assert markers["first"] != markers["second"]
    for hit in hits:
        owner = "first" if hit["HITId"] in ids["first"] else "second"
        assert marker_of(hit["RequesterAnnotation"]) == markers[owner]

    advanced = subprocess.run(
        _cli("marketplace", "advance", "1d"),
        cwd=market_folder,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert advanced.returncode == 0, advanced.stderr
    for project in projects:
        fetched = project.run("survey.results")
        assert fetched.exit_code == 0, fetched.output
        assert "mturkmake:" not in project.read("survey.results")
    # The first project rejects one of its assignments; the second reviews first.
    results = first.read("survey.results")
    victim = sorted(_results_column(results, "assignmentid"))[0]
    lines = results.splitlines()
    header = [cell.strip('"') for cell in lines[0].split("\t")]
    aid, reject = header.index("assignmentid"), header.index("reject")
    review = [lines[0]]
    for line in lines[1:]:
        cells = line.split("\t")
        if cells[aid].strip('"') == victim:
            cells[reject] = '"x"'
        review.append("\t".join(cells))
    first.write({"survey.review": "\n".join(review) + "\n"})
    # The CLT's approveWork in the second project refuses the first project's work.
    refused = second.run("approveWork", "-assignment", victim, "-force")
    assert refused.exit_code == 2
    assert "another mturkmake project" in refused.output
    assert _assignments(market_folder)[victim]["AssignmentStatus"] == "Submitted"
    for project in (second, first):
        decided = project.run("--yes", "survey.approved")
        assert decided.exit_code == 0, decided.output
    remote = _assignments(market_folder)
    assert len(remote) == 2 * rows
    for project in projects:
        mine = ids[project.root.name]
        approved = _approved(project.path("survey.approved"))
        assert len(approved) == rows
        assert {row["hitid"] for row in approved.values()} == mine
    assert remote[victim]["AssignmentStatus"] == "Rejected"
    assert _approved(first.path("survey.approved"))[victim]["decision"] == "rejected"
    others = [a for a in remote.values() if a["AssignmentId"] != victim]
    assert {a["AssignmentStatus"] for a in others} == {"Approved"}
