"""``exclude_workers_of``: never the same worker twice across this project's batches.

The key names earlier batches (``exclude_workers_of = ["pilot"]``); the load of any other
batch first grants those batches' workers a project-private qualification and requires
``DoesNotExist`` on it (:mod:`mturkmake.mturk.exclusion`, which the load calls). This module
only declares and checks the key.
"""

from __future__ import annotations

from collections.abc import Sequence

from mturkmake.errors import ConfigError
from mturkmake.hookspecs import Config, ConfigKey, hookimpl


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``exclude_workers_of``."""
    from mturkmake.mturk.exclusion import exclusion_config_key

    return (exclusion_config_key(),)


@hookimpl
def mturkmake_configure(config: Config) -> None:
    """Every name must be a non-empty string."""
    names = config.get("exclude_workers_of") or []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"exclude_workers_of: {name!r} is not a batch name",
                file=config.sources.get("exclude_workers_of"),
                hint='write batch names, e.g. exclude_workers_of = ["pilot"]',
            )
