"""The real AWS CLI (``python -m awscli``) against ``mturkmake marketplace serve`` running in
another process on 127.0.0.1, with the clock moved by ``mturkmake marketplace advance`` in a
third: create a HIT, list it, advance, list its assignments, approve one, a second approval
fails, a missing HIT is a RequestError."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.plugins import BUILTIN_PLUGINS

from .conftest import HTML_QUESTION

CLI_PLUGIN = "mturkmake.plugins.marketplace_cli"


def mturkmake_cli(*words: str) -> list[str]:
    """The mturkmake command line; loads the marketplace plugin if it is not built in yet."""
    extra = [] if CLI_PLUGIN in BUILTIN_PLUGINS else ["-p", CLI_PLUGIN]
    return [sys.executable, "-m", "mturkmake", *extra, *words]


def offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    env.update(
        AWS_ACCESS_KEY_ID="TESTKEY",
        AWS_SECRET_ACCESS_KEY="testsecret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
    )
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    return root


@pytest.fixture
def served(project: Path, tmp_path: Path) -> Iterator[str]:
    """``mturkmake marketplace serve --port 0`` in its own process; yields its URL."""
    process = subprocess.Popen(
        mturkmake_cli("marketplace", "serve", "--port", "0"),
        cwd=project,
        env=offline_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+) ", first)
        assert match, (first, process.poll())
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the server stops cleanly
        try:
            out, _err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server fails the test
            process.kill()
            raise
    assert process.returncode == 0
    assert "Stopped." in out


def aws(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awscli", "mturk", *args, "--endpoint-url", url, "--output", "json"],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_aws_cli_drives_the_served_marketplace(served: str, project: Path, tmp_path: Path) -> None:
    question = tmp_path / "question.xml"
    question.write_text(HTML_QUESTION, encoding="utf-8")
    created = ok(
        aws(
            served,
            tmp_path,
            "create-hit",
            "--title",
            "Label a picture",
            "--description",
            "One word",
            "--reward",
            "0.50",
            "--lifetime-in-seconds",
            "3600",
            "--assignment-duration-in-seconds",
            "600",
            "--max-assignments",
            "2",
            "--question",
            f"file://{question}",
        )
    )
    hit_id = created["HIT"]["HITId"]
    assert created["HIT"]["HITStatus"] == "Assignable"

    listed = ok(aws(served, tmp_path, "list-hits"))
    assert [hit["HITId"] for hit in listed["HITs"]] == [hit_id]

    advanced = subprocess.run(
        mturkmake_cli("marketplace", "advance", "1h"),
        cwd=project,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert advanced.returncode == 0, advanced.stderr
    assert "2026-01-01T01:00:00Z" in advanced.stdout

    work = ok(aws(served, tmp_path, "list-assignments-for-hit", "--hit-id", hit_id))
    assert len(work["Assignments"]) == 2  # the CLI merges pages and drops NumResults
    assert {a["AssignmentStatus"] for a in work["Assignments"]} == {"Submitted"}
    first = work["Assignments"][0]["AssignmentId"]

    ok(
        aws(
            served,
            tmp_path,
            "approve-assignment",
            "--assignment-id",
            first,
            "--requester-feedback",
            "Thanks",
        )
    )
    again = aws(served, tmp_path, "approve-assignment", "--assignment-id", first)
    assert again.returncode == 255
    assert (
        "An error occurred (RequestError) when calling the ApproveAssignment operation: "
        in again.stderr
    )
    assert re.search(r" \(\d{13}\)\s*$", again.stderr)

    missing = aws(served, tmp_path, "get-hit", "--hit-id", "NOSUCHHIT0000000000000000000000")
    assert missing.returncode == 255
    assert re.search(
        r"An error occurred \(RequestError\) when calling the GetHIT operation: .*"
        r"NOSUCHHIT0000000000000000000000.* \(\d{13}\)",
        missing.stderr,
    )

    status = subprocess.run(
        mturkmake_cli("marketplace", "status", "--json"),
        cwd=project,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["clock"] == "2026-01-01T01:00:00Z"
    assert report["assignments"] == {"Approved": 1, "Submitted": 1}


def test_bad_duration_is_one_line_and_exit_2(project: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        mturkmake_cli("marketplace", "advance", "soon"),
        cwd=project,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "'soon' is not a duration" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
