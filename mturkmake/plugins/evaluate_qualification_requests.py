"""evaluateQualificationRequests and the built-in ``clt-answer-key`` qualification evaluator.

``-answers KEY (-qualtypeid ID | -input FILE) [-preview]`` (seed 003; the CLT 1.3.1
``EvaluateQualificationRequests``): every pending request of the type is graded against a
``questionid=expected`` answer key — answers compared ignoring case, selections joined by
``|``, an empty answer as the literal ``emptyanswer``; all correct grants the request with
score 100, one wrong answer rejects it (without a reason, as the CLT). The grading is a
:class:`~mturkmake.hookspecs.QualificationEvaluator` contributed through
``mturkmake_qualification_evaluators`` (``clt-answer-key``), so a plugin can offer others
(``qualification_evaluator = "name"`` picks one; only the built-in prints per-question lines).

Departure: the CLT stopped at the first request whose answer named a question missing from
the key — after granting the requests before it. Here every request is graded first, so a
key that lacks a question exits 2 before any grant or rejection. Output as seed 003::

    Preview flag is set. Qualification requests will not be approved or rejected.
    ---[Worker A3C4G8DMFSG5PQ]--------------------------------------------------------------
    Question question1:CORRECT [The answer key 'false' matches the given answer 'false']
    Worker A3C4G8DMFSG5PQ has PASSED your test and scored 100
    ---------------------------------------------------------------------------------------
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.errors import ConfigError, FormatError, ServiceError, UsageError
from mturkmake.hookspecs import (
    CommandSpec,
    ConfigKey,
    Context,
    QualificationEvaluator,
    QualificationRequest,
    Recovery,
    Verdict,
    hookimpl,
)
from mturkmake.mturk.prompts import error, say

__all__ = ["CltAnswerKeyEvaluator", "handle_evaluate_qualification_requests"]

NAME = "clt-answer-key"
#: The config key choosing the evaluator (a plugin's, through the hook).
EVALUATOR_KEY = "qualification_evaluator"
#: The CLT granted every passed request this score.
PASS_SCORE = 100
RULE = "-" * 87


class CltAnswerKeyEvaluator:
    """The CLT's grading rule; reads the key named by ``ctx.options["answers"]``."""

    name = NAME

    def _key(self, ctx: Context) -> Any:
        from mturkmake.formats.answerkey import parse_clt_answer_key
        from mturkmake.formats.javaprops import read_text

        path = ctx.options.get("answers")
        if not path:
            raise UsageError(f"the {NAME} evaluator needs an answer key (-answers FILE)")
        if not Path(str(path)).is_file():
            raise UsageError(f"-answers {path}: no such file")
        return parse_clt_answer_key(read_text(Path(str(path))), source=str(path))

    def explain(self, request: QualificationRequest, ctx: Context) -> tuple[bool, list[str]]:
        """The CLT's per-question lines (it stops at the first wrong answer) and the verdict.

        :raises FormatError: an answered question is missing from the key.
        """
        key = self._key(ctx)
        lines: list[str] = []
        for question, given in request.answers.items():
            expected = key.expected.get(question)
            if expected is None:
                text = Path(str(ctx.options["answers"])).read_text(encoding="utf-8")
                raise FormatError(
                    f"question '{question}' (answered in request {request.request_id}) is "
                    "missing from the answer key; nothing was granted or rejected",
                    file=str(ctx.options["answers"]),
                    line=len(text.splitlines()) + 1,
                    hint=f"add a line '{question}=<expected answer>'",
                )
            value = given or "emptyanswer"
            if value.lower() == expected.value.lower():
                lines.append(
                    f"Question {question}:CORRECT [The answer key '{expected.value}' matches "
                    f"the given answer '{value}']"
                )
                continue
            lines.append(
                f"Question {question}:WRONG [The correct answer '{expected.value}' did not "
                f"match the given answer '{value}']"
            )
            return False, lines
        return True, lines

    def evaluate(
        self, requests: Sequence[QualificationRequest], ctx: Context
    ) -> Mapping[str, Verdict]:
        """Grade every request (all of them first: a key error stops everything)."""
        verdicts: dict[str, Verdict] = {}
        for request in requests:
            passed, _ = self.explain(request, ctx)
            verdicts[request.request_id] = Verdict(
                "approve" if passed else "reject",
                "" if passed else "One or more answers of your test were wrong.",
                NAME,
            )
        return verdicts


