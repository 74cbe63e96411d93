"""README's quick start works from a fresh virtual environment.

The README's first command is ``python -m pip install . && mturkmake -C examples/helloworld
--wait hello.approved``. This test installs the project into a new virtual environment
(offline: ``--no-index --no-deps --no-build-isolation``; the dependencies come from the
environment running the tests, through a ``.pth`` file), then runs the second half
on a copy of the example, so the repository is left untouched. The README's second command is
what CI runs, word for word.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(python -m pip install [^\n]+)\n```", text)


def test_readme_has_the_two_quick_start_commands() -> None:
    commands = _readme_commands()
    assert commands[0] == (
        "python -m pip install . && mturkmake -C examples/helloworld --wait hello.approved"
    )
    assert commands[1] == "python -m pip install -e '.[test]' && python -m pytest -q"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()


@pytest.mark.slow
def test_quick_start_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        # The sources only: a quick start already run in this checkout leaves targets beside
        # the example, and the copy must start as a fresh clone does.
        ignore=shutil.ignore_patterns(
            ".git",
            ".ci-venv",
            ".venv",
            ".mturkmake",
            "*.egg-info",
            "__pycache__",
            "build",
            ".*_cache",
            "*.success",
            "*.failure",
            "*.results",
            "*.approved",
            "*.review",
        ),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dependencies (boto3, pluggy, …) come from the environment running the tests: the
    # new environment sees its site-packages through a .pth file, after its own.
    child_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent_paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # addsitedir, not bare paths: the parent's own .pth files (editable installs of the contrib
    # packages, whose entry points the child sees) must be processed too.
    (Path(child_site) / "parent-environment.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in sorted(parent_paths))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            ".",
        ],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
    )
    first = subprocess.run(
        [str(venv / "bin" / "mturkmake"), "-C", "examples/helloworld", "--wait", "hello.approved"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    approved = (source / "examples/helloworld/hello.approved").read_text().splitlines()
    assert approved[0].split("\t")[:4] == ["assignmentid", "hitid", "workerid", "decision"]
    assert len(approved) == 1 + 6
    assert all(line.split("\t")[3] == "approved" for line in approved[1:])
    # The installed package is the one under test, not the checkout on sys.path.
    where = subprocess.run(
        [str(python), "-c", "import mturkmake, sys; print(mturkmake.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(venv) in where.stdout
