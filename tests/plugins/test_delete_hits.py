"""deleteHITs on the local marketplace, through the CLI in CLT syntax (and under a pty)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    assignments,
    balance,
    batch_files,
    exposure,
    fetched,
    marketplace,
)


def hit_ids(project: Project) -> list[str]:
    return [line.split("\t")[0] for line in project.read("survey.success").splitlines()[1:]]


def remote_hits(project: Project) -> dict[str, str]:
    """HITId → HITStatus of every HIT the marketplace still lists."""
    with marketplace(project) as market:
        return {
            h["HITId"]: h["HITStatus"] for h in market.call("ListHITs", {"MaxResults": 100})["HITs"]
        }


def effects(project: Project) -> Counter[str]:
    with marketplace(project) as market:
        return Counter(
            e[0]
            for e in market.request_log()
            if e[0] in ("DeleteHIT", "UpdateExpirationForHIT", "ApproveAssignment")
        )


def test_approve_expire_deletes_everything_with_seed_003s_output(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    fetched(project)
    hits = hit_ids(project)
    result = project.run(
        "deleteHITs", "-successfile", "survey.success", "-approve", "-expire", "-force"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "--- Starting to delete HITs ---",
        *[f"[{h}] Successfully deleted HIT ({n}/3)" for n, h in enumerate(hits, start=1)],
        "--- Finished to delete HITs ---",
        "  3 HITs have been deleted or were deleted previously.",
        "  0 errors occurred.",
    ]
    assert remote_hits(project) == {}
    assert effects(project) == Counter({"DeleteHIT": 3, "ApproveAssignment": 3})
    # the work was paid from the reservation; nothing else is held any more
    assert balance(project) == Decimal("10000") - exposure(project)
    again = project.run("deleteHITs", "-successfile", "survey.success", "-force")
    assert again.exit_code == 0, again.output
    assert f"[{hits[0]}] HIT already deleted. Skipping HIT" in again.stdout
    assert "  3 HITs have been deleted or were deleted previously." in again.stdout
    assert effects(project)["DeleteHIT"] == 3


def test_open_hits_are_expired_then_deleted(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    assert project.run("survey.success").exit_code == 0
    before = balance(project)
    result = project.run("deleteHITs", "-successfile", "survey.success", "-expire", "-force")
    assert result.exit_code == 0, result.output
    assert remote_hits(project) == {}
    assert effects(project) == Counter({"UpdateExpirationForHIT": 2, "DeleteHIT": 2})
    # the unfilled slots' reservation came back
    assert balance(project) > before
    assert balance(project) == Decimal("10000.00")


def test_what_cannot_be_deleted_is_reported_with_the_reason(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    hits = hit_ids(project)
    result = project.run("deleteHITs", "-successfile", "survey.success", "-force")
    assert result.exit_code == 2
    for n, h in enumerate(hits, start=1):
        assert f"[{h}] Error deleting HIT ({n}/2):" in result.stderr
    assert "submitted work not yet approved or rejected; add -approve" in result.stderr
    assert "  0 HITs have been deleted or were deleted previously." in result.stdout
    assert "  2 errors occurred." in result.stdout
    assert set(remote_hits(project)) == set(hits)
    assert {a["AssignmentStatus"] for a in assignments(project).values()} == {"Submitted"}


def test_without_a_terminal_and_without_force_it_refuses(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    assert project.run("survey.success").exit_code == 0
    result = project.run("deleteHITs", "-successfile", "survey.success", "-approve", "-expire")
    assert result.exit_code == 2
    assert "no terminal" in result.stderr
    assert "-force" in result.stderr
    assert effects(project) == Counter()
    assert len(remote_hits(project)) == 1


def test_a_missing_success_file_exits_2_naming_it(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run("deleteHITs", "-successfile", "gone.success", "-force")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "gone.success: no such file (given as -successfile)" in line


def run_on_pty(
    root: Path, args: list[str], answer: str = "\n", timeout: float = 120
) -> tuple[int, str]:
    """Run ``mturkmake ARGS`` on a pseudo-terminal, pressing ENTER at every confirmation."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "mturkmake", *args],
        cwd=root,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    seen = b""
    answered = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            seen += chunk
            if seen.count(b"press ENTER") > answered:
                answered += 1
                os.write(controller, answer.encode())
        elif process.poll() is not None:
            break
    code = process.wait(timeout=30)
    os.close(controller)
    return code, seen.decode("utf-8", "replace").replace("\r\n", "\n")


def test_on_a_terminal_enter_confirms(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    for name, text in batch_files(2).items():
        (root / name).write_text(text, encoding="utf-8")
    code, _ = run_on_pty(root, ["survey.success"])
    assert code == 0
    code, output = run_on_pty(
        root, ["deleteHITs", "-successfile", "survey.success", "-approve", "-expire"]
    )
    assert code == 0, output
    lines = output.splitlines()
    start = lines.index("--- Starting to delete HITs ---")
    assert lines[start + 1] == "You are about to delete 2 HITs."
    assert lines[start + 2].startswith("To confirm this operation, please press ENTER")
    assert "  2 HITs have been deleted or were deleted previously." in lines
