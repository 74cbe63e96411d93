"""mturkmake: make for Amazon Mechanical Turk batches.

The public API for plugin authors: :data:`hookimpl`, the frozen types plugins exchange,
:class:`ExitCode` and the errors. Everything else is internal.
"""

from __future__ import annotations

from mturkmake.errors import (
    BuildError,
    ConfigError,
    ExitCode,
    FormatError,
    MturkmakeError,
    ServiceError,
    UsageError,
)
from mturkmake.hookspecs import (
    Assignment,
    CommandSpec,
    ConfigKey,
    Context,
    Event,
    Flag,
    Job,
    Outcome,
    QualificationRequest,
    Rule,
    Verdict,
    hookimpl,
)

__version__ = "0.1.0"

__all__ = [
    "Assignment",
    "BuildError",
    "CommandSpec",
    "ConfigError",
    "ConfigKey",
    "Context",
    "Event",
    "ExitCode",
    "Flag",
    "FormatError",
    "Job",
    "MturkmakeError",
    "Outcome",
    "QualificationRequest",
    "Rule",
    "ServiceError",
    "UsageError",
    "Verdict",
    "__version__",
    "hookimpl",
]
