"""The streamed preflight (``keep=False``, used by ``-n``): the same checks and errors as the
full one, one row held at a time (issue #17)."""

from __future__ import annotations

import contextlib
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.mturk.preflight import Prepared, preflight
from mturkmake.plugins.templating import VelocityEngine
from tests.mturk.test_preflight import FORM, NS, PROPERTIES, _files


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


# --------------------------------------------------------------------------------------------
# StreamedBatch.check: the one-pass preflight of the load, -n and the preview (issue #17)
# --------------------------------------------------------------------------------------------

LONG = "x" * 70_000
CASES: dict[str, dict[str, str]] = {
    "markup in values": {"input": "question\n<b>bold</b> & co\nfine\n"},
    "a control character": {"input": "question\nok\nbad \x01 value\n"},
    "a question over 65,535 bytes": {"input": f"question\nok\n{LONG}\n"},
    "a raw value with markup": {
        "input": "question\nok\na < b\n",
        "question": FORM.replace("${question}", "${question_raw}"),
    },
    "a value in QuestionIdentifier": {
        "input": "question\nq1\n \n",
        "question": FORM.replace(
            "<QuestionIdentifier>answer</QuestionIdentifier>",
            "<QuestionIdentifier>${question}</QuestionIdentifier>",
        ),
    },
    "a value in an attribute": {
        "input": "question\n3\nmany\n",
        "question": FORM.replace(
            "<FreeTextAnswer/>",
            '<FreeTextAnswer><Constraints><Length minLength="${question}"/></Constraints>'
            "</FreeTextAnswer>",
        ),
    },
    "an annotation too long": {"input": "question\nok\n" + "a" * 300 + "\n"},
    "an empty templated title": {
        "input": "question\nok\n \n",
        "properties": PROPERTIES.replace("title:Answer a question", "title:${question}"),
    },
    "a bad reward after a bad question": {
        "input": "question\tr\nbad \x01\t0.02\nok\tcheap\n",
        "properties": PROPERTIES.replace("reward:0.02", "reward:${r}"),
    },
    "a bad row after a bad reward": {
        "input": "question\tr\nok\tcheap\nok\t0.02\nextra\t0.02\tcolumn\n",
        "properties": PROPERTIES.replace("reward:0.02", "reward:${r}"),
    },
    "an unknown reference in the properties": {
        "properties": PROPERTIES.replace("description:Please answer.", "description:${nope}"),
    },
    "a template syntax error after a bad reward": {
        "input": "question\tr\nok\tcheap\n",
        "properties": PROPERTIES.replace("reward:0.02", "reward:${r}"),
        "question": FORM.replace("${question}", "#if($question)"),
    },
    "rewards per row": {
        "input": "question\tr\na\t0.02\nb\t0.50\nc\t0.02\n",
        "properties": PROPERTIES.replace("reward:0.02", "reward:${r}"),
    },
    "an external page over http": {
        "input": "question\nhttp://example.org/a\nhttp://example.org/b\n",
        "question": (
            f'<ExternalQuestion xmlns="{NS}/2006-07-14/ExternalQuestion.xsd">'
            "<ExternalURL>${question}</ExternalURL><FrameHeight>400</FrameHeight>"
            "</ExternalQuestion>\n"
        ),
    },
    "a directive": {
        "input": "question\nyes\n\n",
        "question": FORM.replace("${question}", "#if($question == 'yes')Y#else N#end"),
    },
}


@pytest.mark.parametrize("limit", [None, 1])
@pytest.mark.parametrize("case", sorted(CASES))
def test_one_pass_check_is_the_whole_preflight(
    tmp_path: Path, case: str, limit: int | None
) -> None:
    from mturkmake.mturk.preflight import PreparedHIT
    from mturkmake.mturk.preflight_stream import StreamedBatch

    sources = _files(tmp_path, **CASES[case])
    try:
        whole = preflight(*sources, engine=VelocityEngine(), endpoint_kind="local", limit=limit)
        expected: str | None = None
    except FormatError as exc:
        expected = exc.one_line()
    hits: list[PreparedHIT] = []
    stream = StreamedBatch(*sources, engine=VelocityEngine(), endpoint_kind="local", limit=limit)
    try:
        checked = stream.check(on_hit=hits.append, learn_keys=True)
        got: str | None = None
    except FormatError as exc:
        got = exc.one_line()
    assert got == expected
    if expected is None:
        assert hits == list(whole.hits)
        assert checked.warnings == whole.warnings
        assert checked.referenced == whole.referenced
        assert (checked.checked, checked.total) == (len(whole.hits), len(whole.rows))
        assert [stream.merge(h.index, whole.rows[h.index]) for h in hits] == hits


