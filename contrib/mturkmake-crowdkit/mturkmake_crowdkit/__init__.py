"""mturkmake-crowdkit: answer aggregation with crowd-kit, as an evaluator and a target.

- ``evaluators = ["crowdkit"]``: workers scored against the crowd's aggregate (and the
  gold, where known), those under ``min_accuracy`` rejected with feedback
  (:mod:`mturkmake_crowdkit.evaluator`).
- ``mturkmake NAME.labels``: the aggregated label of every input row with its confidence
  (:mod:`mturkmake_crowdkit.labels`).
- ``[tool.mturkmake.crowdkit]`` chooses the method (majority vote, Dawid-Skene, GLAD) and the
  threshold (:mod:`mturkmake_crowdkit.settings`).

Registered through the ``mturkmake`` entry-point group. This module is loaded on every run,
so it imports nothing heavy: crowd-kit, pandas and scikit-learn load only when answers are
aggregated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mturkmake import hookimpl
from mturkmake.hookspecs import ConfigKey

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config, Evaluator, Rule

__all__ = [
    "mturkmake_config_keys",
    "mturkmake_configure",
    "mturkmake_evaluators",
    "mturkmake_rules",
]
__version__ = "0.1.0"


@hookimpl
def mturkmake_config_keys() -> list[ConfigKey]:
    """The ``crowdkit`` table."""
    return [
        ConfigKey(
            "crowdkit",
            dict,
            {},
            "crowdkit evaluator and .labels: method (majority-vote, dawid-skene, glad), "
            "min_accuracy, min_checked_answers, questions, iterations",
            env=False,
        )
    ]


@hookimpl
def mturkmake_configure(config: Config) -> None:
    """Refuse a malformed ``[tool.mturkmake.crowdkit]`` before anything runs."""
    from mturkmake_crowdkit.settings import read_settings

    read_settings(config)


@hookimpl
def mturkmake_evaluators() -> list[Evaluator]:
    """The ``crowdkit`` evaluator."""
    from mturkmake_crowdkit.evaluator import CrowdkitEvaluator

    return [CrowdkitEvaluator()]


@hookimpl
def mturkmake_rules(config: Config) -> list[Rule]:
    """``%.labels: %.results``."""
    from mturkmake_crowdkit.labels import LABELS_RULE

    return [LABELS_RULE]
