"""A failure that every call would hit is reported once, and leaves no target behind
(issue #12, items 3b and 5).

No credentials, a refused connection, access denied: the step stops at its first call with
one line and exit 2; before its first side effect it creates no ``.success``/``.failure`` and
leaves existing ones byte for byte, mtime included. A step the account's balance cannot pay
for stops before any call that spends, naming the shortfall.

Nothing leaves the machine: "no credentials" runs against ``https://mturk.invalid`` (``.invalid``
never resolves, and botocore refuses to sign before it would connect), "connection refused"
against a closed port on 127.0.0.1, and "access denied" is answered by a ``before-send``
handler in front of the in-process local marketplace, as a real service would answer it.
"""

from __future__ import annotations

import socket
import time

import pytest

from mturkmake.testing import Project

QUESTION = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd">
<Question><QuestionIdentifier>answer</QuestionIdentifier>
<QuestionContent><Text>Where is ${company} based?</Text></QuestionContent>
<AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>
</QuestionForm>
"""
#: Answers one operation ``AccessDeniedException`` (HTTP 400, MTurk's JSON protocol) before the
#: local marketplace sees it, after letting ALLOW calls through, and counts the refusals.
DENY_PLUGIN = """
import json
from mturkmake import hookimpl


class _Raw:
    def __init__(self, body):
        self._body = body

    def stream(self, **_):
        yield self._body


@hookimpl(tryfirst=True)
def mturkmake_make_client(config):
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders
    from mturkmake.mturk.endpoint import make_endpoint

    endpoint = make_endpoint(config)
    client = endpoint.client
    log = config.root / "denied.log"
    passed = []

    def deny(request, **kwargs):
        if len(passed) < ALLOW:
            passed.append(request)
            return None  # through to the marketplace
        with open(log, "a", encoding="utf-8") as stream:
            stream.write("denied\\n")
        body = json.dumps(
            {"__type": "ERROR_TYPE", "Message": "not authorized to call OPERATION"}
        ).encode()
        headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.1"})
        return AWSResponse(request.url, 400, headers, _Raw(body))

    client.meta.events.register_first("before-send.mturk.OPERATION", deny)
    return endpoint