def test_only_plain_questions_skip_their_parse(tmp_path: Path) -> None:
    """The fast path is taken where it is safe, and only there (the cases above prove it
    gives the same answers)."""
    from mturkmake.mturk.preflight_stream import StreamedBatch

    def shape(**files: str) -> bool:
        where = tmp_path / str(len(list(tmp_path.iterdir())))
        where.mkdir()
        stream = StreamedBatch(
            *_files(where, **files), engine=VelocityEngine(), endpoint_kind="local"
        )
        with contextlib.suppress(FormatError):  # the shape is decided before the rows
            stream.check()
        return bool(stream._shape and stream._shape.ok)

    assert shape()
    for case in ("a value in QuestionIdentifier", "a value in an attribute", "a directive"):
        assert not shape(**CASES[case]), case


def _plan_peaks(tmp_path: Path, rows: int) -> tuple[int, int]:
    """The peak memory of the one-pass preflight, then of the reconciliation's and the
    sending pass's (which compile nothing: airspeed's compile of the question alone
    allocates ~16 MB for a moment)."""
    from mturkmake.mturk.load_plan import LoadPlan
    from mturkmake.mturk.preflight_stream import StreamedBatch

    where = tmp_path / f"plan{rows}"
    where.mkdir()
    text = "question\n" + "".join(f"Question number {n} with some words?\n" for n in range(rows))
    sources = _files(where, input=text)
    tracemalloc.start()
    try:
        stream = StreamedBatch(*sources, engine=VelocityEngine(), endpoint_kind="local")
        checked = stream.check(learn_keys=True)
        _, check_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        # limit=rows (all of them) makes the survey a pass of its own, as for a batch
        # with records, rather than the preflight's counts
        plan = LoadPlan(stream, [], checked.referenced, limit=rows)
        survey = plan.survey()
        sent = sum(1 for _ in plan.todo())
        _, passes_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert survey.create == sent == rows
    assert survey.cost().payments == rows * Decimal("0.02")
    return check_peak, passes_peak


def test_the_load_passes_hold_no_row(tmp_path: Path) -> None:
    """The preflight, the reconciliation and the sending pass of a new batch: the peak
    memory does not grow with the input (issue #17: 3.4 KB a row before)."""
    small, large = _plan_peaks(tmp_path, 1_000), _plan_peaks(tmp_path, 10_000)
    assert large[0] < small[0] * 1.3, (small, large)
    assert large[1] < small[1] * 1.3, (small, large)


def test_an_input_changed_after_the_preflight_stops_the_next_pass(tmp_path: Path) -> None:
    from mturkmake.mturk.load_plan import LoadPlan
    from mturkmake.mturk.preflight_stream import StreamedBatch

    sources = _files(tmp_path, input="question\n" + "".join(f"Q{n}?\n" for n in range(20)))
    stream = StreamedBatch(*sources, engine=VelocityEngine(), endpoint_kind="local")
    checked = stream.check(learn_keys=True)
    plan = LoadPlan(stream, [], checked.referenced, limit=20)  # a survey pass of its own
    with sources[0].path.open("a", encoding="utf-8") as out:
        out.write("A late row?\n")
    with pytest.raises(FormatError, match="changed while the preflight read it") as caught:
        plan.survey()
    assert caught.value.one_line().startswith("s.input: ")
    with pytest.raises(FormatError, match="changed while the load read it"):
        next(plan.todo())


@pytest.mark.parametrize("limit", [None, 3])
def test_a_new_batch_is_surveyed_from_the_preflights_counts(
    tmp_path: Path, limit: int | None
) -> None:
    """A batch without records needs no survey pass: the preflight counted its rows by
    kind; the cost is the one a pass finds."""
    from mturkmake.mturk.load_plan import LoadPlan
    from mturkmake.mturk.preflight_stream import StreamedBatch

    text = "question\tr\n" + "".join(f"Q{n}?\t{0.01 * (n % 3 + 1):.2f}\n" for n in range(10))
    properties = PROPERTIES.replace("reward:0.02", "reward:${r}").replace(
        "assignments:1", "assignments:2"
    )
    sources = _files(tmp_path, input=text, properties=properties)
    stream = StreamedBatch(*sources, engine=VelocityEngine(), endpoint_kind="local", limit=limit)
    checked = stream.check(learn_keys=True)
    assert stream.kinds is not None
    assert len(stream.kinds) == 3
    counted = LoadPlan(stream, [], checked.referenced, limit=limit).survey()
    passed = LoadPlan(stream, [], checked.referenced, limit=limit if limit else 10).survey()
    assert counted.create == passed.create == (limit or 10)
    assert counted.additions == passed.additions
    assert counted.cost() == passed.cost()
    assert counted.cost().payments > 0
