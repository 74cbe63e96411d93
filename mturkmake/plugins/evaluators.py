"""The built-in evaluators (``reject-column``, ``answer-key``, ``approve-all``) and their keys.

What they do and how verdicts combine lives in :mod:`mturkmake.mturk.evaluation`.
"""

from __future__ import annotations

from mturkmake.hookspecs import Config, ConfigKey, Evaluator, hookimpl


@hookimpl
def mturkmake_evaluators() -> list[Evaluator]:
    """``reject-column``, ``answer-key`` and ``approve-all``."""
    from mturkmake.mturk.evaluation import builtin_evaluators

    return builtin_evaluators()


@hookimpl
def mturkmake_config_keys() -> list[ConfigKey]:
    """``evaluators``, ``gold_columns``, ``min_accuracy``, ``min_checked_answers`` and
    ``max_reject_share``."""
    from mturkmake.mturk.evaluation import evaluation_keys

    return evaluation_keys()


@hookimpl
def mturkmake_configure(config: Config) -> None:
    """Refuse malformed evaluator settings before anything runs."""
    from mturkmake.mturk.evaluation import check_evaluation_settings

    check_evaluation_settings(config)