"""
#: A time long before any file a test writes (2001-09-09).
OLD = 1_000_000_000 * 10**9


def properties(reward: str = "0.05", assignments: int = 1) -> str:
    return (
        f"title:Company city\ndescription:Tell us where\nkeywords:company\nreward:{reward}\n"
        f"assignments:{assignments}\nassignmentduration:600\nhitlifetime:86400\n"
        "autoapprovaldelay:259200\n"
    )


def write_batch(
    project: Project,
    endpoint: str,
    rows: int,
    *,
    stem: str = "survey",
    reward: str = "0.05",
    assignments: int = 1,
) -> None:
    lines = ["company"] + [f"{stem} company {n}" for n in range(rows)]
    project.write(
        {
            "mturkmake.toml": f'endpoint = "{endpoint}"\nresults_timezone = "UTC"\n',
            f"{stem}.input": "\n".join(lines) + "\n",
            f"{stem}.question": QUESTION,
            f"{stem}.properties": properties(reward, assignments),
        }
    )


def deny(
    project: Project, operation: str, error: str = "AccessDeniedException", allow: int = 0
) -> None:
    plugin = DENY_PLUGIN.replace("OPERATION", operation).replace("ERROR_TYPE", error)
    plugin = plugin.replace("ALLOW", str(allow))
    project.write({"mturkmake_plugins.py": plugin})


def denied(project: Project) -> int:
    log = project.path("denied.log")
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def snapshot(project: Project, *names: str) -> dict[str, tuple[bytes, int]]:
    return {name: (project.path(name).read_bytes(), project.mtime(name)) for name in names}


# --------------------------------------------------------------------------------------------
# Item 5: one line, no target
# --------------------------------------------------------------------------------------------


def test_no_credentials_on_300_rows_is_one_line_and_creates_no_target(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    write_batch(project, "https://mturk.invalid", 300)
    result = project.run("survey.success", "--yes")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr[:2000]
    assert "no AWS credentials found" in errors[0]
    assert len(result.stdout.splitlines()) == 1  # the cost line
    assert not project.path("survey.success").exists()
    assert not project.path("survey.failure").exists()


def test_no_credentials_leaves_existing_targets_byte_identical_with_their_mtimes(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    write_batch(project, "https://mturk.invalid", 300)
    # A batch loaded earlier (by the CLT, say): the ledger does not know its HITs yet.
    listed = "".join(f"3AAAAAAAAAAAAAAAAAAAAAAAAAAA{n:02d}\t3TYPE\n" for n in range(40))
    project.write(
        {
            "survey.success": "hitid\thittypeid\n" + listed,
            "survey.failure": "company\nsurvey company 7\n",
        }
    )
    for name in ("survey.success", "survey.failure"):
        project.set_mtime(name, OLD)
    before = snapshot(project, "survey.success", "survey.failure")
    for args in (("survey.success", "--yes"), ("--yes", "loadHITs", "-input", "survey.input",
                 "-question", "survey.question", "-properties", "survey.properties")):  # fmt: skip
        result = project.run(*args)
        assert result.exit_code == 2, result.output
        errors = result.stderr.splitlines()
        assert len(errors) == 1, result.stderr[:2000]
        assert "no AWS credentials found" in errors[0]
        assert snapshot(project, "survey.success", "survey.failure") == before


def test_a_refused_connection_is_one_line_after_a_few_attempts_that_it_counts(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    write_batch(project, f"http://127.0.0.1:{closed_port()}", 3)
    started = time.monotonic()
    result = project.run("survey.success")
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert "Could not connect to the endpoint URL" in errors[0]
    assert "(gave up after 3 attempts)" in errors[0]
    assert elapsed < 20, f"{elapsed:.1f} s: the retries are not bounded"
    assert not project.path("survey.success").exists()
    assert not project.path("survey.failure").exists()


def test_access_denied_in_the_send_loop_stops_at_the_first_call(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    write_batch(project, "local", 50)
    deny(project, "CreateHITType")
    result = project.run("survey.success")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr[:2000]
    assert "CreateHITType: not authorized" in errors[0]
    assert denied(project) == 1, "the first call goes alone"
    assert not project.path("survey.success").exists()
    assert not project.path("survey.failure").exists()


def test_a_load_whose_every_row_is_refused_leaves_the_targets_as_they_were(
    mturkmake_project: Project,
) -> None:
    # A refusal of one row (RequestError) says nothing about the others: each row is tried
    # and reported; but with no HIT created the step had no side effect, so no target moves.
    project = mturkmake_project
    write_batch(project, "local", 3)
    project.write({"survey.success": "hitid\thittypeid\n", "survey.failure": "company\nx\n"})
    for name in ("survey.success", "survey.failure"):
        project.set_mtime(name, OLD)
    before = snapshot(project, "survey.success", "survey.failure")
    deny(project, "CreateHITWithHITType", "RequestError")
    result = project.run("survey.success")
    assert result.exit_code == 2, result.output
    assert denied(project) == 3
    assert "no HIT was created: all 3 rows tried failed" in result.stderr
    assert snapshot(project, "survey.success", "survey.failure") == before


# Fetched work is decided without a GetAssignment first (the results cache); a HIT changed
# since its fetch is asked for first (tests/plugins/test_approve_from_cache.py).
@pytest.mark.parametrize("operation", ["ApproveAssignment", "GetAssignment"])
def test_access_denied_in_the_decisions_loop_stops_at_the_first_call(
    mturkmake_project: Project, operation: str
) -> None:
    from tests.plugins.test_approve_from_cache import forget_cache

    project = mturkmake_project
    write_batch(project, "local", 8)
    assert project.run("survey.results", "--wait").exit_code == 0
    if operation == "GetAssignment":
        forget_cache(project)
    deny(project, operation)
    result = project.run("survey.approved")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert f"{operation}: not authorized" in errors[0]
    assert denied(project) == 1
    assert not project.path("survey.approved").exists()
    # Nothing was decided: with access back, every assignment is decided once (a refused
    # approval was left pending, access denied proving nothing: the recovery resolves it).
    project.path("mturkmake_plugins.py").unlink()
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    made = 7 if operation == "ApproveAssignment" else 8
    assert f"{made} approved, 0 rejected" in result.stdout
    rows = project.read("survey.approved").splitlines()[1:]
    assert len({row.split("\t")[0] for row in rows}) == len(rows) == 8


def test_access_lost_midway_through_the_decisions_keeps_what_was_decided(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    write_batch(project, "local", 6)
    assert project.run("survey.results", "--wait").exit_code == 0
    deny(project, "ApproveAssignment", allow=2)
    result = project.run("survey.approved")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert "ApproveAssignment: not authorized" in errors[0]
    assert "(target kept, marked incomplete)" in errors[0]
    assert denied(project) == 1
    rows = project.read("survey.approved").splitlines()[1:]
    assert len(rows) == 2, "the projection of the two decisions made"
    # With access back, the refused approval (left pending: access denied proves nothing was
    # done) is resolved by the recovery, and the other three are decided, each once.
    project.path("mturkmake_plugins.py").unlink()
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    assert "3 approved, 0 rejected" in result.stdout
    rows = project.read("survey.approved").splitlines()[1:]
    assert len(rows) == 6
    assert len({row.split("\t")[0] for row in rows}) == 6
    assert {row.split("\t")[3] for row in rows} == {"approved"}


def test_clt_get_results_without_credentials_is_one_line_not_one_per_hit(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    write_batch(project, "https://mturk.invalid", 1)
    listed = "".join(f"3AAAAAAAAAAAAAAAAAAAAAAAAAAA{n:02d}\t3TYPE\n" for n in range(30))
    project.write({"old.success": "hitid\thittypeid\n" + listed})
    result = project.run("getResults", "-successfile", "old.success", "-outputfile", "old.results")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr[:2000]
    assert "no AWS credentials found" in errors[0]
    assert not project.path("old.results").exists()


# --------------------------------------------------------------------------------------------
# Item 3b: the balance covers the step, or nothing is spent
# --------------------------------------------------------------------------------------------


def test_a_load_the_balance_cannot_pay_stops_before_any_hit_naming_the_shortfall(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    # 15 HITs × 9 assignments × $50.00 = $6750.00 + $1350.00 fees: $1900.00 are left.
    write_batch(project, "local", 15, stem="big", reward="50.00", assignments=9)
    assert project.run("big.success").exit_code == 0
    write_batch(project, "local", 5, stem="more", reward="50.00", assignments=9)
    status = project.run("marketplace", "status")
    assert "balance: 1900.00" in status.stdout
    result = project.run("more.success")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert "costs $2700.00" in errors[0]
    assert "balance is $1900.00: $800.00 short" in errors[0]
    assert not project.path("more.success").exists()
    status = project.run("marketplace", "status")
    assert "balance: 1900.00" in status.stdout, "no HIT was created"
    # The CLT command stops the same way.
    result = project.run(
        "loadHITs", "-input", "more.input", "-question", "more.question",
        "-properties", "more.properties",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "$800.00 short" in result.stderr
    assert "balance: 1900.00" in project.run("marketplace", "status").stdout


def test_retry_attempts_from_mturk_properties_bound_connection_attempts_too(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    write_batch(project, f"http://127.0.0.1:{closed_port()}", 2)
    project.write({"mturk.properties": "retry_attempts:0\n"})
    result = project.run("survey.success")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert "(gave up after 1 attempt)" in errors[0]
