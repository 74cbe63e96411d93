"""Truth, accuracy, planted workers and the ``[tool.mturkmake.local]`` crowd settings."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.config import CORE_KEYS, ProjectTable, build_config
from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.errors import ConfigError
from mturkmake.formats.answers import parse_answers
from mturkmake.marketplace.crowd_settings import CrowdSettings, PlantedWorker, validate_local
from mturkmake.marketplace.inprocess import marketplace_settings, open_local_marketplace
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd"
CHOICES = "".join(
    f"<Selection><SelectionIdentifier>{c}</SelectionIdentifier><Text>{c}</Text></Selection>"
    for c in ("cat", "dog", "bird", "fish")
)
FORM = (
    f'<QuestionForm xmlns="{NS}"><Question><QuestionIdentifier>animal</QuestionIdentifier>'
    "<QuestionContent><Text>Which animal is in picture ROW?</Text></QuestionContent>"
    "<AnswerSpecification><SelectionAnswer><StyleSuggestion>radiobutton</StyleSuggestion>"
    f"<Selections>{CHOICES}</Selections></SelectionAnswer></AnswerSpecification></Question>"
    "</QuestionForm>"
)
HALF = "APLANTEDHALF01"
MOSTLY = "APLANTEDGOOD01"


def create(market: Marketplace, rows: int, assignments: int = 1, first: int = 0) -> dict[str, str]:
    """``rows`` HITs, each with a registered true animal; returns {HITId: truth}."""
    truths = {}
    for row in range(first, first + rows):
        hit_id = market.call(
            "CreateHIT",
            {
                "Title": "Animal",
                "Description": "Name the animal",
                "Reward": "0.01",
                "LifetimeInSeconds": 86400,
                "AssignmentDurationInSeconds": 300,
                "MaxAssignments": assignments,
                "Question": FORM.replace("ROW", str(row)),
                "UniqueRequestToken": f"row-{row}",
            },
        )["HIT"]["HITId"]
        truth = ("cat", "dog", "bird", "fish")[row % 4]
        market.register_truth(hit_id, {"animal": truth})
        truths[hit_id] = truth
    return truths


def answers(market: Marketplace, hit_ids: Any) -> dict[str, list[tuple[str, object]]]:
    """{HITId: [(WorkerId, answer to 'animal')]}."""
    out: dict[str, list[tuple[str, object]]] = {}
    for hit_id in hit_ids:
        listed = market.call("ListAssignmentsForHIT", {"HITId": hit_id, "MaxResults": 100})
        out[hit_id] = [
            (a["WorkerId"], parse_answers(a["Answer"], source="a")["animal"])
            for a in listed["Assignments"]
        ]
    return out


def test_planted_workers_match_the_truth_at_their_accuracy(tmp_path: Path) -> None:
    settings = MarketplaceSettings(
        planted=[
            {"id": HALF, "accuracy": 0.5, "share": 1.0},
            {"id": MOSTLY, "accuracy": 0.95, "share": 1.0},
        ]
    )
    market = Marketplace(tmp_path / "m.db", settings)
    truths = create(market, 1000, assignments=2)
    market.advance(12 * 3600)
    matched: dict[str, list[bool]] = defaultdict(list)
    for hit_id, done in answers(market, truths).items():
        assert sorted(worker for worker, _ in done) == sorted([HALF, MOSTLY])
        for worker, value in done:
            matched[worker].append(value == (truths[hit_id],))
    assert len(matched[HALF]) == len(matched[MOSTLY]) == 1000
    assert 0.45 <= sum(matched[HALF]) / 1000 <= 0.55
    assert 0.93 <= sum(matched[MOSTLY]) / 1000 <= 0.97


def test_a_planted_worker_with_a_share_takes_part_in_a_small_batch(tmp_path: Path) -> None:
    settings = MarketplaceSettings(
        accuracy=1.0, planted=[{"id": HALF, "accuracy": 0.5, "share": 1.0}]
    )
    market = Marketplace(tmp_path / "m.db", settings)
    truths = create(market, 12, assignments=3)
    market.advance(3600)
    done = answers(market, truths)
    assert all(len(pairs) == 3 for pairs in done.values())
    assert all(HALF in [w for w, _ in pairs] for pairs in done.values())
    wrong = Counter(
        w for hit_id, pairs in done.items() for w, value in pairs if value != (truths[hit_id],)
    )
    assert set(wrong) == {HALF}  # everybody else is configured perfectly accurate
    assert 2 <= wrong[HALF] <= 10


def test_a_share_below_one_claims_about_that_share_of_hits(tmp_path: Path) -> None:
    market = Marketplace(
        tmp_path / "m.db", MarketplaceSettings(planted=[{"id": HALF, "share": 0.3}])
    )
    truths = create(market, 200)
    market.advance(6 * 3600)
    done = answers(market, truths)
    assert all(len(pairs) == 1 for pairs in done.values())
    taken = sum(pairs[0][0] == HALF for pairs in done.values())
    assert 40 <= taken <= 80


def test_without_truth_answers_are_valid_and_answer_fn_overrides(tmp_path: Path) -> None:
    calls: list[tuple[Any, Any, Any]] = []

    def answer_fn(question: Any, worker: Any, truth: Any) -> dict[str, object] | None:
        calls.append((question, worker, truth))
        if truth and truth["animal"] == "dog":
            return {"animal": ["fish"]}
        return None

    market = Marketplace(tmp_path / "m.db", answer_fn=answer_fn)
    truths = create(market, 8, assignments=2)
    plain = market.call(
        "CreateHIT",
        {
            "Title": "Animal",
            "Description": "No truth",
            "Reward": "0.01",
            "LifetimeInSeconds": 3600,
            "AssignmentDurationInSeconds": 300,
            "MaxAssignments": 2,
            "Question": FORM,
        },
    )["HIT"]["HITId"]
    market.advance(1800)
    for hit_id, pairs in answers(market, [*truths, plain]).items():
        assert len(pairs) == 2
        for _, value in pairs:
            if truths.get(hit_id) == "dog":
                assert value == ("fish",)  # the hook's answer wins
            else:
                assert value in {("cat",), ("dog",), ("bird",), ("fish",)}
    assert {type(q).__name__ for q, _, _ in calls} == {"QuestionForm"}
    assert all(0.7 <= w.accuracy <= 1.0 for _, w, _ in calls)
    assert {None, "cat", "dog", "bird", "fish"} == {t and t["animal"] for _, _, t in calls}


def test_a_worker_planted_later_joins_the_existing_crowd(tmp_path: Path) -> None:
    first = Marketplace(tmp_path / "m.db")
    before = create(first, 2)
    first.advance(600)
    first.close()
    again = Marketplace(
        tmp_path / "m.db", MarketplaceSettings(accuracy=1.0, planted=[{"id": HALF, "share": 1.0}])
    )
    later = create(again, 4, assignments=2, first=2)
    again.advance(600)
    assert again.status()["workers"] == 21
    done = answers(again, [*before, *later])
    assert all(HALF not in [w for w, _ in done[h]] for h in before)  # history stays
    assert all(HALF in [w for w, _ in done[h]] for h in later)
    others = [value == (later[h],) for h in later for w, value in done[h] if w != HALF]
    assert all(others)  # the new accuracy applies to the generated workers too


# ----------------------------------------------------------------------------- settings


def test_crowd_settings_from_the_local_table() -> None:
    settings = CrowdSettings.from_table(
        {
            "speed": 2,
            "accuracy": [0.8, 0.9],
            "return-rate": 0.1,
            "abandon_rate": 0.05,
            "approval_rate": 99,
            "locales": ["gb", "US-NY"],
            "masters": 0.5,
            "external_fields": {"rating": [1, 2, 3]},
            "planted": [
                {
                    "id": "APLANT1",
                    "accuracy": 0.5,
                    "share": 0.25,
                    "locale": "IN",
                    "qualifications": {"HZKZ76XYF0SZ0GHSMYYZ": 90},
                }
            ],
        }
    )
    assert settings.speed == 2.0
    assert settings.accuracy == (0.8, 0.9)
    assert (settings.return_rate, settings.abandon_rate) == (0.1, 0.05)
    assert settings.approval_rate == (99, 99)
    assert settings.locales == ("GB", "US-NY")
    assert settings.external_fields == {"rating": ("1", "2", "3")}
    assert settings.planted == (
        PlantedWorker(
            "APLANT1", 0.5, 0.25, locale="IN", qualifications={"HZKZ76XYF0SZ0GHSMYYZ": 90}
        ),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"speeed": 2}, "unknown key 'local.speeed'"),
        ({"accuracy": 1.5}, "local.accuracy must be a number from 0 to 1"),
        ({"accuracy": [0.9, 0.5]}, "local.accuracy: 0.9 is above 0.5"),
        ({"return_rate": 0.4, "abandon_rate": 0.2}, "at most 0.5"),
        ({"locales": ["USA"]}, "local.locales: 'USA' is not a locale"),
        ({"planted": {"id": "A1"}}, "local.planted must be a list"),
        ({"planted": [{"id": "worker"}]}, "local.planted[1].id must be 'A'"),
        ({"planted": [{"id": "A1", "skill": 1}]}, "unknown key 'local.planted[1].skill'"),
        ({"planted": [{"id": "A1"}, {"id": "A1"}]}, "planted twice"),
        ({"workers": -1}, "local.workers must be a whole number"),
        ({"external_pages": ["a.html"]}, "local.external_pages must be a table"),
    ],
)
def test_bad_crowd_settings_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_local(table)


def _config(root: Path, local: Any) -> Any:
    host = PluginHost(
        make_plugin_manager(
            builtins=("mturkmake.plugins.marketplace_cli", "mturkmake.plugins.client"),
            entrypoints=False,
        )
    )
    table = ProjectTable(
        values={"endpoint": "local", "local": local}, source=root / "mturkmake.toml"
    )
    config = build_config(root, keys=[*CORE_KEYS, *host.config_keys()], table=table, environ={})
    host.configure(config)
    return config


def test_the_local_table_is_declared_and_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"local\.accuracy") as caught:
        _config(tmp_path, {"accuracy": "high"})
    assert caught.value.file == str(tmp_path / "mturkmake.toml")
    with pytest.raises(ConfigError, match="'local' must be of type table"):
        _config(tmp_path, "fast")
    config = _config(
        tmp_path, {"seed": 4, "workers": 3, "planted": [{"id": "APLANT1"}], "speed": 3}
    )
    assert marketplace_settings(config).crowd.speed == 3.0
    market = open_local_marketplace(config)
    assert market.status()["workers"] == 4
    assert market.settings.crowd.planted[0].id == "APLANT1"
