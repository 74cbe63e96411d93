"""The virtual clock: duration grammar, advancing, and events played once in time order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mturkmake.marketplace.clock import parse_duration
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s", 93784.0),
        (" 2.5h ", 9000.0),
    ],
)
def test_parse_duration_accepts_the_grammar(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "30m1h", "1h1h", "-5", "1 h", "1h 30m"])
def test_parse_duration_refuses_other_text_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_clock_starts_at_local_start_and_lives_in_the_database(tmp_path: Path) -> None:
    start = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(start=start))
    assert market.now() == start
    market.advance(parse_duration("1h30m"))
    # A second handle on the same file (another process, in real use) sees the same time.
    other = Marketplace(tmp_path / "m.db")
    assert other.now() == start + timedelta(hours=1, minutes=30)
    other.advance_to(start)  # never backwards
    assert market.now() == start + timedelta(hours=1, minutes=30)
    with pytest.raises(ValueError, match="forward"):
        market.advance(-1)


def test_reset_starts_again_from_the_settings(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    market.advance(3600)
    market.call("CreateWorkerBlock", {"WorkerId": "A1234567890ABC", "Reason": "r"})
    market.reset()
    assert market.now() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert market.call("ListWorkerBlocks", {})["NumResults"] == 0
    assert market.request_log() == []
    assert market.status()["balance"] == "10000.00"


def test_next_event_time_peeks_without_playing(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    assert market.next_event_time() is None
    market.call(
        "CreateHIT",
        {
            "Title": "t",
            "Description": "d",
            "Reward": "0.01",
            "LifetimeInSeconds": 600,
            "AssignmentDurationInSeconds": 60,
            "Question": (
                '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
                'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"><ExternalURL>'
                "https://example.invalid/</ExternalURL><FrameHeight>0</FrameHeight>"
                "</ExternalQuestion>"
            ),
        },
    )
    start = market.now()
    assert market.next_event_time() == start  # a worker accepts at once
    assert market.status()["assignments"] == {}
    assert market.advance(0) == 1  # due now: played by a zero advance
    due = market.next_event_time()
    assert due is not None
    assert start < due <= start + timedelta(seconds=50)  # the submission


def test_settings_from_the_local_config_table() -> None:
    settings = MarketplaceSettings.from_config(
        {"seed": 7, "workers": 5, "start": "2027-03-04T05:06:07Z", "faults": {"rate": 0.1}}
    )
    assert (settings.seed, settings.workers) == (7, 5)
    assert settings.start == datetime(2027, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    naive = MarketplaceSettings.from_config({"start": datetime(2027, 1, 1)})
    assert naive.start.tzinfo == timezone.utc
    assert MarketplaceSettings.from_config({}) == MarketplaceSettings()
    with pytest.raises(ValueError, match=r"local\.seed"):
        MarketplaceSettings.from_config({"seed": "x"})
    with pytest.raises(ValueError, match=r"local\.start"):
        MarketplaceSettings.from_config({"start": "yesterday"})


def test_a_file_from_another_schema_version_is_refused_clearly(tmp_path: Path) -> None:
    import sqlite3

    from mturkmake.errors import MturkmakeError

    Marketplace(tmp_path / "m.db").status()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    with pytest.raises(MturkmakeError, match="marketplace reset"):
        Marketplace(tmp_path / "m.db").status()
    Marketplace(tmp_path / "m.db").reset()  # the way out the message names
    assert Marketplace(tmp_path / "m.db").status()["balance"] == "10000.00"
