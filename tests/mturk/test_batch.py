"""Batch identity, row keys and the reconciliation plan (DESIGN §2), as pure functions,
plus reading a batch back from a real ledger (:func:`batch_rows`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.errors import ConfigError, LedgerError, UsageError
from mturkmake.mturk.batch import (
    CREATE_OPERATION,
    ROW_NOTE,
    BatchRow,
    Listed,
    PlanRow,
    additions,
    batch_for_success,
    batch_rows,
    choose_key_columns,
    count_older,
    edited_error,
    frozen_key_columns,
    growth_limit,
    known_batches,
    pair_adopted,
    pick_batch,
    plan_batch,
    row_keys,
)
from mturkmake.mturk.ledger import open_ledger
from mturkmake.mturk.recovery import Recoveries

COLUMNS = ("question",)


def _rows(*questions: str) -> list[PlanRow]:
    values = [{"question": q, "note": "x"} for q in questions]
    keys = row_keys(values, COLUMNS)
    return [PlanRow(i, i + 2, key, v) for i, (key, v) in enumerate(zip(keys, values, strict=True))]


def _records(rows: list[PlanRow]) -> list[BatchRow]:
    return [
        BatchRow(row.key, row.index, row.line, row.values, f"HIT{row.index}", "TYPE", COLUMNS)
        for row in rows
    ]


# -- keys -------------------------------------------------------------------------------------


def test_identical_rows_get_distinct_keys_by_occurrence() -> None:
    keys = row_keys([{"q": "a"}, {"q": "a"}, {"q": "b"}], ["q"])
    assert keys[0] != keys[1]
    assert keys[0].split("#")[0] == keys[1].split("#")[0]
    assert [k.split("#")[1] for k in keys] == ["0", "1", "0"]


def test_keys_ignore_other_columns_and_trailing_blanks() -> None:
    before = row_keys([{"q": "a", "other": "1"}], ["q"])
    after = row_keys([{"q": "a  ", "other": "changed", "added": "new"}], ["q"])
    assert before == after


def test_keys_change_when_a_key_column_changes() -> None:
    assert row_keys([{"q": "a"}], ["q"]) != row_keys([{"q": "b"}], ["q"])


# -- the plan ---------------------------------------------------------------------------------


def test_recorded_rows_are_skipped() -> None:
    rows = _rows("a", "b", "c")
    plan = plan_batch(rows, _records(rows))
    assert plan.create == ()
    assert [record.hit_id for _, record in plan.skip] == ["HIT0", "HIT1", "HIT2"]
    assert plan.edited == ()


def test_appended_rows_are_created() -> None:
    old = _rows("a", "b")
    rows = _rows("a", "b", "c", "d")
    plan = plan_batch(rows, _records(old))
    assert [row.index for row in plan.create] == [2, 3]
    assert len(plan.skip) == 2


def test_an_edited_row_is_refused_not_created() -> None:
    old = _rows("a", "b", "c")
    rows = _rows("a", "B!", "c")
    plan = plan_batch(rows, _records(old))
    assert plan.create == ()
    assert len(plan.edited) == 1
    assert plan.edited[0].row.index == 1
    assert plan.edited[0].old.hit_id == "HIT1"


def test_a_replaced_record_is_not_edited_again() -> None:
    old = _rows("a", "b")
    records = _records(old)
    rows = _rows("a", "B!")
    replacement = BatchRow(
        rows[1].key, 1, 3, rows[1].values, "HITNEW", "TYPE", COLUMNS, replaces="HIT1"
    )
    plan = plan_batch(rows, [*records, replacement])
    assert plan.create == ()
    assert plan.edited == ()
    assert len(plan.skip) == 2


def test_a_deleted_row_keeps_its_hit_and_creates_nothing() -> None:
    old = _rows("a", "b", "c")
    rows = _rows("a", "c")
    plan = plan_batch(rows, _records(old))
    assert plan.create == ()
    assert plan.edited == ()
    assert [record.hit_id for record in plan.deleted] == ["HIT1"]


def test_limit_creates_only_the_first_rows() -> None:
    plan = plan_batch(_rows("a", "b", "c"), [], limit=2)
    assert [row.index for row in plan.create] == [0, 1]


def test_growth_limit() -> None:
    assert growth_limit(12) == 10
    assert growth_limit(100) == 10
    assert growth_limit(1000) == 100


def test_frozen_key_columns_come_from_the_first_record() -> None:
    rows = _rows("a")
    assert frozen_key_columns([]) is None
    assert frozen_key_columns(_records(rows)) == COLUMNS


# -- identity ---------------------------------------------------------------------------------


def test_pick_batch_is_the_input_for_a_new_or_same_label() -> None:
    assert pick_batch("s.input", "s.success", {}, new_batch=False) == "s.input"
    known = {"s.input": "s.success"}
    assert pick_batch("s.input", "s.success", known, new_batch=False) == "s.input"


def test_pick_batch_refuses_a_new_label_without_new_batch() -> None:
    known = {"s.input": "s.success"}
    with pytest.raises(UsageError, match="--new-batch"):
        pick_batch("s.input", "again.success", known, new_batch=False)
    name = pick_batch("s.input", "again.success", known, new_batch=True)
    assert name == "s.input#again.success"
    known[name] = "again.success"
    assert pick_batch("s.input", "again.success", known, new_batch=False) == name


# -- adoption ---------------------------------------------------------------------------------


def test_pair_adopted_matches_by_question_then_order() -> None:
    listed = [Listed("H1", "T", "qb"), Listed("H2", "T", None), Listed("H3", "T", "zz")]
    pairs = pair_adopted(listed, [(0, "qa"), (1, "qb"), (2, "qc")])
    assert [(hit.hit_id, index) for hit, index in pairs] == [("H1", 1), ("H2", 0), ("H3", 2)]


def test_pair_adopted_keeps_hits_without_rows() -> None:
    pairs = pair_adopted([Listed("H1", "T"), Listed("H2", "T")], [(0, "q")])
    assert [index for _, index in pairs] == [0, None]


def test_pair_adopted_refuses_a_repeated_hit() -> None:
    with pytest.raises(LedgerError, match="twice"):
        pair_adopted([Listed("H1", "T"), Listed("H1", "T")], [(0, "q")])


# -- reading the ledger -----------------------------------------------------------------------


def test_batch_rows_read_back_created_and_adopted_hits(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path / ".mturkmake", "local")
    try:
        ledger.recover(None, Recoveries())
        rows = _rows("a", "b")
        first = BatchRow(rows[1].key, 1, 3, rows[1].values, "", "TYPE1", COLUMNS, "s.success")
        params = {"HITTypeId": "TYPE1", "Question": "<q/>", ROW_NOTE: first.record()}
        with ledger.intent(CREATE_OPERATION, "s.input", first.key, params) as intent:
            intent.done("HITB", {"HITTypeId": "TYPE1"})
        second = BatchRow(rows[0].key, 0, 2, rows[0].values, "HITA", "TYPE1", COLUMNS, "s.success")
        ledger.adopt(
            CREATE_OPERATION,
            "s.input",
            second.key,
            "HITA",
            {"HITTypeId": "TYPE1", "row": second.record()},
        )
        found = batch_rows(ledger, "s.input")
        assert [(r.hit_id, r.index, r.line, r.adopted) for r in found] == [
            ("HITA", 0, 2, True),
            ("HITB", 1, 3, False),
        ]
        assert found[1].values == {"question": "b", "note": "x"}
        assert found[1].hit_type_id == "TYPE1"
        assert found[1].key_columns == COLUMNS
        assert known_batches(ledger, "s.input") == {"s.input": "s.success"}
        assert known_batches(ledger, "other.input") == {}
        assert batch_for_success(ledger, "s.success") == "s.input"
        assert batch_for_success(ledger, "t.success") is None
    finally:
        ledger.close()


def test_additions_ignore_rows_an_interrupted_load_had_planned() -> None:
    old = _rows("a", "b")
    records = [
        BatchRow(r.key, r.index, r.line, r.values, f"H{r.index}", "T", COLUMNS, planned=300)
        for r in old
    ]
    rows = _rows(*[f"q{n}" for n in range(300)])
    plan = plan_batch(rows, [])
    assert additions(plan, records) == 0
    fresh = [
        BatchRow(r.key, r.index, r.line, r.values, "H", "T", COLUMNS, planned=100) for r in old
    ]
    assert additions(plan_batch(_rows(*[f"q{n}" for n in range(150)]), []), fresh) == 50


def test_choose_key_columns_order_of_precedence() -> None:
    header = ("a", "b", "c")
    assert choose_key_columns(("b",), ["c"], referenced=["a"], header=header) == ["b"]
    assert choose_key_columns(None, ["c"], referenced=["a"], header=header) == ["c"]
    assert choose_key_columns(None, None, referenced=["a"], header=header) == ["a"]
    with pytest.raises(ConfigError, match="'z'"):
        choose_key_columns(None, ["z"], referenced=[], header=header)


def test_count_older_compares_question_digests() -> None:
    rows = _rows("a", "b")
    records = [
        BatchRow(r.key, r.index, r.line, r.values, "H", "T", merged_sha=f"d{r.index}") for r in rows
    ]
    skip = list(zip(rows, records, strict=True))
    assert count_older(skip, {0: "d0", 1: "d1"}) == 0
    assert count_older(skip, {0: "d0", 1: "changed"}) == 1


def test_edited_error_names_the_row_and_its_hit() -> None:
    old = _records(_rows("a", "b"))
    plan = plan_batch(_rows("a", "B!"), old)
    error = edited_error("s.input", plan.edited, COLUMNS)
    assert error.one_line().startswith("s.input:3: ")
    assert "HIT1" in error.one_line()
