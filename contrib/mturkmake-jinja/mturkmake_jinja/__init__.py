"""mturkmake-jinja: the ``jinja`` template engine for mturkmake (``template_engine = "jinja"``).

Registered through the ``mturkmake`` entry-point group, so installing the distribution is
enough. This module only holds the hook: Jinja2 is imported when a template is compiled
(:mod:`mturkmake_jinja.engine`), so every other run stays as fast as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mturkmake import hookimpl

if TYPE_CHECKING:
    from mturkmake.hookspecs import TemplateEngine

__all__ = ["mturkmake_template_engines"]
__version__ = "0.1.0"


@hookimpl
def mturkmake_template_engines() -> list[TemplateEngine]:
    """The ``jinja`` engine."""
    from mturkmake_jinja.engine import JinjaEngine

    return [JinjaEngine()]