def _evaluator(ctx: Context) -> QualificationEvaluator:
    """The evaluator named by ``qualification_evaluator`` (default ``clt-answer-key``)."""
    name = str(ctx.config.get(EVALUATOR_KEY) or NAME)
    evaluators = ctx.host.qualification_evaluators()
    if name not in evaluators:
        raise ConfigError(
            f"{EVALUATOR_KEY}: no plugin provides the qualification evaluator '{name}'",
            file=ctx.config.sources.get(EVALUATOR_KEY),
            hint=f"known: {', '.join(sorted(evaluators)) or 'none'}",
        )
    return evaluators[name]


def handle_evaluate_qualification_requests(args: Mapping[str, Any], ctx: Context) -> int:
    """Grade the pending requests of the type; grant or reject each once (unless -preview)."""
    from mturkmake.mturk.endpoint import open_session
    from mturkmake.mturk.qualifications import (
        decide_request,
        list_requests,
        require_type,
        type_id_of,
    )
    from mturkmake.plugins import clt_catalog

    clt_catalog.check_one_of("evaluateQualificationRequests", args)
    type_id, source = type_id_of(args)
    preview = bool(args.get("preview"))
    graded = dataclasses.replace(ctx, options={**ctx.options, "answers": str(args["answers"])})
    evaluator = _evaluator(ctx)
    if isinstance(evaluator, CltAnswerKeyEvaluator):
        evaluator._key(graded)  # a bad key file is reported before anything is fetched
    if preview:
        say(ctx, "Preview flag is set. Qualification requests will not be approved or rejected.")
    failed = 0
    with open_session(ctx) as session:
        require_type(session.client, type_id, source=source)
        requests = list_requests(session.client, type_id)
        if not requests:
            say(ctx, f"No qualification requests found to review for {type_id}")
            return 0
        verdicts = evaluator.evaluate(requests, graded)
        for request in requests:
            verdict = verdicts.get(request.request_id)
            if verdict is None:
                continue
            say(ctx, f"---[Worker {request.worker_id}]" + "-" * 62)
            if isinstance(evaluator, CltAnswerKeyEvaluator):
                for line in evaluator.explain(request, graded)[1]:
                    say(ctx, line)
            if verdict.decision == "approve":
                say(
                    ctx,
                    f"Worker {request.worker_id} has PASSED your test and scored {PASS_SCORE}",
                )
            else:
                say(
                    ctx,
                    f"Worker {request.worker_id} has FAILED your test. They will not be "
                    "granted the qualification.",
                )
            if not preview:
                approve = verdict.decision == "approve"
                try:
                    sent = decide_request(
                        session,
                        request.request_id,
                        approve=approve,
                        value=PASS_SCORE if approve else None,
                    )
                except ServiceError as exc:
                    failed += 1
                    error(ctx, f"Error deciding request {request.request_id}: {exc.message}")
                else:
                    if not sent:
                        say(ctx, "Qualification request was already decided; not sent again.")
                    elif approve:
                        say(ctx, "Qualification request granted.")
                    else:
                        say(ctx, "Qualification request rejected.")
            say(ctx, RULE)
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``evaluateQualificationRequests`` (and its snake_case alias)."""
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("evaluateQualificationRequests").spec(
            handle_evaluate_qualification_requests
        ),
    )


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``qualification_evaluator``: which evaluator grades qualification requests."""
    return (
        ConfigKey(
            EVALUATOR_KEY,
            str,
            NAME,
            "the qualification evaluator evaluateQualificationRequests uses "
            f"(default {NAME}; plugins add others)",
        ),
    )


@hookimpl
def mturkmake_qualification_evaluators() -> Sequence[QualificationEvaluator]:
    """The CLT's answer-key grading (``clt-answer-key``)."""
    return (CltAnswerKeyEvaluator(),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """Pending grants and rejections are resolved by the request's state (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(op) for op in ("AcceptQualificationRequest", "RejectQualificationRequest")]
