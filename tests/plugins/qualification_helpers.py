"""Shared helpers of the qualification command tests (issue 15)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import marketplace

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
#: A two-question test (selections) and its CLT answer key.
TEST = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
    + "".join(
        f"  <Question><QuestionIdentifier>{q}</QuestionIdentifier>\n"
        f"    <QuestionContent><Text>Is {q} true?</Text></QuestionContent>\n"
        "    <AnswerSpecification><SelectionAnswer><Selections>\n"
        "      <Selection><SelectionIdentifier>true</SelectionIdentifier><Text>T</Text>"
        "</Selection>\n"
        "      <Selection><SelectionIdentifier>false</SelectionIdentifier><Text>F</Text>"
        "</Selection>\n"
        "    </Selections></SelectionAnswer></AnswerSpecification></Question>\n"
        for q in ("q1", "q2")
    )
    + "</QuestionForm>\n"
)
PROPERTIES = "name=Skill test\ndescription=A short test\nkeywords=test\nretrydelayinseconds=60\n"
TOML = 'endpoint = "local"\n'
WORKERS = ("A1TESTWORKER0001", "A1TESTWORKER0002", "A1TESTWORKER0003")


def created(project: Project, properties: str = PROPERTIES, *extra: str) -> str:
    """Create a qualification type from ``skill.properties`` (+ files); its id."""
    project.write({"mturkmake.toml": TOML, "skill.properties": properties})
    result = project.run("createQualificationType", "-properties", "skill.properties", *extra)
    assert result.exit_code == 0, result.output
    return project.read("skill.properties.success").splitlines()[1]


def score(project: Project, type_id: str, worker: str) -> int | None:
    """The worker's granted value, or None."""
    with marketplace(project) as market:
        page = market.call(
            "ListWorkersWithQualificationType",
            {"QualificationTypeId": type_id, "MaxResults": 100},
        )
    for qual in page.get("Qualifications", []):
        if qual["WorkerId"] == worker and qual.get("Status", "Granted") == "Granted":
            return int(qual["IntegerValue"])
    return None


def log(project: Project, *operations: str) -> Counter[tuple[str, str]]:
    """The marketplace's accepted side-effecting calls of ``operations``."""
    with marketplace(project) as market:
        return Counter(e for e in market.request_log() if e[0] in operations)


def request(project: Project, type_id: str, worker: str, answers: dict[str, str]) -> str:
    """A worker requests the qualification with test answers (local-only call)."""
    from mturkmake.formats.answers import build_answers

    with marketplace(project) as market:
        return str(market.request_qualification(type_id, worker, build_answers(answers)))


def requests_state(project: Project) -> dict[str, str]:
    """Request id → state, read from the local marketplace's store."""
    import sqlite3

    conn = sqlite3.connect(project.path(".mturkmake/local-marketplace.db"))
    try:
        return {str(i): str(s) for i, s in conn.execute("SELECT id, state FROM qual_requests")}
    finally:
        conn.close()


def types_named(project: Project, name: str) -> list[dict[str, Any]]:
    """The requester's qualification types called ``name``."""
    with marketplace(project) as market:
        page = market.call(
            "ListQualificationTypes",
            {
                "Query": name,
                "MustBeRequestable": False,
                "MustBeOwnedByCaller": True,
                "MaxResults": 100,
            },
        )
    return [q for q in page["QualificationTypes"] if q["Name"] == name]
