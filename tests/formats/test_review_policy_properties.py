"""``assignmentreviewpolicy.*`` and ``hitreviewpolicy.*`` keys of a HIT properties file."""

from __future__ import annotations

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.hit_properties import (
    HitProperties,
    dump_hit_properties,
    parse_hit_properties,
)

BASE = """title:Label
description:One word
reward:0.10
assignments:3
assignmentduration:600
hitlifetime:3600
"""
POLICIES = """assignmentreviewpolicy.name:ScoreMyKnownAnswers/2011-09-01
assignmentreviewpolicy.parameter.1.key:AnswerKey
assignmentreviewpolicy.parameter.1.mapentry.1.key:q1
assignmentreviewpolicy.parameter.1.mapentry.1.value:cat
assignmentreviewpolicy.parameter.1.mapentry.2.key:q2
assignmentreviewpolicy.parameter.1.mapentry.2.value.1:a
assignmentreviewpolicy.parameter.1.mapentry.2.value.2:b
assignmentreviewpolicy.parameter.2.key:RejectReason
assignmentreviewpolicy.parameter.2.value:Wrong, sorry: the answer was cat
assignmentreviewpolicy.parameter.10.key:ApproveIfKnownAnswerScoreIsAtLeast
assignmentreviewpolicy.parameter.10.value:100
hitreviewpolicy.name:SimplePlurality/2011-09-01
hitreviewpolicy.parameter.1.key:QuestionIds
hitreviewpolicy.parameter.1.value.1:q1
hitreviewpolicy.parameter.1.value.2:q3
hitreviewpolicy.parameter.2.key:QuestionAgreementThreshold
hitreviewpolicy.parameter.2.value:50
"""


def parse(text: str) -> HitProperties:
    props = javaprops.parse(text, source="hit.properties")
    return parse_hit_properties(props, source="hit.properties", endpoint_kind="local")


def error(text: str) -> FormatError:
    with pytest.raises(FormatError) as caught:
        parse(text)
    return caught.value


def test_policies_become_createhit_structures() -> None:
    hit = parse(BASE + POLICIES)
    params = hit.hit_params()
    assert params["AssignmentReviewPolicy"] == {
        "PolicyName": "ScoreMyKnownAnswers/2011-09-01",
        "Parameters": [
            {
                "Key": "AnswerKey",
                "MapEntries": [
                    {"Key": "q1", "Values": ["cat"]},
                    {"Key": "q2", "Values": ["a", "b"]},
                ],
            },
            {"Key": "RejectReason", "Values": ["Wrong, sorry: the answer was cat"]},
            {"Key": "ApproveIfKnownAnswerScoreIsAtLeast", "Values": ["100"]},
        ],
    }
    assert params["HITReviewPolicy"] == {
        "PolicyName": "SimplePlurality/2011-09-01",
        "Parameters": [
            {"Key": "QuestionIds", "Values": ["q1", "q3"]},
            {"Key": "QuestionAgreementThreshold", "Values": ["50"]},
        ],
    }
    # Type-level parameters are unchanged: policies are per HIT.
    assert "AssignmentReviewPolicy" not in hit.hit_type_params()


def test_a_file_without_policies_sends_none() -> None:
    params = parse(BASE).hit_params()
    assert "AssignmentReviewPolicy" not in params
    assert "HITReviewPolicy" not in params


def test_policies_dump_and_parse_back_equal() -> None:
    hit = parse(BASE + POLICIES)
    again = parse(dump_hit_properties(hit))
    assert again.review_policies == hit.review_policies


@pytest.mark.parametrize(
    ("lines", "line", "fragment", "hint"),
    [
        (
            "assignmentreviewpolicy.name:SimplePlurality/2011-09-01\n",
            7,
            "unknown review policy 'SimplePlurality/2011-09-01'",
            "goes in the other prefix",
        ),
        (
            "hitreviewpolicy.name:Majority/2011-09-01\n",
            7,
            "unknown review policy",
            "hitreviewpolicy.name:SimplePlurality/2011-09-01",
        ),
        (
            "hitreviewpolicy.parameter.1.key:QuestionIds\n",
            7,
            "the policy has no name",
            "add hitreviewpolicy.name:",
        ),
        (
            "hitreviewpolicy.name:SimplePlurality/2011-09-01\n"
            "hitreviewpolicy.parameter.1.key:QuestionIDs\n",
            8,
            "has no parameter 'QuestionIDs'",
            "did you mean 'QuestionIds'?",
        ),
        (
            "hitreviewpolicy.name:SimplePlurality/2011-09-01\n"
            "hitreviewpolicy.parameter.2.value:50\n",
            8,
            "hitreviewpolicy.parameter.2 has no key",
            "add hitreviewpolicy.parameter.2.key:",
        ),
        (
            "hitreviewpolicy.name:SimplePlurality/2011-09-01\n"
            "hitreviewpolicy.parameter.1.key:QuestionIds\n"
            "hitreviewpolicy.parameter.1.value:q1\n"
            "hitreviewpolicy.parameter.1.value.1:q2\n",
            10,
            "not both",
            ".value.1, .value.2",
        ),
        (
            "hitreviewpolicy.parameters.1.key:QuestionIds\n",
            7,
            "is not a review-policy key",
            "<prefix>.parameter.N.key",
        ),
        (
            "assignmentreviewpolicy.name:ScoreMyKnownAnswers/2011-09-01\n"
            "assignmentreviewpolicy.parameter.1.key:AnswerKey\n"
            "assignmentreviewpolicy.parameter.1.mapentry.1.value:cat\n",
            9,
            "mapentry.1 has no key",
            "<question id>",
        ),
    ],
)
def test_bad_policy_lines_are_one_located_error(
    lines: str, line: int, fragment: str, hint: str
) -> None:
    caught = error(BASE + lines)
    assert caught.file == "hit.properties"
    assert caught.line == line
    assert fragment in caught.message
    assert hint in (caught.hint or "")
