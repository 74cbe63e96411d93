"""extendHITs on the local marketplace, through the CLI in CLT syntax."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from mturkmake import fees
from mturkmake.testing import Project
from tests.plugins.test_approved_rule import balance, batch_files, marketplace


def loaded(project: Project, rows: int = 3, assignments: int = 1) -> list[str]:
    project.write(batch_files(rows, assignments=assignments))
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    lines = project.read("survey.success").splitlines()[1:]
    return [line.split("\t")[0] for line in lines]


def hit(project: Project, hit_id: str) -> dict[str, Any]:
    with marketplace(project) as market:
        return dict(market.call("GetHIT", {"HITId": hit_id})["HIT"])


def when(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return datetime.fromisoformat(str(value)).astimezone(timezone.utc)


def side_effects(project: Project) -> Counter[str]:
    with marketplace(project) as market:
        return Counter(
            e[0]
            for e in market.request_log()
            if e[0] in ("CreateAdditionalAssignmentsForHIT", "UpdateExpirationForHIT")
        )


def test_seed_003_output_assignments_hours_and_cost(mturkmake_project: Project) -> None:
    project = mturkmake_project
    hits = loaded(project)
    before = {h: hit(project, h) for h in hits}
    money = balance(project)
    result = project.run(
        "extendHITs", "-successfile", "survey.success", "-assignments", "2", "-hours", "3"
    )
    assert result.exit_code == 0, result.output
    per_hit = fees.hit_cost("0.05", 2, max_assignments=3)
    assert result.stdout.splitlines() == [
        f"Cost: 3 HITs × 2 more assignments × $0.05 = $0.30 + $0.06 fees = "
        f"${per_hit * 3} (local marketplace: no real money)",
        "--- Starting to extend HITs ---",
        *[f"[{h}] Successfully extended HIT ({n}/3)" for n, h in enumerate(hits, start=1)],
        "--- Finished to extend HITs ---",
        "  3 HITs have been extended (added 2 assignment(s), 3 hour(s))",
        "  0 HITs failed to be extended.",
    ]
    for h in hits:
        after = hit(project, h)
        assert after["MaxAssignments"] == before[h]["MaxAssignments"] + 2
        assert when(after["Expiration"]) - when(before[h]["Expiration"]) == timedelta(hours=3)
    assert money - balance(project) == per_hit * 3


def test_an_expired_hit_gets_now_plus_the_hours(mturkmake_project: Project) -> None:
    project = mturkmake_project
    (only,) = loaded(project, rows=1)
    with marketplace(project) as market:
        market.advance(4 * 24 * 3600)
        now = market.now()
    assert hit(project, only)["HITStatus"] != "Assignable"
    result = project.run("extendHITs", "-successfile", "survey.success", "-hours", "5")
    assert result.exit_code == 0, result.output
    after = hit(project, only)
    assert abs((when(after["Expiration"]) - (now + timedelta(hours=5))).total_seconds()) < 5


def test_each_run_is_a_new_intent(mturkmake_project: Project) -> None:
    project = mturkmake_project
    (only,) = loaded(project, rows=1)
    for _ in range(2):
        result = project.run("extendHITs", "-successfile", "survey.success", "-assignments", "1")
        assert result.exit_code == 0, result.output
    assert hit(project, only)["MaxAssignments"] == 3
    assert side_effects(project)["CreateAdditionalAssignmentsForHIT"] == 2


def test_crossing_ten_assignments_is_refused_before_any_call(mturkmake_project: Project) -> None:
    project = mturkmake_project
    hits = loaded(project, rows=2, assignments=8)
    money = balance(project)
    result = project.run(
        "extendHITs", "-successfile", "survey.success", "-assignments", "2", "-hours", "1"
    )
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"HIT {hits[0]} has 8 assignments; 2 more would make 10" in line
    assert "fee on the reward doubles" in line
    assert side_effects(project) == Counter()
    assert balance(project) == money
    assert [hit(project, h)["MaxAssignments"] for h in hits] == [8, 8]


def test_the_budget_covers_the_added_assignments(mturkmake_project: Project) -> None:
    project = mturkmake_project
    loaded(project, rows=2)
    project.write({"mturkmake.toml": project.read("mturkmake.toml") + "budget = 0.20\n"})
    result = project.run("extendHITs", "-successfile", "survey.success", "-assignments", "3")
    assert result.exit_code == 2
    assert "budget" in result.stderr
    assert side_effects(project) == Counter()


def test_a_missing_success_file_exits_2_naming_it(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run("extendHITs", "-successfile", "nothere.success", "-hours", "1")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "nothere.success" in line
    assert "no such file" in line


def test_a_pending_identical_extension_completed_by_recovery_is_not_sent_again(
    mturkmake_project: Project,
) -> None:
    from mturkmake.errors import LedgerError
    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.recovery import Recoveries

    project = mturkmake_project
    (only,) = loaded(project, rows=1)
    # A run that sent the call and died before recording its outcome.
    ledger = open_ledger(project.path(".mturkmake"), "local")
    ledger.recover(None, Recoveries())
    params = {"HITId": only, "NumberOfAdditionalAssignments": 1, "_MaxAssignmentsBefore": 1}
    try:
        with (
            ledger.intent(
                "CreateAdditionalAssignmentsForHIT", "survey.input", f"{only}#1", params
            ) as intent,
            marketplace(project) as market,
        ):
            market.call(
                "CreateAdditionalAssignmentsForHIT",
                {
                    "HITId": only,
                    "NumberOfAdditionalAssignments": 1,
                    "UniqueRequestToken": intent.token,
                },
            )
    except LedgerError:
        pass
    ledger.close()
    result = project.run("extendHITs", "-successfile", "survey.success", "-assignments", "1")
    assert result.exit_code == 0, result.output
    assert hit(project, only)["MaxAssignments"] == 2
    assert side_effects(project)["CreateAdditionalAssignmentsForHIT"] == 1
    again = project.run("extendHITs", "-successfile", "survey.success", "-assignments", "1")
    assert again.exit_code == 0, again.output
    assert hit(project, only)["MaxAssignments"] == 3


def test_premium_qualification_fees_are_in_the_cost() -> None:
    from mturkmake.plugins.extend_hits import hit_price

    plain = {"MaxAssignments": 1, "Reward": "1.00"}
    premium = {
        **plain,
        "QualificationRequirements": [{"QualificationTypeId": "3DWHSFAI6V6LLE6N73LD41NC328HA9"}],
    }
    assert hit_price(premium, 2) - hit_price(plain, 2) == Decimal("0.10")


def test_load_cost_line_and_budget_include_premium_qualification_fees(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    files = batch_files(6)
    premium = "qualification.1:3DWHSFAI6V6LLE6N73LD41NC328HA9\nqualification.comparator.1:exists\n"
    project.write({**files, "survey.properties": files["survey.properties"] + premium})
    project.write({"mturkmake.toml": project.read("mturkmake.toml") + "budget = 0.50\n"})
    result = project.run("survey.success")
    # 6 × ($0.05 + $0.01 fee) = $0.36 fits the budget; the $0.05 premium fee each does not
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0].startswith(
        "Cost: 6 HITs × 1 assignment × $0.05 (premium qualifications: $0.05 per assignment) "
        "= $0.30 + $0.36 fees = $0.66"
    )
    assert "budget" in result.stderr
    with marketplace(project) as market:
        assert market.call("ListHITs", {"MaxResults": 10})["HITs"] == []


def test_again_extends_even_after_recovery_completed_an_identical_extension(
    mturkmake_project: Project,
) -> None:
    from mturkmake.errors import LedgerError
    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.recovery import Recoveries

    project = mturkmake_project
    (only,) = loaded(project, rows=1)
    ledger = open_ledger(project.path(".mturkmake"), "local")
    ledger.recover(None, Recoveries())
    params = {"HITId": only, "NumberOfAdditionalAssignments": 1, "_MaxAssignmentsBefore": 1}
    with (
        pytest.raises(LedgerError),
        ledger.intent(
            "CreateAdditionalAssignmentsForHIT", "survey.input", f"{only}#1", params
        ) as intent,
        marketplace(project) as market,
    ):
        market.call(
            "CreateAdditionalAssignmentsForHIT",
            {"HITId": only, "NumberOfAdditionalAssignments": 1, "UniqueRequestToken": intent.token},
        )
    ledger.close()
    result = project.run(
        "extendHITs", "-successfile", "survey.success", "-assignments", "1", "--again"
    )
    assert result.exit_code == 0, result.output
    assert hit(project, only)["MaxAssignments"] == 3
    assert side_effects(project)["CreateAdditionalAssignmentsForHIT"] == 2


def test_an_unknown_hit_fails_alone(mturkmake_project: Project) -> None:
    project = mturkmake_project
    (only,) = loaded(project, rows=1)
    project.write({"mixed.success": f"hitid\thittypeid\nNOSUCHHIT0000000000\tX\n{only}\tX\n"})
    result = project.run("extendHITs", "-successfile", "mixed.success", "-assignments", "1")
    assert result.exit_code == 2
    assert "[NOSUCHHIT0000000000] Error extending HIT (1/2):" in result.stderr
    assert f"[{only}] Successfully extended HIT (2/2)" in result.stdout
    assert "  1 HITs have been extended (added 1 assignment(s), 0 hour(s))" in result.stdout
    assert "  1 HITs failed to be extended." in result.stdout
    assert hit(project, only)["MaxAssignments"] == 2
