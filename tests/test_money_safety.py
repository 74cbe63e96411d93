"""Production is used only when named, never without a yes, and secrets never show."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mturkmake.testing import Project

BATCH = {
    "s.input": "name\nann\nbo\n",
    "s.question": textwrap.dedent(
        """\
        <HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd">
          <HTMLContent><![CDATA[<!DOCTYPE html><html><body>
          <form name="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">
          <input type="hidden" name="assignmentId" value=""/>
          <p>Hello $name</p><input type="text" name="greeting"/><input type="submit"/>
          </form></body></html>]]></HTMLContent>
          <FrameHeight>400</FrameHeight>
        </HTMLQuestion>
        """
    ),
    "s.properties": textwrap.dedent(
        """\
        title:Say hello
        description:Write a greeting
        keywords:hello
        reward:0.05
        assignments:1
        assignmentduration:600
        hitlifetime:86400
        autoapprovaldelay:86400
        """
    ),
}


def test_production_without_yes_and_without_terminal_refuses(
    mturkmake_project: Project,
) -> None:
    # No credentials anywhere and instance metadata off: had anything been sent, the error
    # would be a credentials error, not the refusal.
    mturkmake_project.write({**BATCH, "mturkmake.toml": 'endpoint = "production"\n'})
    result = mturkmake_project.run("s.success")
    assert result.exit_code == 2
    assert "production" in result.stderr
    assert "--yes" in result.stderr
    assert "Cost:" in result.stdout  # the cost came first
    assert not mturkmake_project.path("s.success").exists()


@pytest.fixture
def served_marketplace(tmp_path: Path) -> Iterator[str]:
    from mturkmake.marketplace.server import MarketplaceServer
    from mturkmake.marketplace.service import Marketplace

    server = MarketplaceServer(Marketplace(tmp_path / "served.db"), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.close()


def test_secrets_from_mturk_properties_never_show_even_verbose(
    mturkmake_project: Project, served_marketplace: str, caplog: pytest.LogCaptureFixture
) -> None:
    access, secret = "AKIAMTURKMAKESECRET1", "s3cr3t/MTURKMAKE+never+printed+0123456789"
    mturkmake_project.write(
        {
            **BATCH,
            "mturk.properties": f"access_key={access}\nsecret_key={secret}\n"
            "service_url=https://mechanicalturk.sandbox.amazonaws.com/?Service=AWSMechanicalTurkRequester\n",
        }
    )
    caplog.set_level("DEBUG")
    result = mturkmake_project.run("-v", "-v", "--endpoint", served_marketplace, "s.success")
    assert result.exit_code == 0, result.stderr
    assert mturkmake_project.path("s.success").exists()  # the keys were used to sign
    assert "botocore" in caplog.text  # the debug logs were really captured
    for text in (result.stdout, result.stderr, caplog.text):
        assert access not in text
        assert secret not in text


# --------------------------------------------------------------------------------------------
# The local marketplace's UniqueRequestToken: one HIT per token, whatever the timing
# --------------------------------------------------------------------------------------------

FORM = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/QuestionForm.xsd"><Question><QuestionIdentifier>q</QuestionIdentifier>'
    "<QuestionContent><Text>Say</Text></QuestionContent><AnswerSpecification><FreeTextAnswer/>"
    "</AnswerSpecification></Question></QuestionForm>"
)
HIT = {
    "Title": "Say",
    "Description": "Say something",
    "Reward": "0.05",
    "LifetimeInSeconds": 3600,
    "AssignmentDurationInSeconds": 300,
    "Question": FORM,
}
#: Sends CreateHIT with one token from __THREADS__ threads released together; prints each answer.
SAME_TOKEN = """
import sys, threading
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.service import Marketplace
market = Marketplace(sys.argv[1])
params = dict(__HIT__, UniqueRequestToken="the-one-token")
gate = threading.Barrier(__THREADS__)
lock = threading.Lock()
def say(*words):
    with lock:  # one whole line per answer (print() from threads interleaves)
        sys.stdout.write(" ".join(words) + "\\n")
        sys.stdout.flush()
def send():
    gate.wait()
    try:
        say("made", market.call("CreateHIT", params)["HIT"]["HITId"])
    except RequestError as error:
        say("refused", error.turk_error_code, error.message)
