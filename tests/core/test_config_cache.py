"""The project table is parsed once per text: the cache in ``.mturkmake/`` is never stale
(issue #17)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from mturkmake.core.config import TOML_CACHE, read_project_table
from mturkmake.errors import ConfigError
from mturkmake.hookspecs import STATE_DIR


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / STATE_DIR).mkdir(exist_ok=True)
    (tmp_path / "mturkmake.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_cached_table_is_reused_and_a_changed_file_read_again(tmp_path: Path) -> None:
    root = _project(tmp_path, 'endpoint = "local"\nbudget = 5\n')
    assert dict(read_project_table(root).values) == {"endpoint": "local", "budget": 5}
    assert (root / STATE_DIR / TOML_CACHE).is_file()
    assert dict(read_project_table(root).values) == {"endpoint": "local", "budget": 5}
    # Same size, same second: only the text tells the two apart.
    (root / "mturkmake.toml").write_text('endpoint = "local"\nbudget = 7\n', encoding="utf-8")
    assert dict(read_project_table(root).values) == {"endpoint": "local", "budget": 7}


def test_a_syntax_error_is_reported_even_after_a_good_parse(tmp_path: Path) -> None:
    root = _project(tmp_path, 'endpoint = "local"\n')
    read_project_table(root)
    (root / "mturkmake.toml").write_text('endpoint = "local\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="malformed TOML"):
        read_project_table(root)


def test_values_marshal_cannot_hold_are_parsed_every_time(tmp_path: Path) -> None:
    root = _project(tmp_path, "since = 2024-01-02\n")
    assert read_project_table(root).values == {"since": datetime.date(2024, 1, 2)}
    assert not (root / STATE_DIR / TOML_CACHE).exists()
    assert read_project_table(root).values == {"since": datetime.date(2024, 1, 2)}


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    root = _project(tmp_path, "budget = 3\n")
    (root / STATE_DIR / TOML_CACHE).write_bytes(b"\x00not marshal")
    assert dict(read_project_table(root).values) == {"budget": 3}
    assert dict(read_project_table(root).values) == {"budget": 3}


def test_no_state_directory_no_cache(tmp_path: Path) -> None:
    (tmp_path / "mturkmake.toml").write_text("budget = 3\n", encoding="utf-8")
    assert dict(read_project_table(tmp_path).values) == {"budget": 3}
    assert not (tmp_path / STATE_DIR).exists()
