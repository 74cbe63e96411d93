"""The streamed reconciliation (issue #17): :class:`RowKeys` and :class:`Planner` give, one
row at a time, exactly what :func:`row_keys` and :func:`plan_batch` give for the whole list."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from mturkmake.mturk import batch as batch_module
from mturkmake.mturk.batch import (
    CREATE_OPERATION,
    ROW_NOTE,
    BatchRow,
    Planner,
    PlanRow,
    Projection,
    RowKeys,
    batch_rows,
    known_batches,
    plan_batch,
    row_keys,
)
from mturkmake.mturk.ledger import open_ledger
from mturkmake.mturk.recovery import Recoveries


def _rows(rng: random.Random, count: int) -> list[dict[str, str]]:
    # few distinct values: many repeated rows, and trailing blanks that do not count
    return [
        {"a": rng.choice("xyz") + rng.choice(["", " "]), "b": str(rng.randint(0, 3))}
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_streamed_keys_are_row_keys(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    rows = _rows(rng, 200)
    if seed % 2:  # a tiny filter: every digest collides, every row is counted
        monkeypatch.setattr(batch_module, "_FILTER_BITS", 8)
    keys = RowKeys(["a"])
    keys.learn(rows)
    for _ in range(2):  # each pass gives the same keys
        key = keys.counter()
        assert [key(values) for values in rows] == row_keys(rows, ["a"])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("limit", [None, 5])
def test_the_streamed_plan_is_plan_batch(seed: int, limit: int | None) -> None:
    rng = random.Random(seed)
    old = _rows(rng, rng.randint(0, 12))
    old_keys = row_keys(old, ["a", "b"])
    records = [
        BatchRow(key=k, index=i, line=i + 2, values=v, hit_id=f"H{i}", hit_type_id="T")
        for i, (k, v) in enumerate(zip(old_keys, old, strict=True))
    ]
    if records and rng.random() < 0.5:  # one replaced by --replace-edited before
        gone = records[0]
        records.append(
            BatchRow(
                key="edited#0",
                index=gone.index,
                line=0,
                values={},
                hit_id="H-new",
                hit_type_id="T",
                replaces=gone.hit_id,
            )
        )
    current = [dict(v) for v in old]
    for _ in range(rng.randint(0, 4)):  # edit, drop or add rows
        choice = rng.random()
        if current and choice < 0.4:
            current[rng.randrange(len(current))]["a"] = rng.choice("pq")
        elif current and choice < 0.6:
            del current[rng.randrange(len(current))]
        else:
            current.insert(rng.randint(0, len(current)), _rows(rng, 1)[0])
    keys = row_keys(current, ["a", "b"])
    plan_rows = [PlanRow(i, i + 2, k) for i, k in enumerate(keys)]
    whole = plan_batch(plan_rows, records, limit=limit)

    planner = Planner(records, limit=limit)
    for row in plan_rows:
        planner.match(row.key)
    for _ in range(2):  # every pass classifies the same way
        classify = planner.start()
        found: dict[str, list[tuple[int, str | None]]] = {"skip": [], "create": [], "edited": []}
        for row in plan_rows:
            action, record = classify(row)
            if action != "ignore":
                found[action].append((row.index, record.hit_id if record else None))
        assert found["skip"] == [(r.index, rec.hit_id) for r, rec in whole.skip]
        assert found["create"] == [(r.index, None) for r in whole.create]
        assert found["edited"] == [(e.row.index, e.old.hit_id) for e in whole.edited]


def _reference_rows(ledger: Any, batch: str) -> list[BatchRow]:
    """batch_rows as it was, through the ledger's own reader (every call's parameters)."""
    found = []
    for made in ledger.records([CREATE_OPERATION], batch=batch):
        record = made.result.get("row") or made.params.get(ROW_NOTE) or {"key": made.subject}
        hit_type = made.result.get("HITTypeId") or made.params.get("HITTypeId", "")
        found.append(
            BatchRow.from_record(
                record,
                hit_id=str(made.remote_id or ""),
                hit_type_id=str(hit_type),
                adopted=made.resolved_by == "adopted",
            )
        )
    order = {id(row): n for n, row in enumerate(found)}
    return sorted(found, key=lambda r: (r.index < 0, r.index, order[id(r)]))


def test_light_readers_read_what_the_ledger_holds(tmp_path: Path) -> None:
    """batch_rows, known_batches and Projection read less than the ledger's reader (not the
    calls' parameters) and give what it gives."""
    ledger = open_ledger(tmp_path / ".mturkmake", "local")
    try:
        ledger.recover(None, Recoveries())
        rng = random.Random(7)
        for batch, success in (("b.input", "b.success"), ("a.input", "a.success")):
            values = _rows(rng, 12)
            keys = row_keys(values, ["a", "b"])
            for index in rng.sample(range(12), 12):
                row = BatchRow(
                    keys[index], index, index + 2, values[index], "", "T", ("a", "b"), success
                )
                params = {
                    "HITTypeId": f"T{index % 2}",
                    "Question": "<q/>" * 50,
                    ROW_NOTE: row.record(),
                }
                with ledger.intent(CREATE_OPERATION, batch, row.key, params) as intent:
                    # some outcomes copy the row, some do not (read from the parameters)
                    result = (
                        {"HITTypeId": f"T{index % 2}", "row": row.record()} if index % 3 else {}
                    )
                    intent.done(f"H-{batch}-{index}", result)
            ledger.adopt(
                CREATE_OPERATION, batch, f"adopted:{batch}", f"X-{batch}", {"HITTypeId": "T9"}
            )
        with pytest.raises(RuntimeError), ledger.intent(CREATE_OPERATION, "a.input", "gone", {}):
            raise RuntimeError("a call that failed before sending")
        for batch in ("a.input", "b.input"):
            light = batch_rows(ledger, batch)
            assert light == _reference_rows(ledger, batch)
            assert [(r.key, r.index) for r in batch_rows(ledger, batch, values=False)] == [
                (r.key, r.index) for r in light
            ]
            assert all(not r.values for r in batch_rows(ledger, batch, values=False))
            projection = Projection(Path(ledger.db.path), ledger.endpoint, batch)
            assert list(projection) == [(r.hit_id, r.hit_type_id) for r in light]
        assert known_batches(ledger) == {"b.input": "b.success", "a.input": "a.success"}
        assert list(known_batches(ledger)) == ["b.input", "a.input"]
        assert known_batches(ledger, "a.input") == {"a.input": "a.success"}
    finally:
        ledger.close()
