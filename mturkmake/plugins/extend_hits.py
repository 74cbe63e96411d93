"""extendHITs: add assignments and/or hours to the HITs of a ``.success`` file (seed 003).

``extendHITs -successfile F [-assignments N] [-hours N]``. As seed 003: a HIT that has not
expired gets its expiration plus the hours; an expired one gets now (the endpoint's clock)
plus the hours. Output as seed 003, after the cost line::

    Cost: 5 HITs × 4 more assignments × $0.05 = … (local marketplace: no real money)
    --- Starting to extend HITs ---
    [<hit>] Successfully extended HIT (1/5)
    --- Finished to extend HITs ---
      5 HITs have been extended (added 4 assignment(s), 3 hour(s))
      0 HITs failed to be extended.

Departures (DESIGN §3, §4): every extension is a ledger intent (extra assignments with a
request token); each run is a new intent, so ``-assignments 1`` twice adds two — but a run
whose recovery completed a pending identical extension of a HIT (a stopped earlier run's) sends
nothing more for that HIT unless ``--again``. A HIT that would go from fewer than 10 to 10 or
more assignments is refused before any call (MTurk refuses it, and the fee doubles from 20 %
to 40 %). The added assignments are checked against the budget before the first call. Any
failure exits 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from mturkmake import fees
from mturkmake.errors import MturkmakeError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Flag, Recovery, hookimpl
from mturkmake.mturk.prompts import error, say

__all__ = ["ADD", "EXPIRE", "handle_extend_hits"]

ADD = "CreateAdditionalAssignmentsForHIT"
EXPIRE = "UpdateExpirationForHIT"
AGAIN = Flag(
    "again",
    None,
    "extend again although recovery just completed this extension of a stopped run (mturkmake)",
)


def _positive(args: Mapping[str, Any], name: str) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return 0
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(
            f"-{name} {raw}: give a whole number greater than 0",
            hint=f"e.g. -{name} 2",
        )
    return value


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def hit_price(hit: Mapping[str, Any], extra: int) -> Decimal:
    """Reward and fees of ``extra`` more assignments on ``hit`` (GetHIT), premium
    qualification fees included."""
    total = int(hit.get("MaxAssignments", 1)) + extra
    requirements = hit.get("QualificationRequirements") or []
    masters = any(
        r.get("QualificationTypeId") in fees.MASTERS_QUALIFICATION_IDS.values()
        for r in requirements
    )
    premium = fees.premium_fee(r.get("QualificationTypeId", "") for r in requirements)
    cost = fees.hit_cost(str(hit.get("Reward", "0")), extra, max_assignments=total, masters=masters)
    return cost + premium * extra


def _subject(ledger: Any, operation: str, batch: str, hit_id: str) -> str:
    """A new subject for this run's extension of ``hit_id``: each run is a new intent."""
    n = 1
    while ledger.outcome(operation, batch, f"{hit_id}#{n}") is not None:
        n += 1
    return f"{hit_id}#{n}"


def _refuse_large_batch_crossing(hits: Mapping[str, Mapping[str, Any]], extra: int) -> None:
    crossing = [
        (hit_id, int(hit["MaxAssignments"]))
        for hit_id, hit in hits.items()
        if int(hit["MaxAssignments"])
        < fees.LARGE_BATCH_ASSIGNMENTS
        <= int(hit["MaxAssignments"]) + extra
    ]
    if crossing:
        hit_id, before = crossing[0]
        more = f" (and {len(crossing) - 1} more HITs)" if len(crossing) > 1 else ""
        raise UsageError(
            f"HIT {hit_id} has {before} assignments; {extra} more would make "
            f"{before + extra}{more}: MTurk refuses to take a HIT from fewer than 10 to 10 or "
            "more assignments (and the fee on the reward doubles from 20 % to 40 %); nothing "
            "was sent",
            hint="add fewer assignments, or post a new batch with 10 or more assignments per HIT",
        )


