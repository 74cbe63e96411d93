"""``%.report.html``: the batch at a glance, with the verdicts ``-n`` would give, on the local
marketplace through the CLI; and its size for 1,000 HITs."""

from __future__ import annotations

import re
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from mturkmake.formats.tabfile import format_row
from mturkmake.testing import Project, make_context
from tests.plugins.test_approved_rule import calls, exposure
from tests.plugins.test_review_page import PLANTED, labelling_batch


def _fact(page: str, ident: str) -> str:
    found = re.search(rf'id="{ident}">[^<]*<b>([^<]*)</b>', page)
    assert found, ident
    return found.group(1)


def _workers(page: str) -> list[tuple[str, str]]:
    return re.findall(r'data-worker="([^"]+)" data-agreement="([^"]*)"', page)


def test_the_report_shows_the_careless_worker_and_the_rejections_before_anything_is_sent(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project)
    result = project.run("pets.report.html")
    assert result.exit_code == 0, result.output
    assert "30 open assignments, 10 rejections proposed; nothing was sent" in result.stdout
    page = project.read("pets.report.html")
    assert calls(project) == Counter()
    assert not project.path("pets.approved").exists()

    workers = _workers(page)
    assert workers[0] == (PLANTED, "0.0000"), "the least agreeing worker comes first"
    assert all(float(a) > 0 for w, a in workers[1:] if a)
    # the proposals agree with -n, rejections first, with the feedback the worker would see
    dry = project.run("-n", "pets.approved")
    assert "20 would be approved, 10 rejected" in dry.stdout
    combined = page.split('id="mm-combined"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-decision="(\w+)">(.*?)</tr>', combined)
    assert [d for d, _ in rows] == ["reject", "approve"]
    assert PLANTED in rows[0][1]
    assert ">10<" in rows[0][1]
    assert "known answers on 0 of" in rows[0][1]
    assert ">20<" in rows[1][1]
    planted_ids = {
        r["assignmentid"] for r in project.table("pets.results") if r["workerid"] == PLANTED
    }
    assert set(re.search(r'mm-ids">([^<]*)<', rows[0][1]).group(1).split()) == planted_ids  # type: ignore[union-attr]
    # progress, money, deadline
    assert _fact(page, "mm-assignments") == "30 of 30"
    assert _fact(page, "mm-open") == "30"
    assert _fact(page, "mm-committed") == f"${exposure(project)}"
    assert _fact(page, "mm-spent") == "$0.00"
    assert _fact(page, "mm-to-pay") == "$1.20"  # 20 approvals × ($0.05 + $0.01 fee)
    assert _fact(page, "mm-left") == "no budget set"
    deadline = min(r["autoapprovaltime"] for r in project.table("pets.results"))
    assert _fact(page, "mm-deadline") == deadline
    # answers per question, selections by their text; a worker's markup is text
    assert "A cat (cat)" in page
    assert "A dog (dog)" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; AT&amp;T" in page
    # self-contained: nothing from elsewhere, no script at all
    for needle in ("<script", "<link", "src=", "@import", "url(", "http://", "https://"):
        assert needle not in page, needle


def test_after_payment_the_report_shows_what_was_spent_and_nothing_open(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project)
    project.configure(budget=20)
    assert project.run("pets.approved").exit_code == 0
    result = project.run("pets.report.html")
    assert result.exit_code == 0, result.output
    page = project.read("pets.report.html")
    assert _fact(page, "mm-open") == "0"
    assert _fact(page, "mm-spent") == "$1.20"
    assert _fact(page, "mm-committed") == f"${exposure(project)}"
    assert _fact(page, "mm-left") == f"${Decimal(20) - exposure(project):.2f}"
    assert _fact(page, "mm-deadline") == "—"


