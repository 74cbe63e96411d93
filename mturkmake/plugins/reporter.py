"""The terminal reporter: prints events as plain lines (stdout for progress, stderr for
warnings and errors). It is registered per run by the CLI as the plugin ``reporter``;
``-p no:reporter`` silences it (another reporter plugin can take its place)."""

from __future__ import annotations

import sys
from typing import TextIO

from mturkmake.hookspecs import Event, hookimpl

#: Event kinds printed to stderr.
TO_STDERR = frozenset({"warning", "error", "target.failed"})
#: Event kinds printed only with -v.
VERBOSE = frozenset({"debug", "target.start"})


class TerminalReporter:
    """Prints each :class:`~mturkmake.hookspecs.Event`'s message on its own line.

    :param verbosity: the number of ``-v`` flags.
    """

    def __init__(
        self,
        *,
        verbosity: int = 0,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.verbosity = verbosity
        self._stdout = stdout
        self._stderr = stderr

    @hookimpl(trylast=True)
    def mturkmake_report(self, event: Event) -> None:
        """Print ``event`` (progress to stdout, problems to stderr)."""
        if not event.message:
            return
        if event.kind in VERBOSE and self.verbosity < 1:
            return
        if event.kind in TO_STDERR:
            stream = self._stderr or sys.stderr
        else:
            stream = self._stdout or sys.stdout
        print(event.message, file=stream, flush=True)
