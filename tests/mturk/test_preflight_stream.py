"""The streamed preflight (``keep=False``, used by ``-n``): the same checks and errors as the
full one, one row held at a time (issue #17)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.mturk.preflight import Prepared, preflight
from mturkmake.plugins.templating import VelocityEngine
from tests.mturk.test_preflight import FORM, PROPERTIES, _files


def _both(tmp_path: Path, **files: str) -> tuple[Prepared, Prepared]:
    sources = _files(tmp_path, **files)
    kept = preflight(*sources, engine=VelocityEngine(), endpoint_kind="local")
    streamed = preflight(*sources, engine=VelocityEngine(), endpoint_kind="local", keep=False)
    return kept, streamed


def test_streamed_checks_what_the_full_preflight_checks(tmp_path: Path) -> None:
    rows = "".join(f"Question {n}?\n" for n in range(50))
    kept, streamed = _both(tmp_path, input="question\n" + rows)
    assert streamed.checked == kept.checked == len(kept.hits) == 50
    assert streamed.rows == ()
    assert streamed.hits == ()
    assert streamed.header == kept.header
    assert streamed.referenced == kept.referenced
    assert streamed.warnings == kept.warnings


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"input": "question\nok\nbad\textra\n"}, "s.input:3"),
        ({"properties": PROPERTIES.replace("reward:0.02", "reward:${question}")}, "reward"),
        ({"question": FORM.replace("</QuestionForm>", "</Form>")}, "s.question"),
    ],
)
def test_streamed_raises_the_same_first_error(
    tmp_path: Path, files: dict[str, str], fragment: str
) -> None:
    sources = _files(tmp_path, **files)
    errors = []
    for keep in (True, False):
        with pytest.raises(FormatError) as caught:
            preflight(*sources, engine=VelocityEngine(), endpoint_kind="local", keep=keep)
        errors.append(caught.value.one_line())
    assert errors[0] == errors[1]
    assert fragment in errors[0]


def _peak(tmp_path: Path, rows: int) -> int:
    where = tmp_path / str(rows)
    where.mkdir()
    text = "question\n" + "".join(f"Question number {n} with some words?\n" for n in range(rows))
    sources = _files(where, input=text)
    tracemalloc.start()
    try:
        prepared = preflight(*sources, engine=VelocityEngine(), endpoint_kind="local", keep=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert prepared.checked == rows
    return peak


def test_streamed_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    small, large = _peak(tmp_path, 200), _peak(tmp_path, 2000)
    assert large < small * 1.5, (small, large)


def test_a_file_changed_between_passes_stops_the_run(tmp_path: Path) -> None:
    sources = _files(tmp_path, input="question\n" + "".join(f"Q{n}?\n" for n in range(20)))

    class Growing(VelocityEngine):
        """Appends a row to the input when the question is compiled (between passes)."""

        def compile(self, text: str, **kwargs: object) -> object:  # type: ignore[override]
            if "QuestionForm" in text:
                with sources[0].path.open("a", encoding="utf-8") as stream:
                    stream.write("A late row?\n")
            return super().compile(text, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(FormatError, match="changed while the preflight read it"):
        preflight(*sources, engine=Growing(), endpoint_kind="local", keep=False)