def handle_extend_hits(args: Mapping[str, Any], ctx: Context) -> int:
    """``extendHITs -successfile F [-assignments N] [-hours N] [--again]``."""
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.endpoint import ledger_call, service_call
    from mturkmake.mturk.hit_commands import open_command_session, success_hits
    from mturkmake.plugins import clt_catalog

    clt_catalog.check_one_of("extendHITs", args)
    extra = _positive(args, "assignments")
    hours = _positive(args, "hours")
    hit_ids = success_hits(str(args["successfile"]))
    failed: list[str] = []
    extended = 0
    budget: Decimal | None = None
    price: dict[str, Decimal] = {}
    with open_command_session(ctx) as run:
        ledger, client = run.ledger, run.client
        hits: dict[str, dict[str, Any]] = {}
        missing: dict[str, str] = {}
        for h in hit_ids:
            try:
                hits[h] = service_call(client, "GetHIT", HITId=h)["HIT"]
            except MturkmakeError as exc:  # reported with the HIT, as the CLT did
                missing[h] = exc.one_line()
        run.refuse_foreign(hits, source=str(args["successfile"]))
        done_by_recovery = {
            (r.intent.operation, str(r.intent.params.get("HITId")))
            for r in run.recovered
            if r.resolution.happened
            and (
                (
                    r.intent.operation == ADD
                    and int(r.intent.params.get("NumberOfAdditionalAssignments", 0)) == extra
                )
                or (r.intent.operation == EXPIRE and int(r.intent.params.get("_Hours", 0)) == hours)
            )
        }
        if args.get("again"):
            done_by_recovery = set()
        if extra:
            _refuse_large_batch_crossing(hits, extra)
            todo = [h for h in hits if (ADD, h) not in done_by_recovery]
            rewards = {fees.to_money(str(hits[h].get("Reward", "0"))) for h in todo}
            price = {h: hit_price(hits[h], extra) for h in todo}
            payments = sum(
                (fees.to_money(str(hits[h]["Reward"])) * extra for h in todo), Decimal("0.00")
            )
            reward_text = f"${rewards.pop()}" if len(rewards) == 1 else "their rewards"
            cost = spending.Cost(
                f"{len(todo)} HIT{'s' if len(todo) != 1 else ''} × {extra} more "
                f"assignment{'s' if extra != 1 else ''} × {reward_text}",
                payments,
                sum(price.values(), Decimal("0.00")) - payments,
            )
            budget = spending.begin_money_step(ctx, ledger, cost)
        say(ctx, "--- Starting to extend HITs ---")
        now = run.session.endpoint.clock()
        for index, hit_id in enumerate(hit_ids, start=1):
            if hit_id in missing:
                failed.append(hit_id)
                where = f"({index}/{len(hit_ids)})"
                error(ctx, f"[{hit_id}] Error extending HIT {where}: {missing[hit_id]}")
                continue
            hit = hits[hit_id]
            batch = run.batch_of(hit_id)
            try:
                if extra and (ADD, hit_id) not in done_by_recovery:
                    params = {
                        "HITId": hit_id,
                        "NumberOfAdditionalAssignments": extra,
                        "_MaxAssignmentsBefore": int(hit["MaxAssignments"]),
                    }
                    with ledger.intent(
                        ADD,
                        batch,
                        _subject(ledger, ADD, batch, hit_id),
                        params,
                        exposure=price[hit_id],
                        budget=budget,
                    ) as intent:
                        ledger_call(intent, client)
                        intent.done(hit_id)
                if hours and (EXPIRE, hit_id) not in done_by_recovery:
                    expiration = _utc(hit["Expiration"])
                    start = expiration if expiration > _utc(now) else _utc(now)
                    expire_at = start + timedelta(hours=hours)
                    params = {"HITId": hit_id, "ExpireAt": expire_at, "_Hours": hours}
                    with ledger.intent(
                        EXPIRE, batch, _subject(ledger, EXPIRE, batch, hit_id), params
                    ) as intent:
                        ledger_call(intent, client)
                        intent.done(hit_id)
            except MturkmakeError as exc:  # reported per HIT, as the CLT did
                failed.append(hit_id)
                error(
                    ctx,
                    f"[{hit_id}] Error extending HIT ({index}/{len(hit_ids)}): {exc.one_line()}",
                )
                continue
            assert run.decider is not None
            run.decider.changed.add(hit_id)
            extended += 1
            say(ctx, f"[{hit_id}] Successfully extended HIT ({index}/{len(hit_ids)})")
    say(ctx, "--- Finished to extend HITs ---")
    say(
        ctx,
        f"  {extended} HITs have been extended (added {extra} assignment(s), {hours} hour(s))",
    )
    say(ctx, f"  {len(failed)} HITs failed to be extended.")
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``extendHITs`` (and ``extend_hits``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("extendHITs").spec(handle_extend_hits, extra_flags=(AGAIN,)),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(operation) for operation in (ADD, EXPIRE)]
