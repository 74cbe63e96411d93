"""The evaluators: reject marks, answer keys, gold files, combining, choosing, confirming."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.config import CORE_KEYS, Config, ProjectTable, build_config
from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.errors import ConfigError, ConfirmationRefused, FormatError, PluginError
from mturkmake.hookspecs import Assignment, Context, Verdict
from mturkmake.mturk.answer_key import (
    GOLD_FILE_OPTION,
    AnswerKeyEvaluator,
    answers_match,
    read_gold_file,
)
from mturkmake.mturk.evaluation import (
    DEFAULT_REJECT_FEEDBACK,
    MAX_FEEDBACK_CHARS,
    ApproveAllEvaluator,
    RejectColumnEvaluator,
    check_reject_share,
    combine,
    evaluate_batch,
    select_evaluators,
)

MODULE = "mturkmake.plugins.evaluators"


def _host() -> PluginHost:
    return PluginHost(make_plugin_manager(builtins=(MODULE,), entrypoints=False))


def _config(root: Path, **values: Any) -> Config:
    host = _host()
    table = ProjectTable(values=values, source=root / "mturkmake.toml")
    config = build_config(root, keys=[*CORE_KEYS, *host.config_keys()], table=table, environ={})
    host.configure(config)
    return config


def _ctx(root: Path, options: Mapping[str, Any] | None = None, **values: Any) -> Context:
    # Most tests grade one or two items per worker: judge from the first checked answer
    # unless a test says otherwise (the default of 3 has its own test).
    values.setdefault("min_checked_answers", 1)
    return Context(root=root, config=_config(root, **values), host=_host(), options=options or {})


def _a(
    aid: str,
    worker: str = "W1",
    hit: str = "H1",
    *,
    answers: Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
    row: Mapping[str, str] | None = None,
) -> Assignment:
    return Assignment(
        assignment_id=aid,
        hit_id=hit,
        worker_id=worker,
        status="Submitted",
        answers=answers or {},
        inputs=inputs or {},
        row=row or {},
    )


# --------------------------------------------------------------------------------------------
# reject-column
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "decision", "feedback"),
    [
        ({"id": "A", "reject": "", "feedback": ""}, "approve", ""),
        ({"id": "A", "reject": "y", "feedback": "Blank answers"}, "reject", "Blank answers"),
        ({"id": "A", "reject": "x", "feedback": ""}, "reject", DEFAULT_REJECT_FEEDBACK),
        ({"id": "A", "reject": "1", "feedback": "   "}, "reject", DEFAULT_REJECT_FEEDBACK),
        # As in the CLT, any mark rejects, even one that reads like "no".
        ({"id": "A", "reject": "no", "feedback": " late "}, "reject", "late"),
        ({"id": "A", "reject": "   ", "feedback": ""}, "approve", ""),
        ({"id": "A", "reject": "", "feedback": "Great work"}, "approve", "Great work"),
        ({"id": "A"}, "approve", ""),  # no reject column: unmarked
        ({"id": "A", "Reject": "y", "Feedback": "spam"}, "reject", "spam"),
        ({"id": "A", "reject": "", " REJECT ": "y"}, "reject", DEFAULT_REJECT_FEEDBACK),
    ],
)
def test_reject_column_marks(
    tmp_path: Path, row: dict[str, str], decision: str, feedback: str
) -> None:
    verdicts = RejectColumnEvaluator().evaluate([_a("A", row=row)], _ctx(tmp_path))
    assert verdicts == {"A": Verdict(decision, feedback, "reject-column")}  # type: ignore[arg-type]


def test_reject_column_leaves_assignments_without_a_row_undecided(tmp_path: Path) -> None:
    batch = [_a("A", row={"reject": ""}), _a("B")]
    assert set(RejectColumnEvaluator().evaluate(batch, _ctx(tmp_path))) == {"A"}


def test_approve_all(tmp_path: Path) -> None:
    batch = [_a("B", row={"reject": "y"}), _a("A")]
    verdicts = ApproveAllEvaluator().evaluate(batch, _ctx(tmp_path))
    assert verdicts == {
        "A": Verdict("approve", "", "approve-all"),
        "B": Verdict("approve", "", "approve-all"),
    }


# --------------------------------------------------------------------------------------------
# answer-key
# --------------------------------------------------------------------------------------------

WORKERS = [f"W{n}" for n in range(6)]
BAD = "W3"
COLORS = ["red|blue", "green", "blue|yellow", "red"]


def _answer_key_batch() -> list[Assignment]:
    """12 HITs x 3 assignments, 6 workers doing 6 HITs each; W3 gets 3 of 6 right."""
    batch: list[Assignment] = []
    bad_seen = 0
    for hit in range(12):
        truth_label = f"Label{hit}"
        truth_colors = COLORS[hit % 4]
        inputs = {"image": f"img{hit}.jpg", "gold_label": truth_label, "gold_colors": truth_colors}
        for slot in range(3):
            worker = WORKERS[(hit + 2 * slot) % 6]
            # Accurate workers vary case, spacing and selection order: still right.
            label = f"  {truth_label.upper()} "
            colors = "|".join(reversed(truth_colors.split("|")))
            if worker == BAD:
                bad_seen += 1
                if bad_seen % 2:
                    label = "wrong"
                    colors = "purple"
            elif worker == "W5" and hit == 11:
                label = "typo"  # 11 of 12 right: above 80 %
            batch.append(
                _a(
                    f"A{hit:02d}{slot}",
                    worker,
                    f"H{hit:02d}",
                    answers={"label": label, "colors": colors, "comment": "ok"},
                    inputs=inputs,
                )
            )
    return batch


GOLD = {"gold_columns": {"label": "gold_label", "colors": "gold_colors"}}


def test_answer_key_rejects_exactly_the_planted_worker(tmp_path: Path) -> None:
    batch = _answer_key_batch()
    verdicts = AnswerKeyEvaluator().evaluate(batch, _ctx(tmp_path, **GOLD))
    assert len(batch) == 36
    assert set(verdicts) == {a.assignment_id for a in batch}
    rejected = {aid for aid, v in verdicts.items() if v.decision == "reject"}
    assert rejected == {a.assignment_id for a in batch if a.worker_id == BAD}
    assert len(rejected) == 6
    expected = (
        "Your answers matched the known answers on 6 of 12 checked questions (50%); "
        "this task required at least 80%."
    )
    assert {verdicts[aid].feedback for aid in rejected} == {expected}
    assert all(v.evaluator == "answer-key" for v in verdicts.values())


def test_answer_key_threshold_is_inclusive_and_configurable(tmp_path: Path) -> None:
    batch = _answer_key_batch()
    at_half = AnswerKeyEvaluator().evaluate(batch, _ctx(tmp_path, min_accuracy=0.5, **GOLD))
    assert all(v.decision == "approve" for v in at_half.values())
    strict = AnswerKeyEvaluator().evaluate(batch, _ctx(tmp_path, min_accuracy=1, **GOLD))
    rejected_workers = {a.worker_id for a in batch if strict[a.assignment_id].decision == "reject"}
    assert rejected_workers == {BAD, "W5"}
    w5 = next(strict[a.assignment_id] for a in batch if a.worker_id == "W5")
    # 11 of 12 is 91.67 %: shown rounded down, never as reaching the threshold.
    assert "11 of 12 checked questions (91%)" in w5.feedback
    assert "at least 100%" in w5.feedback


def test_answer_key_blank_truth_is_not_checked_and_unchecked_workers_are_approved(
    tmp_path: Path,
) -> None:
    batch = [
        _a("A1", "GOLDW", "H1", answers={"q": "no"}, inputs={"truth": "yes"}),
        _a("A2", "GOLDW", "H2", answers={"q": "x"}, inputs={"truth": ""}),
        _a("A3", "PLAIN", "H2", answers={"q": "y"}, inputs={"truth": "  "}),
    ]
    verdicts = AnswerKeyEvaluator().evaluate(batch, _ctx(tmp_path, gold_columns={"q": "truth"}))
    assert verdicts["A1"].decision == verdicts["A2"].decision == "reject"
    assert "on 0 of 1 checked questions (0%)" in verdicts["A1"].feedback
    assert verdicts["A3"] == Verdict("approve", "", "answer-key")


@pytest.mark.parametrize(
    ("given", "truth", "match"),
    [
        ("Red|blue", "blue | red", True),
        ("red", "red|blue", False),
        ("red|blue|red", "blue|red", True),
        ("  Cat ", "cat", True),
        ("New   York", "new york", True),
        ("", "cat", False),
        ("cats", "cat", False),
        ("ß", "SS", True),  # casefold, not lower
    ],
)
def test_answer_comparison(given: str, truth: str, match: bool) -> None:
    assert answers_match(given, truth) is match


def test_answer_key_without_known_answers_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no known answers"):
        AnswerKeyEvaluator().evaluate([_a("A", answers={"q": "1"})], _ctx(tmp_path))


@pytest.mark.parametrize(
    ("gold_columns", "message"),
    [
        ({"q": "truth_typo"}, "'truth_typo' is not an input column"),
        ({"q_typo": "truth"}, "no assignment answers a question 'q_typo'"),
    ],
)
def test_answer_key_refuses_names_that_match_nothing(
    tmp_path: Path, gold_columns: dict[str, str], message: str
) -> None:
    batch = [_a("A", answers={"q": "1"}, inputs={"truth": "1"})]
    with pytest.raises(ConfigError, match=message) as info:
        AnswerKeyEvaluator().evaluate(batch, _ctx(tmp_path, gold_columns=gold_columns))
    assert "mturkmake.toml" in str(info.value)


def test_answer_key_gold_columns_without_inputs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="none are known"):
        AnswerKeyEvaluator().evaluate(
            [_a("A", answers={"q": "1"})], _ctx(tmp_path, gold_columns={"q": "truth"})
        )


# --------------------------------------------------------------------------------------------
# The gold file
# --------------------------------------------------------------------------------------------


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return path


def test_gold_file_by_input_columns(tmp_path: Path) -> None:
    _write(
        tmp_path / "survey.gold",
        ["image\tAnswer.label\tAnswer.colors", "img1.jpg\tcat\tred|blue", 'img2.jpg\t"dog"\t'],
    )
    gold = read_gold_file(tmp_path / "survey.gold")
    assert gold.key_columns == ("image",)
    assert gold.items == {
        ("img1.jpg",): {"label": "cat", "colors": "red|blue"},
        ("img2.jpg",): {"label": "dog"},
    }
    batch = [
        _a(
            "A1",
            "GOOD",
            "H1",
            answers={"label": "Cat", "colors": "blue|red"},
            inputs={"image": "img1.jpg"},
        ),
        _a(
            "A2",
            "GOOD",
            "H2",
            answers={"label": "dog", "colors": "x"},
            inputs={"image": " img2.jpg "},
        ),
        _a(
            "A3",
            "BAD",
            "H1",
            answers={"label": "dog", "colors": "red"},
            inputs={"image": "img1.jpg"},
        ),
        _a(
            "A4",
            "BAD",
            "H3",
            answers={"label": "cow", "colors": "red"},
            inputs={"image": "img3.jpg"},
        ),
    ]
    ctx = _ctx(tmp_path, options={GOLD_FILE_OPTION: "survey.gold"})
    verdicts = AnswerKeyEvaluator().evaluate(batch, ctx)
    assert {a: v.decision for a, v in verdicts.items()} == {
        "A1": "approve",
        "A2": "approve",
        "A3": "reject",
        "A4": "reject",
    }
    assert "on 0 of 2 checked questions" in verdicts["A4"].feedback


def test_gold_file_by_hit_id_overrides_gold_columns(tmp_path: Path) -> None:
    _write(tmp_path / "b.gold", ["hitid\tAnswer.q", "H1\tfixed"])
    gold = read_gold_file(tmp_path / "b.gold")
    batch = [
        _a("A1", "W1", "H1", answers={"q": "fixed"}, inputs={"truth": "stale"}),
        _a("A2", "W2", "H1", answers={"q": "stale"}, inputs={"truth": "stale"}),
    ]
    verdicts = AnswerKeyEvaluator(gold).evaluate(batch, _ctx(tmp_path, gold_columns={"q": "truth"}))
    assert verdicts["A1"].decision == "approve"
    assert verdicts["A2"].decision == "reject"


@pytest.mark.parametrize(
    ("lines", "where", "message"),
    [
        (["image\tlabel", "a\tb"], "g.gold:1:", "Answer.<question> column"),
        (["Answer.q", "yes"], "g.gold:1:", "needs a key column"),
        (["image\tAnswer.", "a\tb"], "g.gold:1:", "names no question"),
        (["image\tAnswer.q", "a\tyes", "b\tno", "a\tno"], "g.gold:4:", "same key as line 2"),
        (["image\tAnswer.q", " \tyes"], "g.gold:2:", "no key value"),
        (["image\tAnswer.q", "a"], "g.gold:2:", "1 values but the header has 2"),
        (["image\tAnswer.q"], "g.gold:2:", "no rows"),
    ],
)
def test_gold_file_errors(tmp_path: Path, lines: list[str], where: str, message: str) -> None:
    path = _write(tmp_path / "g.gold", lines)
    with pytest.raises(FormatError, match=message) as info:
        read_gold_file(path)
    assert where in info.value.one_line()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["picture\tAnswer.q", "a\tyes"], "key column 'picture' is not an input column"),
        (["image\tAnswer.typo", "a\tyes"], "no assignment answers the question 'typo'"),
    ],
)
def test_gold_file_that_matches_nothing_is_refused(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    gold = read_gold_file(_write(tmp_path / "g.gold", lines))
    batch = [_a("A", answers={"q": "yes"}, inputs={"image": "a"})]
    with pytest.raises(FormatError, match=message) as info:
        AnswerKeyEvaluator(gold).evaluate(batch, _ctx(tmp_path))
    assert "g.gold:1" in info.value.one_line()


# --------------------------------------------------------------------------------------------
# combine, select, reject share
# --------------------------------------------------------------------------------------------

OK = Verdict("approve", "", "x")
NO = Verdict("reject", "too short", "x")


@pytest.mark.parametrize(
    ("maps", "expected"),
    [
        ([("e1", {"A": OK}), ("e2", {"A": OK})], Verdict("approve", "", "e1+e2")),
        ([("e1", {"A": OK}), ("e2", {"A": NO})], Verdict("reject", "too short", "e2")),
        (
            [("e1", {"A": Verdict("reject", "late")}), ("e2", {"A": NO})],
            Verdict("reject", "late; too short", "e1+e2"),
        ),
        ([("e1", {"A": NO}), ("e2", {"A": NO})], Verdict("reject", "too short", "e1+e2")),
        ([("e1", {"A": Verdict("reject", " ")})], Verdict("reject", DEFAULT_REJECT_FEEDBACK, "e1")),
        (
            [("e1", {"A": Verdict("approve", "thanks")}), ("e2", {})],
            Verdict("approve", "thanks", "e1"),
        ),
        ([("e1", {}), ("e2", {"B": NO})], None),
        ([], None),
    ],
)
def test_combine(maps: list[tuple[str, dict[str, Verdict]]], expected: Verdict | None) -> None:
    combined = combine(maps, ["A", "B"])
    assert combined.get("A") == expected


def test_combine_keeps_batch_order_and_caps_feedback() -> None:
    long = Verdict("reject", "x" * 2000)
    combined = combine([("e", {"B": OK, "A": long})], ["B", "A", "C"])
    assert list(combined) == ["B", "A"]
    assert len(combined["A"].feedback) == MAX_FEEDBACK_CHARS
    assert combined["A"].feedback.endswith("…")


@pytest.mark.parametrize(
    ("maps", "message"),
    [
        ([("rogue", {"Z": OK})], "'rogue' decided assignment 'Z', which is not in this batch"),
        ([("rogue", {"A": Verdict("maybe", "")})], "returned the decision 'maybe'"),  # type: ignore[arg-type]
    ],
)
def test_combine_refuses_bad_plugin_verdicts(
    maps: list[tuple[str, dict[str, Verdict]]], message: str
) -> None:
    with pytest.raises(PluginError, match=message):
        combine(maps, ["A"])


def test_hooks_register_the_three_evaluators_and_their_keys(tmp_path: Path) -> None:
    host = _host()
    assert set(host.evaluators()) == {"reject-column", "answer-key", "approve-all"}
    config = _config(tmp_path)
    assert config["evaluators"] == ["reject-column"]
    assert config["gold_columns"] == {}
    assert config["min_accuracy"] == 0.8
    assert config["min_checked_answers"] == 3
    assert config["max_reject_share"] == 0.2
    chosen = select_evaluators(config, host.evaluators())
    assert [e.name for e in chosen] == ["reject-column"]
    both = _config(tmp_path, evaluators=["approve-all", "reject-column", "approve-all"])
    assert [e.name for e in select_evaluators(both, host.evaluators())] == [
        "approve-all",
        "reject-column",
    ]


def test_unknown_evaluator_lists_the_available_ones(tmp_path: Path) -> None:
    # Refused when the run starts (PluginHost.configure), before any HIT is posted.
    with pytest.raises(ConfigError) as info:
        select_evaluators(_config(tmp_path, evaluators=["reject-column", "majority-vote"]), {})
    line = info.value.one_line()
    assert "unknown evaluator 'majority-vote'" in line
    assert "available: answer-key, approve-all, reject-column" in line
    assert "mturkmake.toml" in line


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"evaluators": []}, "evaluators is empty"),
        ({"evaluators": ["reject-column", 3]}, "list of evaluator names"),
        ({"min_accuracy": 80}, "min_accuracy must be a number from 0 to 1"),
        ({"min_checked_answers": 0}, "min_checked_answers must be a whole number"),
        ({"max_reject_share": -0.1}, "max_reject_share must be a number from 0 to 1"),
        ({"gold_columns": {"q": ""}}, "gold_columns: q must name an input column"),
    ],
)
def test_configure_refuses_bad_settings(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, **values)


def _verdicts(rejects: int, total: int) -> dict[str, Verdict]:
    return {f"A{n}": NO if n < rejects else OK for n in range(total)}


def _never_asked(question: str) -> bool:
    raise AssertionError(f"asked: {question}")


@pytest.mark.parametrize(
    ("rejects", "total", "max_share"),
    [(2, 10, 0.2), (0, 0, 0.2), (1, 3, 0.34), (3, 10, 0.3), (5, 5, 1)],
)
def test_reject_share_within_limit_never_asks(rejects: int, total: int, max_share: float) -> None:
    check_reject_share(
        _verdicts(rejects, total),
        max_share=max_share,
        assume_yes=False,
        interactive=False,
        ask=_never_asked,
    )


def test_reject_share_over_limit() -> None:
    over = _verdicts(3, 10)
    with pytest.raises(ConfirmationRefused, match=r"3 of 10 assignments \(30%\).*\(20%\)"):
        check_reject_share(
            over, max_share=0.2, assume_yes=False, interactive=False, ask=_never_asked
        )
    check_reject_share(over, max_share=0.2, assume_yes=True, interactive=False, ask=_never_asked)
    questions: list[str] = []

    def answer(reply: bool) -> Any:
        def ask(question: str) -> bool:
            questions.append(question)
            return reply

        return ask

    with pytest.raises(ConfirmationRefused, match="not confirmed"):
        check_reject_share(
            over, max_share=0.2, assume_yes=False, interactive=True, ask=answer(False)
        )
    check_reject_share(over, max_share=0.2, assume_yes=False, interactive=True, ask=answer(True))
    assert len(questions) == 2
    assert questions[0].startswith("3 of 10 assignments (30%) would be rejected")


# --------------------------------------------------------------------------------------------
# Determinism and the whole chain
# --------------------------------------------------------------------------------------------


def test_verdicts_are_deterministic_and_order_independent(tmp_path: Path) -> None:
    batch = _answer_key_batch()
    marked = [
        Assignment(**{**a.__dict__, "row": {"reject": "y" if a.hit_id == "H05" else ""}})
        for a in batch
    ]
    ctx = _ctx(tmp_path, evaluators=["reject-column", "answer-key"], **GOLD)
    chosen = select_evaluators(ctx.config, ctx.host.evaluators())
    first = evaluate_batch(chosen, marked, ctx)
    shuffled = list(marked)
    random.Random(7).shuffle(shuffled)
    again = evaluate_batch(chosen, shuffled, ctx)
    assert first == again
    assert sorted(first.items()) == sorted(evaluate_batch(chosen, marked, ctx).items())
    # H05's rows are marked: rejected by reject-column, and by answer-key too for W3.
    h05 = {a.assignment_id: a.worker_id for a in marked if a.hit_id == "H05"}
    for aid, worker in h05.items():
        expected = "reject-column+answer-key" if worker == BAD else "reject-column"
        assert first[aid].decision == "reject"
        assert first[aid].evaluator == expected
    assert all(v.feedback.strip() for v in first.values() if v.decision == "reject")
    rejected = sum(v.decision == "reject" for v in first.values())
    assert rejected == 6 + sum(1 for w in h05.values() if w != BAD)
    with pytest.raises(ConfirmationRefused):
        check_reject_share(
            first, max_share=0.2, assume_yes=False, interactive=False, ask=_never_asked
        )


def test_too_few_checked_answers_judge_nobody(tmp_path: Path) -> None:
    # Two wrong answers out of two are not evidence enough (default min_checked_answers = 3);
    # three out of three are.
    def worker(name: str, items: int) -> list[Assignment]:
        return [
            _a(f"{name}{i}", name, f"H{i}", answers={"q": "wrong"}, inputs={"truth": "right"})
            for i in range(items)
        ]

    batch = worker("FEW", 2) + worker("MANY", 3)
    ctx = _ctx(tmp_path, gold_columns={"q": "truth"}, min_checked_answers=3)
    verdicts = AnswerKeyEvaluator().evaluate(batch, ctx)
    assert {a: v.decision for a, v in verdicts.items()} == {
        "FEW0": "approve",
        "FEW1": "approve",
        "MANY0": "reject",
        "MANY1": "reject",
        "MANY2": "reject",
    }
