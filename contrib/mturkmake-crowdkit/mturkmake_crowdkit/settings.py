"""``[tool.mturkmake.crowdkit]``: which aggregation, which questions, whom to reject.

```toml
[tool.mturkmake.crowdkit]
method = "dawid-skene"       # majority-vote (default), dawid-skene or glad
min_accuracy = 0.5           # reject all work of a worker below this share of agreement
min_checked_answers = 3      # fewer checked answers than this judge nobody
questions = ["sentiment"]    # the questions to aggregate (default: every one answered)
iterations = 100             # dawid-skene / glad: EM iterations
use_gold = true              # score against gold_columns / %.gold where known
```

``use_gold = false`` scores against the aggregate only, for example when ``gold_columns`` is
set just so that the local marketplace's simulated workers know the true answers.

Pure standard library: the plugin validates the table on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mturkmake.errors import ConfigError

__all__ = ["CONFIG_KEY", "METHODS", "CrowdkitSettings", "read_settings"]

#: The table's key in ``[tool.mturkmake]``.
CONFIG_KEY = "crowdkit"
#: Accepted method names → crowd-kit's class in ``crowdkit.aggregation``.
METHODS = {
    "majority-vote": "MajorityVote",
    "dawid-skene": "DawidSkene",
    "glad": "GLAD",
}
#: Short names people write for the same methods.
ALIASES = {"mv": "majority-vote", "ds": "dawid-skene"}
_KEYS = ("method", "min_accuracy", "min_checked_answers", "questions", "iterations", "use_gold")


@dataclass(frozen=True)
class CrowdkitSettings:
    """The table, checked (defaults as in the module docstring)."""

    method: str = "majority-vote"
    min_accuracy: float = 0.5
    min_checked_answers: int = 3
    questions: tuple[str, ...] = ()
    iterations: int = 100
    use_gold: bool = True


def _fail(what: str, source: str | None, hint: str) -> ConfigError:
    return ConfigError(f"crowdkit.{what}", file=source, hint=hint)


def read_settings(config: Any) -> CrowdkitSettings:
    """The checked ``[tool.mturkmake.crowdkit]`` table of ``config``.

    :raises ConfigError: an unknown key or a value of the wrong kind, naming the file.
    """
    table: Any = config.get(CONFIG_KEY) or {}
    found = config.sources.get(CONFIG_KEY)
    source = found if found and found != "default" else None
    if not isinstance(table, Mapping):
        raise ConfigError(
            "crowdkit must be a table", file=source, hint="write [tool.mturkmake.crowdkit]"
        )
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise _fail(
            f"{unknown[0]} is not a setting of the crowdkit evaluator",
            source,
            f"known settings: {', '.join(_KEYS)}",
        )
    values: dict[str, Any] = {}
    if "method" in table:
        method = ALIASES.get(str(table["method"]).strip().lower(), str(table["method"]).lower())
        if method not in METHODS:
            raise _fail(
                f"method {table['method']!r} is not known",
                source,
                f"use one of: {', '.join(METHODS)}",
            )
        values["method"] = method
    if "min_accuracy" in table:
        value = table["min_accuracy"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise _fail("min_accuracy must be a number from 0 to 1", source, "e.g. 0.5")
        values["min_accuracy"] = float(value)
    for key, low in (("min_checked_answers", 1), ("iterations", 1)):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise _fail(f"{key} must be a whole number of at least {low}", source, "e.g. 3")
            values[key] = value
    if "use_gold" in table:
        if not isinstance(table["use_gold"], bool):
            raise _fail("use_gold must be true or false", source, "use_gold = false")
        values["use_gold"] = table["use_gold"]
    if "questions" in table:
        questions = table["questions"]
        if isinstance(questions, str) or not isinstance(questions, list):
            raise _fail("questions must be a list of question identifiers", source, '["q1"]')
        if not all(isinstance(q, str) and q.strip() for q in questions):
            raise _fail("questions must be a list of question identifiers", source, '["q1"]')
        values["questions"] = tuple(q.strip() for q in questions)
    return CrowdkitSettings(**values)
