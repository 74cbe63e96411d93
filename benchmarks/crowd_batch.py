"""Benchmark: a 1,000-HIT × 3-assignment batch through the local marketplace, in process.

Creates ``--hits`` HITs (a QuestionForm with a radio selection and a constrained free-text
field, merged per row) with a real boto3 client answered in process, registers each HIT's true
answers, advances the virtual clock one hour so the default crowd (20 workers) works the batch,
lists every assignment, and approves them all. Prints the wall time of each phase, the total,
and how many assignments the crowd completed within the virtual hour. On a shared machine the
CPU time (this process's) shows the cost without the wait for a free core.

``--check`` exits 1 unless every assignment was submitted within the virtual hour and the
whole create → submit → approve took at most ``--max-seconds`` of wall time.

Usage: ``python benchmarks/crowd_batch.py [--hits 1000] [--assignments 3] [--check]
[--repeat 3]``. Figures are the median run's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mturkmake.marketplace.inprocess import make_local_client
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings
from mturkmake.mturk.settings import mturk_config

FORM = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/\
2017-11-06/QuestionForm.xsd">
<Question><QuestionIdentifier>label</QuestionIdentifier><IsRequired>true</IsRequired>
<QuestionContent><Text>Is picture {row} a cat or a dog?</Text></QuestionContent>
<AnswerSpecification><SelectionAnswer><StyleSuggestion>radiobutton</StyleSuggestion>
<Selections><Selection><SelectionIdentifier>cat</SelectionIdentifier><Text>Cat</Text></Selection>
<Selection><SelectionIdentifier>dog</SelectionIdentifier><Text>Dog</Text></Selection>
</Selections></SelectionAnswer></AnswerSpecification></Question>
<Question><QuestionIdentifier>count</QuestionIdentifier>
<QuestionContent><Text>How many animals?</Text></QuestionContent>
<AnswerSpecification><FreeTextAnswer><Constraints><IsNumeric minValue="0" maxValue="20"/>
</Constraints></FreeTextAnswer></AnswerSpecification></Question>
</QuestionForm>"""


def client_for(market: Marketplace, folder: Path) -> Any:
    """The client mturkmake itself uses on the local endpoint (``make_local_client``),
    answered in process by ``market``."""
    config = mturk_config(folder, "local", values={}, sources={})
    return make_local_client(config, marketplace=market)


def run(folder: Path, hits: int, assignments: int) -> dict[str, float]:
    """Run the batch; returns the phases' wall times and the counts."""
    market = Marketplace(folder / "local-marketplace.db", MarketplaceSettings(seed=1))
    client = client_for(market, folder)
    timings: dict[str, float] = {}
    start, cpu = time.perf_counter(), time.process_time()
    hit_type = client.create_hit_type(
        Title="Cat or dog",
        Description="Label a picture",
        Reward="0.05",
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=259200,
    )["HITTypeId"]
    hit_ids = []
    for row in range(hits):
        hit_id = client.create_hit_with_hit_type(
            HITTypeId=hit_type,
            LifetimeInSeconds=86400,
            MaxAssignments=assignments,
            Question=FORM.replace("{row}", str(row)),
            UniqueRequestToken=f"bench-{row}",
        )["HIT"]["HITId"]
        market.register_truth(hit_id, {"label": "cat" if row % 2 else "dog", "count": "2"})
        hit_ids.append(hit_id)
    timings["create"] = time.perf_counter() - start
    mark = time.perf_counter()
    timings["events"] = market.advance(3600)
    timings["advance"] = time.perf_counter() - mark
    mark = time.perf_counter()
    submitted = []
    for hit_id in hit_ids:
        listed = client.list_assignments_for_hit(
            HITId=hit_id, MaxResults=100, AssignmentStatuses=["Submitted"]
        )
        submitted += [a["AssignmentId"] for a in listed["Assignments"]]
    timings["list"] = time.perf_counter() - mark
    mark = time.perf_counter()
    for assignment_id in submitted:
        client.approve_assignment(AssignmentId=assignment_id)
    timings["approve"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - start
    timings["cpu"] = time.process_time() - cpu
    timings["submitted"] = len(submitted)
    market.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; with ``--check``, exit 1 when it misses its targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--assignments", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is judged")
    args = parser.parse_args(argv)
    runs = []
    for _ in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory() as folder:
            runs.append(run(Path(folder), args.hits, args.assignments))
    runs.sort(key=lambda r: r["total"])
    t = runs[len(runs) // 2]  # the median run by total wall time
    print(f"runs: {len(runs)}; totals: " + ", ".join(f"{r['total']:.2f} s" for r in runs))
    wanted = args.hits * args.assignments
    print(f"batch: {args.hits:,} HITs x {args.assignments} assignments")
    print(f"create: {t['create']:.2f} s ({args.hits / t['create']:,.0f} HITs/s)")
    print(f"advance 1 virtual hour: {t['advance']:.2f} s ({t['events']:,.0f} events)")
    print(f"list: {t['list']:.2f} s; approve: {t['approve']:.2f} s")
    print(f"submitted within the virtual hour: {t['submitted']:,.0f} of {wanted:,}")
    print(f"total (create -> submit -> approve): {t['total']:.2f} s wall, {t['cpu']:.2f} s CPU")
    ok = t["submitted"] == wanted and t["total"] <= args.max_seconds
    if args.check and not ok:
        print(
            f"FAILED: want all {wanted:,} submitted and at most {args.max_seconds:g} s",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
