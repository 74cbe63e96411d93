"""Atomic writes, fingerprints, mtimes and the project lock, on real files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mturkmake.core.fsio import (
    Fingerprint,
    ProjectLock,
    atomic_write,
    commit_output,
    fingerprint,
    set_mtime_now,
    temp_path_for,
)
from mturkmake.errors import LockTimeout

OLD = 1_600_000_000_000_000_000  # 2020-09-13, well before any test runs


def test_atomic_write_creates_file_and_parent_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.results"
    assert atomic_write(target, b"hello\n") is True
    assert target.read_bytes() == b"hello\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.results"]


def test_atomic_write_identical_bytes_keep_file_and_mtime(tmp_path: Path) -> None:
    target = tmp_path / "x"
    target.write_bytes(b"same")
    os.utime(target, ns=(OLD, OLD))
    assert atomic_write(target, b"same") is False
    assert target.stat().st_mtime_ns == OLD


def test_atomic_write_replaces_changed_content(tmp_path: Path) -> None:
    target = tmp_path / "x"
    target.write_bytes(b"four")
    os.utime(target, ns=(OLD, OLD))
    assert atomic_write(target, b"five!") is True
    assert target.read_bytes() == b"five!"
    assert target.stat().st_mtime_ns > OLD


def test_commit_output_identical_removes_temp_and_keeps_mtime(tmp_path: Path) -> None:
    final = tmp_path / "x.b"
    final.write_bytes(b"data")
    os.utime(final, ns=(OLD, OLD))
    temp = temp_path_for(final)
    temp.write_bytes(b"data")
    assert commit_output(temp, final) is False
    assert not temp.exists()
    assert final.stat().st_mtime_ns == OLD


def test_commit_output_moves_new_content(tmp_path: Path) -> None:
    final = tmp_path / "x.b"
    final.write_bytes(b"old")
    temp = temp_path_for(final)
    assert temp.name == ".x.b.mturkmake-tmp"
    temp.write_bytes(b"new")
    assert commit_output(temp, final) is True
    assert final.read_bytes() == b"new"
    assert not temp.exists()


def test_commit_output_creates_missing_final(tmp_path: Path) -> None:
    final = tmp_path / "x.b"
    temp = temp_path_for(final)
    temp.write_bytes(b"")
    assert commit_output(temp, final) is True
    assert final.exists()


def test_fingerprint_missing_file_is_none(tmp_path: Path) -> None:
    assert fingerprint(tmp_path / "nope") is None
    assert fingerprint(tmp_path) is None  # a directory is not a target file


def test_fingerprint_hashes_content(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"abc")
    fp = fingerprint(path)
    assert fp == Fingerprint(
        3,
        path.stat().st_mtime_ns,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    )


def test_fingerprint_reuses_previous_hash_when_size_and_mtime_match(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"abc")
    os.utime(path, ns=(OLD, OLD))
    previous = Fingerprint(3, OLD, "not-a-real-hash")
    # Same size and mtime: the file is not read again, so the previous hash comes back.
    assert fingerprint(path, previous) == previous
    os.utime(path, ns=(OLD + 1, OLD + 1))
    fresh = fingerprint(path, previous)
    assert fresh is not None
    assert fresh.sha256 != "not-a-real-hash"
    assert fresh.mtime_ns == OLD + 1


def test_set_mtime_now_respects_at_least(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_bytes(b"")
    os.utime(path, ns=(OLD, OLD))
    set_mtime_now(path)
    assert path.stat().st_mtime_ns > OLD
    future = path.stat().st_mtime_ns + 3_600 * 10**9
    set_mtime_now(path, future)
    assert path.stat().st_mtime_ns == future


def test_project_lock_writes_holder_and_is_reusable(tmp_path: Path) -> None:
    lock_path = tmp_path / ".mturkmake" / "lock"
    with ProjectLock(lock_path, 1.0, "mturkmake survey.results"):
        lines = lock_path.read_text(encoding="utf-8").splitlines()
        assert lines == [str(os.getpid()), "mturkmake survey.results"]
    with ProjectLock(lock_path, 0.0, "second"):
        assert lock_path.read_text(encoding="utf-8").splitlines()[1] == "second"


def test_project_lock_same_process_second_holder_times_out(tmp_path: Path) -> None:
    lock_path = tmp_path / "lock"
    with ProjectLock(lock_path, 1.0, "first run"), pytest.raises(LockTimeout) as info:
        ProjectLock(lock_path, 0.1, "second run").acquire()
    assert "first run" in str(info.value)


def test_lock_timeout_names_holder_in_other_process(tmp_path: Path) -> None:
    lock_path = tmp_path / ".mturkmake" / "lock"
    holder = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from mturkmake.core.fsio import ProjectLock
        with ProjectLock(Path({str(lock_path)!r}), 5.0, "mturkmake -j 4 survey.approved"):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockTimeout) as info:
            ProjectLock(lock_path, 0.2, "mturkmake survey.results").acquire()
        message = str(info.value)
        assert f"pid {proc.pid}" in message
        assert "mturkmake -j 4 survey.approved" in message
        assert str(lock_path) in message
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    # The holder is gone: the lock is free again.
    with ProjectLock(lock_path, 2.0, "after"):
        pass
