"""updateHITs: move the HITs of a ``.success`` file to a new HIT type (seed 003; CLT 1.3.1).

``updateHITs -success F -properties P``. As the CLT: one HIT type is registered from the
properties (CreateHITType, which moves no money), then each HIT is moved to it
(UpdateHITTypeOfHIT, a ledger intent: a re-run of the same change sends nothing). Output as
seed 003 (``--[Initializing]``, ``--[Updating HITs]``, ``Updated HIT #0 (<hit>) to new HITTypeId
<type>``, ``--[Done Updating HITs]``, the counts and the time). The output file is the CLT's:
``<F>.success`` (``hitid<TAB>hittypeid`` with the new type), appended with its header on every
run, and ``<F>.failure`` with the old type of each HIT that failed.

Departures: a reward change prints its cost — the difference on every assignment not yet
approved or rejected, fees (large-batch, Masters, premium qualifications) included — and an
increase is checked against the budget before the first call. Any failure exits 2.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from mturkmake import fees
from mturkmake.errors import FormatError, MturkmakeError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import error, say

__all__ = ["handle_update_hits", "reward_change_cost"]

UPDATE = "UpdateHITTypeOfHIT"


def _per_assignment(
    reward: Decimal, hit: Mapping[str, Any], requirements: Sequence[Mapping[str, Any]]
) -> Decimal:
    ids = [str(r.get("QualificationTypeId", "")) for r in requirements]
    masters = any(q in fees.MASTERS_QUALIFICATION_IDS.values() for q in ids)
    maximum = int(hit.get("MaxAssignments", 1) or 1)
    return fees.assignment_cost(
        reward, max_assignments=maximum, masters=masters
    ) + fees.premium_fee(ids)


def reward_change_cost(
    hits: Sequence[Mapping[str, Any]], new_type: Mapping[str, Any]
) -> tuple[Any, dict[str, Decimal]]:
    """The :class:`~mturkmake.mturk.money.Cost` of moving ``hits`` (GetHIT records) to
    ``new_type`` (CreateHITType's arguments), and each HIT's share; ``None`` when nothing
    changes in price."""
    from mturkmake.mturk.money import Cost

    new_reward = fees.to_money(str(new_type["Reward"]))
    new_requirements = list(new_type.get("QualificationRequirements") or [])
    payments = total = Decimal("0.00")
    shares: dict[str, Decimal] = {}
    slots_total = 0
    old_rewards: set[Decimal] = set()
    for hit in hits:
        old_reward = fees.to_money(str(hit.get("Reward", "0")))
        old_rewards.add(old_reward)
        slots = int(hit.get("MaxAssignments", 1)) - int(
            hit.get("NumberOfAssignmentsCompleted", 0) or 0
        )
        before = _per_assignment(old_reward, hit, list(hit.get("QualificationRequirements") or []))
        after = _per_assignment(new_reward, hit, new_requirements)
        share = (after - before) * slots
        shares[str(hit["HITId"])] = share
        payments += (new_reward - old_reward) * slots
        total += share
        slots_total += slots
    if total == 0 and payments == 0:
        return None, shares
    old = f"${old_rewards.pop()}" if len(old_rewards) == 1 else "their rewards"
    what = (
        f"{len(hits)} HIT{'s' if len(hits) != 1 else ''}, reward {old} → ${new_reward} on "
        f"{slots_total} open assignment{'s' if slots_total != 1 else ''}"
    )
    return Cost(what, payments, total - payments), shares


def _append(path: Path, rows: Sequence[tuple[str, str]]) -> None:
    """Append the CLT's ``hitid<TAB>hittypeid`` block (header included, as HITDataWriter)."""
    with path.open("a", encoding="utf-8", newline="") as stream:
        stream.write("hitid\thittypeid\n")
        for hit_id, type_id in rows:
            stream.write(f"{hit_id}\t{type_id}\n")


def handle_update_hits(args: Mapping[str, Any], ctx: Context) -> int:
    """``updateHITs -success F -properties P``."""
    from mturkmake.formats.hit_properties import load_hit_properties
    from mturkmake.formats.success import read_success
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.endpoint import ledger_call, service_call
    from mturkmake.mturk.hit_commands import open_command_session
    from mturkmake.mturk.hits import HitTypes
    from mturkmake.mturk.settings import settings
    from mturkmake.plugins.templating import JavaDate, default_today

    success, properties = str(args["success"]), str(args["properties"])
    if not Path(success).is_file():
        raise FormatError("no such file (given as -success)", file=success)
    if not Path(properties).is_file():
        raise FormatError("no such file (given as -properties)", file=properties)
    with Path(success).open("rb") as stream:
        listed = {row.hit_id: row.hit_type_id for row in read_success(stream, source=success)}
    props = load_hit_properties(properties, endpoint_kind=settings(ctx.config).kind)
    new_type = props.hit_type_params()
    started = time.monotonic()
    say(ctx, "--[Initializing]----------")
    say(ctx, f" Success File: {success}")
    say(ctx, f" Properties: {properties}")
    updated: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    with open_command_session(ctx) as run:
        ledger, client = run.ledger, run.client
        hits: list[dict[str, Any]] = []
        missing: dict[str, str] = {}
        for h in listed:
            try:
                hits.append(service_call(client, "GetHIT", HITId=h)["HIT"])
            except MturkmakeError as exc:  # reported with the HIT below
                missing[h] = exc.one_line()
        run.refuse_foreign({str(h.get("HITId", "")): h for h in hits}, source=success)
        cost, shares = reward_change_cost(hits, new_type)
        budget = spending.begin_money_step(ctx, ledger, cost) if cost is not None else None
        type_id = HitTypes(client).ensure(new_type)
        say(ctx, "--[Updating HITs]----------")
        say(ctx, f"  Start time: {JavaDate(default_today())}")
        say(ctx, f"  Input: {len(listed)} hitids")
        say(ctx, f"  New HITTypeId: {type_id}")
        for index, (hit_id, old_type) in enumerate(listed.items()):
            if hit_id in missing:
                failed.append((hit_id, old_type))
                error(ctx, f"Failed to update HIT #{index} ({hit_id}): {missing[hit_id]}")
                continue
            batch = run.batch_of(hit_id)
            subject = f"{hit_id}:{type_id}"
            try:
                if not ledger.is_done(UPDATE, batch, subject):
                    params = {"HITId": hit_id, "HITTypeId": type_id}
                    share = max(shares.get(hit_id, Decimal("0")), Decimal("0"))
                    with ledger.intent(
                        UPDATE, batch, subject, params, exposure=share, budget=budget
                    ) as intent:
                        ledger_call(intent, client)
                        intent.done(hit_id)
            except MturkmakeError as exc:
                failed.append((hit_id, old_type))
                error(ctx, f"Failed to update HIT #{index} ({hit_id}): {exc.one_line()}")
                continue
            assert run.decider is not None
            run.decider.changed.add(hit_id)
            updated.append((hit_id, type_id))
            say(ctx, f"Updated HIT #{index} ({hit_id}) to new HITTypeId {type_id}")
    _append(Path(f"{success}.success"), updated)
    if failed:
        _append(Path(f"{success}.failure"), failed)
    say(ctx, f"  End time: {JavaDate(default_today())}")
    say(ctx, "--[Done Updating HITs]----------")
    say(ctx, f"{len(listed)} HITS were processed")
    say(ctx, f"{len(updated)} HITS were updated")
    say(ctx, f"  Total load time: {int(time.monotonic() - started)} seconds.")
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``updateHITs`` (and ``update_hits``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("updateHITs").spec(handle_update_hits),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(UPDATE)]
