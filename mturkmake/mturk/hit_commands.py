"""What the CLT's HIT commands share: a session that remembers what recovery completed, the
HITs of a ``.success`` file, and the ledger batch a HIT belongs to.

extendHITs, deleteHITs, updateHITs, resetAccount and grantBonus open their endpoint and
ledger here rather than with :func:`~mturkmake.mturk.endpoint.open_session` because they
must know which pending intents the recovery just completed: a re-run after a crash that
finds its own call already done sends nothing more (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError, UsageError
from mturkmake.mturk.decisions import Decider, release_rejections
from mturkmake.mturk.endpoint import Session, open_run_ledger, run_endpoint
from mturkmake.mturk.project import foreign_reason

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context
    from mturkmake.mturk.recovery import Recovered

__all__ = [
    "CommandSession",
    "open_command_session",
    "success_hits",
]


@dataclass
class CommandSession:
    """A :class:`Session` plus what its recovery resolved and a :class:`Decider`."""

    session: Session
    recovered: list[Recovered] = field(default_factory=list)
    decider: Decider | None = None

    @property
    def client(self) -> Any:
        """The endpoint's client."""
        return self.session.client

    @property
    def ledger(self) -> Any:
        """The run's ledger."""
        return self.session.ledger

    def completed(self, operation: str) -> list[Recovered]:
        """The pending intents of ``operation`` this run's recovery found done."""
        return [
            r for r in self.recovered if r.intent.operation == operation and r.resolution.happened
        ]

    def refuse_foreign(self, hits: Mapping[str, Mapping[str, Any]], *, source: str) -> None:
        """Stop before any call if one of ``hits`` (GetHIT records by HIT id) carries
        another mturkmake project's marker: a copied folder must not change the HITs, and
        so the money, of the project it was copied from.

        :raises UsageError: naming ``source`` (the ``.success`` file) and the HIT.
        """
        for hit_id, hit in hits.items():
            reason = foreign_reason(hit_id, hit, self.ledger.project)
            if reason:
                raise UsageError(
                    f"{reason}; nothing was changed",
                    file=source,
                    hint="run this command from that project's folder, or remove the HIT "
                    "from the file",
                )

    def batch_of(self, hit_id: str) -> str:
        """The ledger batch that created ``hit_id`` (or the endpoint's outside batch)."""
        assert self.decider is not None
        return self.decider.batch_of(hit_id)[0]


@contextmanager
def open_command_session(ctx: Context) -> Iterator[CommandSession]:
    """Endpoint and ledger, pending intents resolved first (with the loaded plugins'
    recoveries), unreleased rejections released; the ledger is closed after and the
    changed batches' targets are marked incomplete."""
    from mturkmake.mturk.recovery import Recoveries

    endpoint = run_endpoint(ctx)
    ledger = open_run_ledger(ctx.config, endpoint)
    try:
        recovered = ledger.recover(endpoint.client, Recoveries.of(ctx.host.recoveries()))
        release_rejections(ledger)
        decider = Decider(ledger, endpoint.client)
        command = CommandSession(Session(endpoint, ledger), recovered, decider)
        try:
            yield command
        finally:
            decider.mark_changed()
    finally:
        ledger.close()


def success_hits(path: str, *, flag: str = "-successfile") -> list[str]:
    """The HIT ids of a ``.success`` file, in file order, without repeats.

    :raises FormatError: the file is missing or malformed (one line naming it).
    """
    from mturkmake.formats.success import read_success

    source = Path(path)
    if not source.is_file():
        raise FormatError(
            f"no such file (given as {flag})",
            file=path,
            hint="give the .success file that loadHITs wrote",
        )
    with source.open("rb") as stream:
        ids = [row.hit_id for row in read_success(stream, source=path)]
    return list(dict.fromkeys(ids))
