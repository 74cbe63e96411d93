"""Tidy exports of a ``.results`` file: ``.results.csv`` and ``.results.jsonl`` (pure).

One record per assignment (a HIT without assignments has none), in ``.results`` order, with a
few assignment columns (:data:`BASE_COLUMNS`), then the ``Input.<column>`` values the HIT was
made from, then ``Answer.<question>`` — the CLT's ``reject``/``feedback`` marks and the HIT's
title, description and counters are left out: they describe the HIT, not the work.

- CSV: RFC 4180 through :mod:`csv` (comma, ``"`` doubled, fields with commas, quotes, CR or LF
  quoted, CRLF between records), UTF-8 without a byte-order mark.
- JSON Lines: one object per line (``ensure_ascii=False``), with ``input`` and ``answers``
  as objects, so a column named like a base field cannot collide.

``pseudonymize``: worker ids are replaced by :func:`pseudonym` — an HMAC-SHA-256 under a key
the project keeps (never written into an export), so one worker gets the same pseudonym in
every export and report of the project, and nobody without the key can reverse or recompute it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from mturkmake.formats.results import ResultsEntry

__all__ = [
    "BASE_COLUMNS",
    "ExportTable",
    "export_table",
    "pseudonym",
    "write_csv",
    "write_jsonl",
]

#: The assignment's own columns, as ``.results`` names them.
BASE_COLUMNS = (
    "hitid",
    "hittypeid",
    "assignmentid",
    "workerid",
    "assignmentstatus",
    "assignmentaccepttime",
    "assignmentsubmittime",
    "autoapprovaltime",
    "reward",
)


def pseudonym(key: bytes, worker_id: str) -> str:
    """The pseudonym of ``worker_id`` under ``key``: ``W`` and 20 hex digits of its HMAC."""
    digest = hmac.new(key, worker_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return "W" + digest[:20].upper()


@dataclass(frozen=True)
class ExportRecord:
    """One assignment: base fields, input values and answers, each by name."""

    base: Mapping[str, str]
    inputs: Mapping[str, str]
    answers: Mapping[str, str]


@dataclass(frozen=True)
class ExportTable:
    """The records to export and their column names (first-seen order)."""

    input_columns: tuple[str, ...]
    answer_columns: tuple[str, ...]
    records: tuple[ExportRecord, ...]

    @property
    def header(self) -> list[str]:
        """The CSV header: base columns, ``Input.*``, ``Answer.*``."""
        return [
            *BASE_COLUMNS,
            *(f"Input.{c}" for c in self.input_columns),
            *(f"Answer.{q}" for q in self.answer_columns),
        ]


def export_table(
    entries: Iterable[ResultsEntry],
    *,
    alias: Callable[[str], str] | None = None,
    answer_prefix: str = "Answer.",
) -> ExportTable:
    """The assignments of ``entries`` (a ``.results`` file's rows) as an export.

    :param alias: replaces each worker id (pseudonymization); ``None`` keeps them.
    """
    inputs: dict[str, None] = {}
    answers: dict[str, None] = {}
    records: list[ExportRecord] = []
    for entry in entries:
        if not entry.assignment_id:
            continue
        base = {name: entry.values.get(name, "") for name in BASE_COLUMNS}
        if alias is not None and base["workerid"]:
            base["workerid"] = alias(base["workerid"])
        given = entry.answers(answer_prefix)
        values = entry.inputs()
        inputs.update(dict.fromkeys(values))
        answers.update(dict.fromkeys(given))
        records.append(ExportRecord(base, values, given))
    return ExportTable(tuple(inputs), tuple(answers), tuple(records))


def write_csv(stream: TextIO, table: ExportTable) -> None:
    """Write ``table`` as RFC 4180 CSV (open ``stream`` with ``newline=""``)."""
    writer = csv.writer(stream, dialect="excel", lineterminator="\r\n")
    writer.writerow(table.header)
    for record in table.records:
        writer.writerow(
            [
                *(record.base[c] for c in BASE_COLUMNS),
                *(record.inputs.get(c, "") for c in table.input_columns),
                *(record.answers.get(q, "") for q in table.answer_columns),
            ]
        )


def write_jsonl(stream: TextIO, table: ExportTable) -> None:
    """Write ``table`` as JSON Lines: one object per assignment."""
    for record in table.records:
        obj: dict[str, object] = dict(record.base)
        obj["input"] = _ordered(record.inputs, table.input_columns)
        obj["answers"] = _ordered(record.answers, table.answer_columns)
        stream.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _ordered(values: Mapping[str, str], order: Sequence[str]) -> dict[str, str]:
    return {name: values[name] for name in order if name in values}
