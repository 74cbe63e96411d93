"""The built-in ``mturkmake_make_client``: the MTurk endpoint of a run (DESIGN §4).

The factory itself lives in :mod:`mturkmake.mturk.endpoint`; this module only plugs it in, so
``-p no:client`` (or a plugin answering first) can replace it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mturkmake.hookspecs import hookimpl

if TYPE_CHECKING:
    from mturkmake.core.config import Config
    from mturkmake.core.plugins import PluginHost


@hookimpl(trylast=True)
def mturkmake_make_client(config: Config, host: PluginHost) -> Any:
    """The built-in client factory; another plugin may answer first.

    On the local endpoint, simulated workers answer through ``mturkmake_simulate_answer``.
    """
    from mturkmake.mturk.endpoint import make_client

    return make_client(config, answer_fn=host.simulate_answer)
