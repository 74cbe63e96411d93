"""The local marketplace's facade: settings, the dispatch table of the 39 operations, tokens,
deterministic request identity, and the clock that plays the crowd's events.

The wire layer (validation against botocore's model, JSON 1.1, HTTP) calls
:meth:`Marketplace.call` with shape-valid parameters; this engine enforces the documented
rules and semantics and raises :mod:`mturkmake.marketplace.errors` exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from mturkmake.marketplace import (
    assignments,
    crowd,
    hits,
    ids,
    layouts,
    money,
    notifications,
    qualifications,
    review,
    workers,
)
from mturkmake.marketplace.clock import from_epoch, to_epoch
from mturkmake.marketplace.crowd_settings import CROWD_KEYS, CrowdSettings
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Store, Tx, dumps, get_meta, set_meta

Handler = Callable[[Tx, Mapping[str, Any]], dict[str, Any]]
REPLAYS_KEPT = 10_000  # answers kept for retried calls (request_token_hint)
REPLAYS_PRUNE_EVERY = 100  # calls between two prunings of the replays table
TOKEN_LIFETIME = 86_400.0  # "The unique token expires after 24 hours" (virtual hours here)


@dataclass(frozen=True)
class MarketplaceSettings:
    """The marketplace's knobs, from ``[tool.mturkmake.local]``.

    :param seed: drives every id and every worker's behaviour.
    :param start: the clock's origin on a fresh (or reset) marketplace.
    :param workers: the size of the simulated crowd.
    :param events_per_transaction: events played under one write lock before letting other
        processes in (bounded so an ``advance`` never starves an HTTP server's threads).
    :param allow_http_external: accept an ExternalQuestion whose ExternalURL is ``http://``.
        MTurk refuses those; the in-process client (mturkmake's ``endpoint = "local"``)
        accepts them so the CLT samples run unchanged (mturkmake's preflight warns), while
        ``serve`` refuses them unless started with ``--allow-http-external``.

    The crowd's keys (``speed``, ``accuracy``, ``return_rate``, ``abandon_rate``,
    ``approval_rate``, ``hits_approved``, ``locales``, ``masters``, ``planted``,
    ``external_pages``, ``external_fields``) take their ``[tool.mturkmake.local]`` values as
    written (None: the default) and are read into :attr:`crowd`
    (:class:`~mturkmake.marketplace.crowd_settings.CrowdSettings`); a bad value raises
    ValueError naming the key when the settings are made.
    """

    seed: int = 0
    start: datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)
    workers: int = 20
    events_per_transaction: int = 200
    allow_http_external: bool = True
    speed: Any = None
    accuracy: Any = None
    return_rate: Any = None
    abandon_rate: Any = None
    approval_rate: Any = None
    hits_approved: Any = None
    locales: Any = None
    masters: Any = None
    planted: Any = None
    external_pages: Any = None
    external_fields: Any = None
    fetch_external_pages: Any = None

    def __post_init__(self) -> None:
        self.crowd  # noqa: B018 - validate the crowd's keys now, not at the first event

    @cached_property
    def crowd(self) -> CrowdSettings:
        """The crowd's settings, read from the crowd's keys."""
        return CrowdSettings.from_table(
            {k: getattr(self, k) for k in CROWD_KEYS if getattr(self, k) is not None}
        )

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> MarketplaceSettings:
        """Settings from a ``[tool.mturkmake.local]`` table; keys this engine does not use
        (faults, external pages…) are left to their owners.

        ``start`` may be a TOML datetime or an ISO-8601 string (``2026-01-01T00:00:00Z``);
        a time without a zone is UTC.

        :raises ValueError: a value of the wrong type, naming the key.
        """
        values: dict[str, Any] = {
            key: table[key] for key in CROWD_KEYS if table.get(key) is not None
        }
        for key in ("seed", "workers", "events_per_transaction"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"local.{key} must be a whole number ≥ 0, not {value!r}")
                values[key] = value
        if "start" in table:
            start = table["start"]
            if isinstance(start, str):
                try:
                    start = datetime.fromisoformat(start.replace("Z", "+00:00"))
                except ValueError as exc:
                    raise ValueError(
                        f"local.start '{start}' is not an ISO-8601 date and "
                        "time, such as 2026-01-01T00:00:00Z"
                    ) from exc
            if not isinstance(start, datetime):
                raise ValueError(f"local.start must be a date and time, not {start!r}")
            values["start"] = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        return cls(**values)


@dataclass(frozen=True)
class Operation:
    """A dispatch-table entry: the handler, whether it writes, its token family, and
    whether it creates something whose id derives from the request (``Tx.key`` and
    ``Tx.occurrence``, which only such operations need)."""

    handler: Handler
    writes: bool = False
    token_family: str | None = None
    creates: bool = False


OPERATIONS: dict[str, Operation] = {
    "AcceptQualificationRequest": Operation(qualifications.accept_request, True),
    "ApproveAssignment": Operation(assignments.approve, True),
    "AssociateQualificationWithWorker": Operation(qualifications.associate, True),
    "CreateAdditionalAssignmentsForHIT": Operation(
        hits.add_assignments, True, "CreateAdditionalAssignmentsForHIT"
    ),
    "CreateHIT": Operation(hits.create_hit, True, "HIT", creates=True),
    "CreateHITType": Operation(hits.create_type, True),
    "CreateHITWithHITType": Operation(hits.create_hit, True, "HIT", creates=True),
    "CreateQualificationType": Operation(qualifications.create_type, True, creates=True),
    "CreateWorkerBlock": Operation(workers.create_block, True),
    "DeleteHIT": Operation(hits.delete_hit, True),
    "DeleteQualificationType": Operation(qualifications.delete_type, True),
    "DeleteWorkerBlock": Operation(workers.delete_block, True),
    "DisassociateQualificationFromWorker": Operation(qualifications.disassociate, True),
    "GetAccountBalance": Operation(workers.balance),
    "GetAssignment": Operation(assignments.get),
    "GetFileUploadURL": Operation(assignments.file_upload_url),
    "GetHIT": Operation(hits.get_hit),
    "GetQualificationScore": Operation(qualifications.get_score),
    "GetQualificationType": Operation(qualifications.get_type),
    "ListAssignmentsForHIT": Operation(assignments.list_for_hit),
    "ListBonusPayments": Operation(workers.list_bonuses),
    "ListHITs": Operation(hits.list_hits),
    "ListHITsForQualificationType": Operation(hits.list_for_qualification),
    "ListQualificationRequests": Operation(qualifications.list_requests),
    "ListQualificationTypes": Operation(qualifications.list_types),
    "ListReviewPolicyResultsForHIT": Operation(review.list_results),
    "ListReviewableHITs": Operation(hits.list_reviewable),
    "ListWorkerBlocks": Operation(workers.list_blocks),
    "ListWorkersWithQualificationType": Operation(qualifications.list_workers),
    "NotifyWorkers": Operation(workers.notify, True),
    "RejectAssignment": Operation(assignments.reject, True),
    "RejectQualificationRequest": Operation(qualifications.reject_request, True),
    "SendBonus": Operation(workers.send_bonus, True, "SendBonus"),
    "SendTestEventNotification": Operation(notifications.send_test, True),
    "UpdateExpirationForHIT": Operation(hits.update_expiration, True),
    "UpdateHITReviewStatus": Operation(hits.update_review_status, True),
    "UpdateHITTypeOfHIT": Operation(hits.update_hit_type, True),
    "UpdateNotificationSettings": Operation(notifications.update_settings, True),
    "UpdateQualificationType": Operation(qualifications.update_type, True),
}


class Marketplace:
    """The local MTurk: state in SQLite at ``db_path``, shared safely by threads and processes.

    :param answer_fn: ``answer_fn(question, worker, truth)`` overrides a simulated worker's
        answer (``{question id: value or values}``, or None for the built-in crowd's answer).
    """

    def __init__(
        self,
        db_path: Path | str,
        settings: MarketplaceSettings | None = None,
        *,
        answer_fn: Callable[..., Mapping[str, object] | None] | None = None,
    ) -> None:
        self.settings = settings or MarketplaceSettings()
        self.answer_fn = answer_fn
        self.store = Store(db_path, self._initialise)
        # Relative local.external_pages start at the project root: the parent of .mturkmake/.
        folder = Path(db_path).resolve().parent
        self.crowd = crowd.Crowd(
            self.settings.crowd, folder.parent if folder.name == ".mturkmake" else folder
        )
        self._seed: int | None = None
        self._crowd_checked = False

    # ------------------------------------------------------------------ set-up

    def _initialise(self, tx: Tx) -> None:
        settings = self.settings
        start = to_epoch(settings.start)
        fresh = Tx(tx.conn, start, settings.seed)
        set_meta(tx.conn, "clock", repr(start))
        set_meta(tx.conn, "seed", str(settings.seed))
        money.initialise(fresh)
        for type_id, name in qualifications.CLT_SAMPLE_TYPES.items():
            qualifications.insert_type(
                fresh,
                type_id,
                name,
                {
                    "Description": "A qualification the MTurk Command Line Tools samples require "
                    "(site_filter); pre-created by the local marketplace.",
                    "QualificationTypeStatus": "Active",
                },
            )
        crowd.initialise(fresh, settings.workers, start, settings.crowd)
        set_meta(tx.conn, "crowd", crowd.fingerprint(settings.workers, settings.crowd))

    @property
    def seed(self) -> int:
        """The seed the database was created with (it wins over the settings)."""
        if self._seed is None:
            # A single-row read needs no transaction (and may run inside one).
            self._seed = int(get_meta(self.store.connection(), "seed"))
        return self._seed

    # ------------------------------------------------------------------ the API

    def call(
        self, operation: str, params: Mapping[str, Any], *, request_token_hint: str | None = None
    ) -> dict[str, Any]:
        """Run one API operation and return its JSON-ready output.

        :param params: decoded JSON input (timestamps as epoch numbers), shape-valid.
        :param request_token_hint: an id the wire layer gives every attempt of one call
            (e.g. a retry's invocation id): a repeated hint replays the first answer of a
            side-effecting call instead of acting twice.
        :raises RequestError: the request breaks a documented rule.
        """
        op = OPERATIONS.get(operation)
        if op is None:
            raise RequestError(
                f"Unknown operation {operation}.", "AWS.MechanicalTurk.InvalidParameterValue"
            )
        seed = self.seed
        if not op.writes:
            with self.store.read() as conn:
                return op.handler(Tx(conn, self._clock(conn), seed), params)
        with self.store.write() as conn:
            if request_token_hint is not None:
                row = conn.execute(
                    "SELECT operation, response FROM replays WHERE hint = ?", (request_token_hint,)
                ).fetchone()
                if row is not None and row["operation"] == operation:
                    replayed: dict[str, Any] = json.loads(row["response"])
                    return replayed
            tx = Tx(
                conn,
                self._clock(conn),
                seed,
                operation=operation,
                allow_http=self.settings.allow_http_external,
            )
            token = params.get("UniqueRequestToken") if op.token_family else None
            if token is not None:
                self._check_token(tx, op.token_family or operation, str(token))
                tx.key = f"token:{op.token_family}:{token}"
            elif op.creates:
                tx.key = f"request:{operation}:{ids.canonical(params)}"
            if op.creates:  # only creations derive ids from (key, occurrence)
                row = conn.execute(
                    "SELECT count FROM occurrences WHERE key = ?", (tx.key,)
                ).fetchone()
                tx.occurrence = int(row["count"]) if row else 0
            result = op.handler(tx, params)
            subject = tx.logged[-1][1] if tx.logged else ""
            review.settle(tx)  # events, review policies: part of the same transaction
            if op.creates:
                conn.execute(
                    "INSERT INTO occurrences (key, count) VALUES (?, 1) ON CONFLICT "
                    "(key) DO UPDATE SET count = count + 1",
                    (tx.key,),
                )
            if token is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO tokens (family, token, subject, created) "
                    "VALUES (?, ?, ?, ?)",
                    (op.token_family, token, subject, tx.now),
                )
            if request_token_hint is not None:
                rowid = conn.execute(
                    "INSERT OR REPLACE INTO replays (hint, operation, response) VALUES (?, ?, ?)",
                    (request_token_hint, operation, dumps(result)),
                ).lastrowid
                # Retries come within seconds: the latest answers are all a retry can need.
                # Pruning every REPLAYS_PRUNE_EVERY calls (not on each) keeps at least
                # REPLAYS_KEPT answers and spares every other call a statement.
                if rowid is not None and rowid % REPLAYS_PRUNE_EVERY == 0:
                    conn.execute("DELETE FROM replays WHERE rowid <= ?", (rowid - REPLAYS_KEPT,))
            return result

    @staticmethod
    def _check_token(tx: Tx, family: str, token: str) -> None:
        row = tx.one(
            "SELECT subject, created FROM tokens WHERE family = ? AND token = ?", (family, token)
        )
        if row is None:
            return
        if row["created"] + TOKEN_LIFETIME <= tx.now:
            tx.conn.execute("DELETE FROM tokens WHERE family = ? AND token = ?", (family, token))
            return
        if family == "HIT":
            raise RequestError(
                f'There is already a HIT with this UniqueRequestToken ("{token}"): '
                f"HITId {row['subject']}.",
                "AWS.MechanicalTurk.HitAlreadyExists",
            )
        # The message of a real duplicate (reference §2.3); MTurk names the request, not a
        # specific code, so the generic one.
        raise RequestError(
            f'The idempotency token "{token}" has already been processed.',
            "AWS.MechanicalTurk.InvalidParameterValue",
        )

    # ------------------------------------------------------------------ the clock

    @staticmethod
    def _clock(conn: Any) -> float:
        return float(get_meta(conn, "clock"))

    def now(self) -> datetime:
        """The virtual clock."""
        with self.store.read() as conn:
            return from_epoch(self._clock(conn))

    def advance(self, seconds: float) -> int:
        """Move the clock ``seconds`` forward, playing due events; returns how many played."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        return self.advance_to(from_epoch(to_epoch(self.now()) + seconds))

    def advance_to(
        self, when: datetime, *, watch: Collection[str] = (), settle: bool = True
    ) -> int:
        """Move the clock to ``when`` (never backwards), playing every due event once, in
        time order, under the write lock; returns how many events played.

        :param watch: HIT ids: stop right after the first event that changes one of them
            (the clock then stays at that event's time). ``--wait`` watches the HIT its
            batch waits on, so it plays every event that cannot end the wait in one call.
        :param settle: once every event due by ``when`` has played, move the clock to
            ``when``; ``False`` leaves it at the last event played.
        """
        target = to_epoch(when)
        played = 0
        watched = tuple(dict.fromkeys(watch))
        seen: dict[str, int] | None = None
        while True:
            with self.store.write() as conn:
                tx = Tx(conn, self._clock(conn), self.seed)
                if seen is None:
                    seen = _change_seqs(conn, watched)
                if not self._crowd_checked:
                    self._update_crowd(tx)
                idle: set[str] = set()  # other processes may have added work since last batch
                for _ in range(self.settings.events_per_transaction):
                    event = self.crowd.next_event(tx, idle)
                    if event is None or (
                        event.time > target and not _same_instant(event.time, target)
                    ):
                        set_meta(conn, "clock", repr(max(tx.now, target) if settle else tx.now))
                        return played
                    tx.now = max(tx.now, event.time)
                    self.crowd.play(tx, event, idle, self.answer_fn)
                    if review.settle(tx):
                        idle.clear()  # a review policy opened a slot
                    played += 1
                    if watched and _change_seqs(conn, watched) != seen:
                        set_meta(conn, "clock", repr(tx.now))
                        return played
                # the clock is stored once per transaction (events read tx.now)
                set_meta(conn, "clock", repr(tx.now))

    def _update_crowd(self, tx: Tx) -> None:
        """Bring the stored crowd up to the settings when they changed since it was made
        (a planted worker added to ``[tool.mturkmake.local]``, another accuracy…)."""
        settings = self.settings
        wanted = crowd.fingerprint(settings.workers, settings.crowd)
        try:
            stored = get_meta(tx.conn, "crowd")
        except KeyError:
            stored = None
        if stored != wanted:
            crowd.initialise(tx, settings.workers, tx.now, settings.crowd)
            set_meta(tx.conn, "crowd", wanted)
        self._crowd_checked = True

    def next_event_time(self) -> datetime | None:
        """When the next crowd or lifecycle event is due (None when nothing will happen).

        ``--wait`` uses it to advance event by event; nothing is played or changed.
        """
        with self.store.write() as conn:
            conn.execute("SAVEPOINT peek")
            try:
                event = self.crowd.next_event(Tx(conn, self._clock(conn), self.seed), set())
            finally:
                # finding work may make a worker request a qualification: undo it
                conn.execute("ROLLBACK TO peek")
                conn.execute("RELEASE peek")
        return None if event is None else from_epoch(event.time)

    def change_mark(self) -> int:
        """The mark of the latest change of any HIT (see :meth:`hits_changed_since`)."""
        with self.store.read() as conn:
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM hit_changes").fetchone()
        return int(row[0])

    def hits_changed_since(self, mark: int = 0) -> tuple[int, frozenset[str]]:
        """The HITs whose API-visible state (the HIT, its assignments, its review policies'
        reports) changed after ``mark``, and the mark to ask from next time.

        Marks are sequence numbers of changes, growing with every change by any process
        (``store.TRIGGERS``); :meth:`change_mark` is the latest. Local-only (no API operation):
        a local ``--wait`` polls only these HITs, not every HIT that is not final.
        """
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT hit_id, seq FROM hit_changes WHERE seq > ? ORDER BY seq", (mark,)
            ).fetchall()
        if not rows:
            return mark, frozenset()
        return int(rows[-1]["seq"]), frozenset(str(r["hit_id"]) for r in rows)

    # ------------------------------------------------------------------ local-only calls

    def status(self) -> dict[str, Any]:
        """The clock, the balance, the counts of HITs and assignments by status, and of
        assignments returned or abandoned (``given_back``)."""
        with self.store.read() as conn:
            tx = Tx(conn, self._clock(conn), self.seed)
            tally = hits.counts(tx)
            by_status: dict[str, int] = {}
            for hit in hits.all_hits(tx):
                state = hits.status(hit, tally.get(hit.id, hits.Counts()), tx.now)
                by_status[state] = by_status.get(state, 0) + 1
            by_state = {
                r["state"]: r["n"]
                for r in tx.all(
                    "SELECT state, COUNT(*) AS n FROM assignments GROUP BY state ORDER BY state"
                )
            }
            # Returned and abandoned slots went back to the HIT: counted apart from the work.
            given_back = {s: by_state.pop(s) for s in ("Abandoned", "Returned") if s in by_state}
            reserved = hits.total_reservation(tx)
            return {
                "clock": from_epoch(tx.now).isoformat().replace("+00:00", "Z"),
                "seed": tx.seed,
                "balance": str(money.available(tx)),
                "reserved": str(reserved),
                "spent": str(money.spent(tx)),
                "balanced": money.audit(tx, reserved),
                "hits": by_status,
                "assignments": by_state,
                "given_back": given_back,
                "workers": len(tx.all("SELECT id FROM workers")),
            }

    def reset(self) -> None:
        """Erase everything and start again from the settings (seed, start, crowd)."""
        self.store.wipe()
        self._seed = None
        self._crowd_checked = False

    def register_truth(self, hit_id: str, truth: Mapping[str, str]) -> None:
        """Record the true answers of a HIT (local-only; never an API field)."""
        with self.store.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO truths (hit_id, truth) VALUES (?, ?)",
                (hit_id, dumps(dict(truth))),
            )

    def request_qualification(self, type_id: str, worker_id: str, answer: str | None = None) -> str:
        """A worker requests a qualification (local-only: MTurk has no worker API).

        :param answer: the test's QuestionFormAnswers XML, graded at once with an AnswerKey.
        :returns: the QualificationRequestId.
        :raises RequestError: the type is not requestable, or its retake rules forbid it.
        """
        with self.store.write() as conn:
            tx = Tx(conn, self._clock(conn), self.seed)
            return qualifications.submit_request(tx, type_id, worker_id, answer)

    def register_layout(self, name: str, content: str) -> str:
        """Register a HIT layout (local-only: MTurk's layouts are made on its website);
        returns its HITLayoutId. :raises ValueError: an empty name or template."""
        with self.store.write() as conn:
            return layouts.register(Tx(conn, self._clock(conn), self.seed), name, content)

    def layouts(self) -> list[dict[str, Any]]:
        """Every registered layout (id, name, placeholders)."""
        with self.store.read() as conn:
            return layouts.listing(Tx(conn, self._clock(conn), self.seed))

    def events(self, after: int = 0) -> list[dict[str, Any]]:
        """The notification messages logged after sequence number ``after``, oldest first
        (each: ``seq``, ``transport``, ``destination``, ``message``)."""
        with self.store.read() as conn:
            return notifications.log_after(Tx(conn, self._clock(conn), self.seed), after)

    def request_log(self) -> list[tuple[str, str]]:
        """Every accepted side-effecting call as (operation, subject id), in order."""
        with self.store.read() as conn:
            return [
                (r["operation"], r["subject"])
                for r in conn.execute("SELECT operation, subject FROM request_log ORDER BY seq")
            ]

    def close(self) -> None:
        """Close this thread's database connection."""
        self.store.close()


def _change_seqs(conn: Any, hit_ids: tuple[str, ...]) -> dict[str, int]:
    """The sequence numbers of the last changes of ``hit_ids`` (absent: never changed)."""
    if not hit_ids:
        return {}
    marks = ",".join("?" * len(hit_ids))
    return {
        str(r[0]): int(r[1])
        for r in conn.execute(
            f"SELECT hit_id, seq FROM hit_changes WHERE hit_id IN ({marks})", hit_ids
        )
    }


def _same_instant(event_time: float, target: float) -> bool:
    """Whether ``event_time`` is ``target`` at the datetime's microsecond resolution.

    Event times are floats; :meth:`Marketplace.next_event_time` hands them out as datetimes,
    which round to the microsecond, so ``advance_to(next_event_time())`` must play the event
    even when the rounding landed a hair before it.
    """
    return to_epoch(from_epoch(event_time)) <= target