def test_a_report_on_unfinished_work_proposes_nothing_and_is_made_again(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project, hits=2)
    project.write({"pets.input": project.read("pets.input") + "Picture 9\tcat\n"})
    result = project.run("pets.report.html")  # loads the new row; its work is not in yet
    assert result.exit_code == 0, result.output
    page = project.read("pets.report.html")
    assert "is not final" in page
    assert 'id="mm-rejections">0<' in page
    assert "incomplete" in result.stdout or "not final" in page


# --------------------------------------------------------------------------------------------
# Size
# --------------------------------------------------------------------------------------------

HEADER = (
    "hitid", "hittypeid", "title", "reward", "assignments", "assignmentid", "workerid",
    "assignmentstatus", "autoapprovaltime", "assignmentaccepttime", "assignmentsubmittime",
    "feedback", "reject", "Answer.label", "Answer.note", "Input.text", "Input.gold",
)  # fmt: skip


def _big_results(path: Path, hits: int) -> None:
    """``hits`` HITs × 3 assignments by 150 workers, one slot of each HIT taken by a worker
    who is always wrong; one note in ten is free text."""
    lines = [format_row(HEADER, quote="always")]
    for h in range(hits):
        gold = "cat" if h % 2 else "dog"
        for slot in range(3):
            worker = "ACARELESS00001" if slot == 0 else f"AWORKER{(h * 2 + slot) % 150:05d}"
            label = ("dog" if gold == "cat" else "cat") if slot == 0 else gold
            minute = f"{(h + slot) % 60:02d}"
            lines.append(
                format_row(
                    (
                        f"HIT{h:026d}",
                        "TYPE0000000000000000000000001",
                        "Label a picture",
                        "$0.05",
                        "3",
                        f"A{h:05d}{slot}{'X' * 23}",
                        worker,
                        "Submitted",
                        "Thu Jan 08 00:00:00 UTC 2026",
                        "Thu Jan 01 00:00:00 UTC 2026",
                        f"Thu Jan 01 00:{minute}:00 UTC 2026",
                        "",
                        "",
                        label,
                        f"note {h}-{slot}" if h % 10 == 0 else "",
                        f"Picture {h}",
                        gold,
                    ),
                    quote="always",
                )
            )
    path.write_text("".join(lines), encoding="utf-8")


def test_the_report_on_1000_hits_stays_under_300_kb(tmp_path: Path) -> None:
    from mturkmake.mturk.review_data import load_view
    from mturkmake.plugins.report import render_report

    ctx = make_context(
        tmp_path,
        {
            "evaluators": ["answer-key"],
            "gold_columns": {"label": "gold"},
        },
    )
    _big_results(tmp_path / "pets.results", 1000)
    started = time.monotonic()
    view = load_view(ctx, "pets")
    page = render_report(view)
    elapsed = time.monotonic() - started
    size = len(page.encode("utf-8"))
    print(f"report on 1,000 HITs / 3,000 assignments: {size} bytes in {elapsed:.2f} s")
    assert size < 300_000
    assert elapsed < 20
    assert _workers(page)[0] == ("ACARELESS00001", "0.0000")
    assert 'id="mm-rejections">1000<' in page


def test_after_a_partial_review_the_report_shows_the_pending_work_undecided(
    mturkmake_project: Project,
) -> None:
    from mturkmake.mturk.review_session import ReviewFile

    project = mturkmake_project
    labelling_batch(project, evaluators='["reject-column"]')
    ids = [r["assignmentid"] for r in project.table("pets.results")]
    review = ReviewFile(project.path("pets.results"), project.path("pets.review"), ids)
    review.decide(ids[0], "reject", "Off topic")
    review.decide(ids[1], "approve")
    result = project.run("pets.report.html")
    assert result.exit_code == 0, result.output
    page = project.read("pets.report.html")
    assert "with the marks of pets.review" in page
    assert 'id="mm-rejections">1<' in page
    assert re.search(r'id="mm-undecided">28 open assignments no evaluator decides', page)
    assert "Off topic" in page
    dry = project.run("-n", "pets.approved")
    assert "1 would be approved, 1 rejected" in dry.stdout
