"""Resolving intents left without an outcome (DESIGN §3's recovery table).

A pending intent is one whose call may or may not have reached MTurk (a crash, a timeout,
exhausted retries). Each command registers, per operation, a ``retry`` — the same call with
the same ``UniqueRequestToken``, which MTurk deduplicates for 24 h — and a ``lookup`` that
finds the side effect without causing one (GetHIT, GetAssignment, ListBonusPayments…).
:meth:`mturkmake.mturk.ledger.Ledger.recover` picks between them by the intent's age.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mturkmake.hookspecs import Recovery

if TYPE_CHECKING:
    from mturkmake.mturk.ledger import Intent

#: MTurk forgets a UniqueRequestToken after 24 h; an hour of margin for clock differences.
RETRY_WINDOW = timedelta(hours=23)


@dataclass(frozen=True)
class Resolution:
    """What a retry or a lookup found out about a pending intent.

    :param happened: whether the side effect exists remotely.
    :param remote_id: its id (HITId, QualificationTypeId…), when it has one.
    :param result: details worth keeping (stored as JSON).
    """

    happened: bool
    remote_id: str | None = None
    result: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def found(
        cls, remote_id: str | None = None, result: Mapping[str, Any] | None = None
    ) -> Resolution:
        """The side effect exists."""
        return cls(True, remote_id, dict(result or {}))

    @classmethod
    def absent(cls, reason: str) -> Resolution:
        """The side effect certainly does not exist; the subject may be intended afresh."""
        return cls(False, None, {"reason": reason})


#: ``resolver(client, intent) -> Resolution``; raises LedgerError when the answer is ambiguous.
Resolver = Callable[[Any, "Intent"], Resolution]


class Recoveries:
    """The recovery table of DESIGN §3: each command registers its operations' resolvers."""

    def __init__(self) -> None:
        self._table: dict[str, Recovery] = {}

    def register_recovery(
        self, operation: str, *, retry: Resolver | None = None, lookup: Resolver | None = None
    ) -> None:
        """Register how to resolve a pending ``operation``.

        :param retry: re-sends the intent's call with the intent's token; used only while the
            intent is younger than :data:`RETRY_WINDOW`, when MTurk still deduplicates it.
        :param lookup: finds the side effect without causing one (GetHIT, ListBonusPayments…);
            the only way once the token may have expired.
        """
        if retry is None and lookup is None:
            raise ValueError(f"{operation}: a recovery needs a retry or a lookup")
        self._table[operation] = Recovery(operation, retry, lookup)

    @classmethod
    def of(cls, declared: Iterable[Recovery]) -> Recoveries:
        """A registry of the recoveries plugins declared (``mturkmake_recoveries``); a later
        declaration of an operation replaces an earlier one."""
        recoveries = cls()
        for recovery in declared:
            recoveries.register_recovery(
                recovery.operation, retry=recovery.retry, lookup=recovery.lookup
            )
        return recoveries

    def get(self, operation: str) -> Recovery | None:
        """The registered recovery of ``operation``, if any."""
        return self._table.get(operation)

    def resolver_for(self, intent: Intent, now: datetime) -> tuple[str, Resolver]:
        """How to resolve pending ``intent`` at ``now`` (the endpoint's clock): ``("retry",
        …)`` while it is younger than :data:`RETRY_WINDOW` and its operation has a retry, else
        ``("lookup", …)`` — a token MTurk no longer remembers would make a retry a second call.

        :raises LedgerError: no recovery is registered for the operation, or the intent is
            too old to retry and its operation has no lookup.
        """
        from mturkmake.errors import LedgerError

        recovery = self.get(intent.operation)
        what = f"{intent.operation} for {intent.batch} {intent.subject}"
        if recovery is None:
            raise LedgerError(
                f"{what} is pending and no recovery is registered for it",
                hint="load the plugin that made it, then run again",
            )
        if now - intent.created_at < RETRY_WINDOW and recovery.retry is not None:
            return "retry", recovery.retry
        if recovery.lookup is not None:
            return "lookup", recovery.lookup
        since = intent.created_at.isoformat(timespec="microseconds")
        raise LedgerError(
            f"{what} is pending since {since}; its token has expired and no lookup is "
            "registered, so it cannot be resolved safely",
            hint="check the requester site, then archive the entry",
        )


@dataclass(frozen=True)
class Recovered:
    """One pending intent that :meth:`Ledger.recover` resolved, and how."""

    intent: Intent
    how: str
    resolution: Resolution
