"""The terminal reporter: prints events as plain lines (stdout for progress, stderr for
warnings and errors). It is registered per run by the CLI as the plugin ``reporter``;
``-p no:reporter`` silences it (another reporter plugin can take its place).

Long steps — creating HITs, deciding assignments, paying, polling — report ``progress``
events (:class:`Tracked` sends them as its items are used). On a terminal they drive a
``tqdm`` bar on stderr (imported only then); when output is piped they become plain lines, one
per tenth of the work. While a bar is shown, other lines are written above it
(``tqdm.write``), never through it.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO, TypeVar, overload

from mturkmake.hookspecs import Context, Event, hookimpl

#: Event kinds printed to stderr.
TO_STDERR = frozenset({"warning", "error", "target.failed"})
#: Event kinds printed only with -v.
VERBOSE = frozenset({"debug", "target.start"})
#: A step's progress: ``data`` holds ``task``, ``done``, ``total`` and ``unit``.
PROGRESS = "progress.step"

T = TypeVar("T")


class Tracked(Sequence[T]):
    """``items``, reporting a :data:`PROGRESS` event after each one is used (iterated).

    ``for hit in Tracked(ctx, todo, "creating HITs", "HIT"): create(hit)`` shows a bar while
    the HITs are created. The first event (``done`` 0) is sent when iteration starts, so the
    bar's clock starts with the first call, not before the preparations.
    """

    def __init__(
        self,
        ctx: Context,
        items: Sequence[T],
        task: str,
        unit: str,
        target: str | None = None,
        *,
        plain: bool = True,
    ) -> None:
        """:param plain: print plain lines when piped (``False`` where the CLT's console
        output must stay as it was: a bar on a terminal only)."""
        self._ctx = ctx
        self.plain = plain
        self._items = items
        self.task = task
        self.unit = unit
        self.target = target

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._items[index]

    def _report(self, done: int) -> None:
        data = {
            "task": self.task,
            "done": done,
            "total": len(self._items),
            "unit": self.unit,
            "plain": self.plain,
        }
        self._ctx.report(Event(PROGRESS, "", target=self.target, data=data))

    def __iter__(self) -> Iterator[T]:
        if not self._items:
            return
        self._report(0)
        for done, item in enumerate(self._items, 1):
            yield item
            self._report(done)


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
        self._bar: Any = None
        self._bar_task: str | None = None
        self._shown_tenth = 0
        self._plain_task: str | None = None

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    @hookimpl(trylast=True)
    def mturkmake_report(self, event: Event) -> None:
        """Print ``event`` (progress to stdout, problems to stderr)."""
        if event.kind == PROGRESS:
            self._progress(event)
            return
        if not event.message:
            return
        if event.kind in VERBOSE and self.verbosity < 1:
            return
        stream = self.stderr if event.kind in TO_STDERR else self.stdout
        self._print(event.message, stream)

    def _print(self, message: str, stream: TextIO) -> None:
        # A bar is on screen (ours, or the --wait bar): write above it, not through it.
        tqdm_module = sys.modules.get("tqdm")
        if tqdm_module is not None and getattr(tqdm_module.tqdm, "_instances", None):
            tqdm_module.tqdm.write(message, file=stream)
            stream.flush()
            return
        print(message, file=stream, flush=True)

    def _progress(self, event: Event) -> None:
        task = str(event.data.get("task", ""))
        done = int(event.data.get("done", 0))
        total = int(event.data.get("total", 0))
        unit = str(event.data.get("unit", "item"))
        if self.stderr.isatty():
            self._draw(task, done, total, unit)
            return
        if not event.data.get("plain", True):
            return
        # Piped: a plain line per tenth of the work (every item of a step of ten or fewer).
        if done == 0 or not total or task != self._plain_task:
            self._plain_task, self._shown_tenth = task, 0  # a new step starts from nothing
        if done == 0 or not total:
            return
        tenth = done * 10 // total
        if done == total or tenth > self._shown_tenth:
            self._shown_tenth = tenth
            plural = unit if total == 1 else f"{unit}s"
            print(f"{task}: {done}/{total} {plural}", file=self.stdout, flush=True)

    def _draw(self, task: str, done: int, total: int, unit: str) -> None:
        if self._bar is None or self._bar_task != task or done == 0:
            self._close_bar()
            from tqdm import tqdm  # only on a terminal: a plain run must not import it

            size = _fixed_size(self.stderr)
            # smoothing: the first calls (connection set-up) must not fix the shown rate.
            self._bar = tqdm(
                desc=task,
                total=total,
                unit=unit,
                file=self.stderr,
                smoothing=0.1,
                mininterval=0.2,
                dynamic_ncols=size is None,
                ncols=size[0] if size else None,
                nrows=size[1] if size else None,
            )
            self._bar_task = task
        self._bar.update(done - self._bar.n)
        if done >= total:
            self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._bar_task = None


def _fixed_size(stream: TextIO) -> tuple[int, int] | None:
    """``None`` when the terminal knows its size (the bar follows it); else 80 × 24 — tqdm
    draws nothing on a terminal that reports 0 × 0 (a pseudo-terminal nobody sized)."""
    try:
        size = os.get_terminal_size(stream.fileno())
        if size.columns > 0 and size.lines > 0:
            return None
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
    return (80, 24)
