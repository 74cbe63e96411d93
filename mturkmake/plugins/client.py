"""The built-in ``mturkmake_make_client`` and MTurk's configuration keys (DESIGN §4).

The factory itself lives in :mod:`mturkmake.mturk.endpoint`; this module only plugs it in, so
``-p no:client`` (or a plugin answering first) can replace it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mturkmake.hookspecs import Config, ConfigKey, ConfigLayer, Host, hookimpl


@hookimpl(trylast=True)
def mturkmake_make_client(config: Config, host: Host) -> Any:
    """The built-in factory: an :class:`~mturkmake.mturk.endpoint.Endpoint` (client, clock,
    local marketplace handle); another plugin may answer first, with an Endpoint or a client.

    On the local endpoint, simulated workers answer through ``mturkmake_simulate_answer``.
    """
    from mturkmake.mturk.endpoint import make_endpoint

    return make_endpoint(config, answer_fn=host.simulate_answer)


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``endpoint`` and ``budget``."""
    from mturkmake.mturk.settings import MTURK_KEYS

    return MTURK_KEYS


@hookimpl
def mturkmake_config_layers(root: Path) -> Sequence[ConfigLayer]:
    """The CLT's ``mturk.properties``, when the project has one."""
    from mturkmake.mturk.settings import properties_layer

    return properties_layer(root)


@hookimpl
def mturkmake_configure(config: Config) -> None:
    """Refuse a production ``service_url`` nobody named, a bad endpoint or budget."""
    from mturkmake.mturk.settings import check_settings

    check_settings(config)