threads = [threading.Thread(target=send) for _ in range(__THREADS__)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""
#: Creates HITs with tokens until killed.
CREATOR = """
import sys
from mturkmake.marketplace.service import Marketplace
market = Marketplace(sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    market.call("CreateHIT", dict(__HIT__, UniqueRequestToken=f"token-{n}"))
    n += 1
"""


def _script(text: str, **values: object) -> str:
    for name, value in {"HIT": repr(HIT), **values}.items():
        text = text.replace(f"__{name}__", str(value))
    return text


def _stored(db: Path, sql: str) -> list[tuple[object, ...]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def test_one_token_sent_at_once_by_processes_and_threads_makes_one_hit(tmp_path: Path) -> None:
    import subprocess
    import sys

    from mturkmake.marketplace.service import Marketplace

    db = tmp_path / "market.db"
    Marketplace(db).status()  # the file exists before the processes race on it
    script = _script(SAME_TOKEN, THREADS=6)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [run.communicate() for run in runs]
    errors = "".join(err.decode() for _, err in outputs)
    answers = [line.split(maxsplit=2) for out, _ in outputs for line in out.decode().splitlines()]
    made = [answer[1] for answer in answers if answer[0] == "made"]
    refused = [answer for answer in answers if answer[0] == "refused"]
    assert len(made) == 1, (answers, errors)
    assert len(refused) == 17, (answers, errors)
    for _, code, message in refused:
        assert code == "AWS.MechanicalTurk.HitAlreadyExists"
        assert made[0] in message  # each refusal names the one HIT
    assert _stored(db, "SELECT id FROM hits") == [(made[0],)]


def test_a_create_token_outlives_the_pruning_of_retry_answers(tmp_path: Path) -> None:
    """The marketplace prunes the answers it keeps for botocore's retries (``replays``) every
    100 calls; a UniqueRequestToken lives in its own table for its 24 hours, however many
    calls come between."""
    from mturkmake.marketplace.errors import RequestError
    from mturkmake.marketplace.service import REPLAYS_KEPT, Marketplace

    db = tmp_path / "market.db"
    market = Marketplace(db)
    params = dict(HIT, UniqueRequestToken="row-1")
    first = market.call("CreateHIT", params, request_token_hint="attempt-of-row-1")["HIT"]
    hit_type = {k: v for k, v in HIT.items() if k in ("Title", "Description", "Reward")}
    hit_type["AssignmentDurationInSeconds"] = 300
    for n in range(REPLAYS_KEPT + 200):
        market.call("CreateHITType", hit_type, request_token_hint=f"other-{n}")
    pruned = _stored(db, "SELECT COUNT(*) FROM replays WHERE hint = 'attempt-of-row-1'")
    assert pruned == [(0,)]  # the first call's answer is gone from the retry table
    market.advance(23 * 3600)
    # A late retry of the first attempt (same hint) and a new call with the same token are
    # both answered with the HIT that exists, never with a second one.
    for hint in ("attempt-of-row-1", "a-new-call"):
        with pytest.raises(RequestError) as refused:
            market.call("CreateHIT", params, request_token_hint=hint)
        assert refused.value.turk_error_code == "AWS.MechanicalTurk.HitAlreadyExists"
        assert first["HITId"] in refused.value.message
    assert _stored(db, "SELECT id FROM hits") == [(first["HITId"],)]


def test_a_creator_killed_at_any_moment_leaves_each_hit_with_its_token(tmp_path: Path) -> None:
    """A HIT and its token are one transaction: SIGKILL never leaves one without the other
    (a HIT without its token would be created again by a retry)."""
    import random
    import signal
    import subprocess
    import sys
    import time

    from mturkmake.marketplace.service import Marketplace

    db = tmp_path / "market.db"
    Marketplace(db).status()
    rng = random.Random(7)
    script = _script(CREATOR)
    for _ in range(8):
        creator = subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE)
        assert creator.stdout is not None
        assert creator.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.3))
        creator.send_signal(signal.SIGKILL)
        creator.wait(timeout=30)
        hits = {str(h) for (h,) in _stored(db, "SELECT id FROM hits")}
        tokens = {str(s) for (s,) in _stored(db, "SELECT subject FROM tokens WHERE family = 'HIT'")}
        assert hits == tokens
    assert hits  # the kills did land while HITs were being created
