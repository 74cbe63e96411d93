"""What every CLT command is: its name, flags and help, as seed 003 (the CLT reference) documents.

This module is data: the single source of truth that command plugins build their
:class:`~mturkmake.hookspecs.CommandSpec` from, so ``loadHITs`` parses the same flags whether it
is implemented yet or still a placeholder (:mod:`mturkmake.plugins.clt_placeholders`)::

    from mturkmake.plugins import clt_catalog

    @hookimpl
    def mturkmake_commands() -> Sequence[CommandSpec]:
        return (clt_catalog.command("loadHITs").spec(handle_load_hits),)

Decisions (each also stated in the flag's help, which ``-help`` prints):

- ``flags`` are exactly the rows of the command's Arguments table, in the table's order, except
  ``-help or -h``: ``cli.py`` gives every command ``-h``, ``-help`` and ``--help``.
- A flag takes a value when its Name cell has a ``[placeholder]`` or its Example shows a value
  (``-maxhits 1``, ``-reason "…"``, ``-qualtypeid RWFZ…`` have no placeholder in the table).
- ``required`` only for "Yes" rows. "Conditional" rows ("Required if X is not specified") form
  the ``one_of`` groups, checked by :func:`check_one_of` after parsing: at least one per group.
  ``extendHITs`` needs ``-assignments`` or ``-hours`` (CLT 1.3.1 source, clt-formats.md §8).
- ``makeTemplate``: the table says every flag is required, but users ran the ``makeTemplate.sh``
  wrapper, which supplied ``-os -type -templateRootDir -targetRootDir -scriptTemplateDir``
  (clt-formats.md §7) — as the reference's own Unix example shows. Only ``-target`` and
  ``-template`` are required here; the others are accepted.
- ``extra_flags`` are mturkmake's documented additions (DESIGN §2, §3, §8), never CLT flags:
  ``reviewResults -force`` (it confirms, so ``-force`` must skip), ``resetAccount
  --all-account``, ``grantBonus --again``, ``loadHITs --replace-edited --new-batch``.
- ``confirms``: the commands that asked for ENTER in the CLT (DESIGN §8). ``spends_money``: the
  commands whose calls can pay or commit money — creating HITs or assignments, approving (also
  deleteHITs ``-approve`` and resetAccount, which approve submitted work), bonuses, and updateHITs
  (a new HIT type may carry a higher reward). Granting a qualification pays nothing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mturkmake.errors import UsageError
from mturkmake.hookspecs import CommandSpec, Context, Flag

__all__ = [
    "CLT_COMMANDS",
    "CltCommand",
    "check_one_of",
    "command",
    "snake_case",
]

Handler = Callable[[Mapping[str, Any], Context], int]


def snake_case(name: str) -> str:
    """The snake_case alias of a CLT name: ``loadHITs`` → ``load_hits``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class CltCommand:
    """One CLT command as seed 003 documents it.

    :param name: camelCase, as the CLT spells it (``loadHITs``).
    :param help: one line, from the command's Description.
    :param flags: the rows of its Arguments table (without ``-help``), in the table's order.
    :param one_of: groups of flag names of which at least one must be given.
    :param confirms: it asked for confirmation in the CLT (``-force`` skips).
    :param spends_money: its calls can pay or commit money.
    :param extra_flags: mturkmake's additions (DESIGN), not in the CLT reference.
    """

    name: str
    help: str
    flags: tuple[Flag, ...]
    one_of: tuple[tuple[str, ...], ...] = ()
    confirms: bool = False
    spends_money: bool = False
    extra_flags: tuple[Flag, ...] = ()

    @property
    def alias(self) -> str:
        """The snake_case alias (``load_hits``)."""
        return snake_case(self.name)

    @property
    def all_flags(self) -> tuple[Flag, ...]:
        """The documented flags followed by mturkmake's additions."""
        return self.flags + self.extra_flags

    def flag(self, name: str) -> Flag:
        """The flag called ``name`` (documented or added); :class:`KeyError` if none."""
        for flag in self.all_flags:
            if flag.name == name:
                return flag
        raise KeyError(f"{self.name} has no flag -{name}")

    def spec(
        self,
        handler: Handler,
        *,
        help: str | None = None,
        extra_flags: tuple[Flag, ...] = (),
    ) -> CommandSpec:
        """The :class:`CommandSpec` an implementation registers.

        :param handler: ``handler(args, ctx) -> exit code``; call :func:`check_one_of` first.
        :param help: replaces the one-line help (default: the catalogue's).
        :param extra_flags: further flags of this implementation; a name clash is a bug.
        """
        flags = self.all_flags + extra_flags
        names = [f.name for f in flags]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise ValueError(f"{self.name}: flag(s) defined twice: {', '.join(clashes)}")
        return CommandSpec(
            name=self.name,
            flags=flags,
            handler=handler,
            help=self.help if help is None else help,
            confirms=self.confirms,
            spends_money=self.spends_money,
            aliases=(self.alias,),
        )


def _given(value: Any) -> bool:
    # Absent flags parse to None (values), False (switches) or [] (repeated flags).
    return value not in (None, False, "", [])


def _alternatives(names: tuple[str, ...]) -> str:
    dashed = [f"-{n}" for n in names]
    return dashed[0] if len(dashed) == 1 else ", ".join(dashed[:-1]) + " or " + dashed[-1]


def check_one_of(cmd: CltCommand | str, args: Mapping[str, Any]) -> None:
    """Check that ``args`` (parsed flags) give at least one flag of each ``one_of`` group.

    :raises UsageError: naming the command and the alternatives of the first unmet group.
    """
    spec = command(cmd) if isinstance(cmd, str) else cmd
    for group in spec.one_of:
        if not any(_given(args.get(name)) for name in group):
            raise UsageError(
                f"{spec.name}: give {_alternatives(group)}",
                hint=f"see 'mturkmake {spec.name} -help'",
            )


# --------------------------------------------------------------------------------------------
# Flags several commands share (same meaning, same help).
# --------------------------------------------------------------------------------------------

SANDBOX = Flag("sandbox", None, "run against the MTurk sandbox (overrides mturk.properties)")
FORCE = Flag("force", None, "do not ask for confirmation")
SUCCESSFILE = Flag(
    "successfile", "FILE", "the .success file loadHITs wrote (its HITs)", required=True
)
QUALTYPEID = Flag("qualtypeid", "QUALTYPE_ID", "the Qualification type ID", required=True)


def _cond(name: str, value: str, help: str, others: tuple[str, ...]) -> Flag:
    """A "Conditional" row: required unless one of ``others`` is given."""
    return Flag(name, value, f"{help} (required unless {_alternatives(others)} is given)")


# --------------------------------------------------------------------------------------------
# The table: seed 003's commands in its alphabetical order.
# --------------------------------------------------------------------------------------------

CLT_COMMANDS: tuple[CltCommand, ...] = (
    CltCommand(
        "approveQualificationRequests",
        "approve Workers' Qualification requests",
        (
            _cond(
                "approvefile", "FILE", "tab-separated file of requests to approve", ("qualRequest",)
            ),
            FORCE,
            _cond(
                "qualRequest", "IDS", "Qualification request IDs, comma separated", ("approvefile",)
            ),
            SANDBOX,
            Flag("score", "N", "the score for each approved request (the file's scores win)"),
        ),
        one_of=(("approvefile", "qualRequest"),),
        confirms=True,
    ),
    CltCommand(
        "approveWork",
        "approve submitted assignments (pays reward and fees)",
        (
            _cond(
                "approvefile",
                "FILE",
                "file of assignment IDs and optional comments",
                ("assignment", "successfile"),
            ),
            _cond(
                "assignment",
                "IDS",
                "assignment IDs, comma separated",
                ("approvefile", "successfile"),
            ),
            FORCE,
            SANDBOX,
            _cond(
                "successfile",
                "FILE",
                "approve every submitted assignment of these HITs",
                ("approvefile", "assignment"),
            ),
        ),
        one_of=(("approvefile", "assignment", "successfile"),),
        confirms=True,
        spends_money=True,
    ),
    CltCommand(
        "assignQualification",
        "assign a Qualification to Workers without their request",
        (
            Flag("donotnotify", None, "do not notify the Workers"),
            _cond(
                "input",
                "FILE",
                "the Qualification ID file (createQualificationType's .success)",
                ("qualtypeid",),
            ),
            _cond("qualtypeid", "QUALTYPE_ID", "the Qualification type ID", ("input",)),
            SANDBOX,
            Flag("score", "N", "the default score (default 1; the scorefile's scores win)"),
            _cond(
                "scorefile", "FILE", "tab-separated Worker IDs and optional scores", ("workerid",)
            ),
            _cond("workerid", "WORKER_ID", "the Worker to assign it to", ("scorefile",)),
        ),
        one_of=(("input", "qualtypeid"), ("scorefile", "workerid")),
    ),
    CltCommand(
        "blockWorker",
        "block a Worker from working on your HITs",
        (
            Flag("reason", "TEXT", "why (logged by MTurk), in quotes", required=True),
            SANDBOX,
            Flag("workerid", "WORKER_ID", "the Worker to block", required=True),
        ),
    ),
    CltCommand(
        "createQualificationType",
        "create a Qualification type, with or without a test",
        (
            Flag("answer", "FILE", "the test's answer key (AnswerKey XML)"),
            Flag("noretry", None, "Workers may request the Qualification only once"),
            Flag("properties", "FILE", "the Qualification properties file", required=True),
            Flag("question", "FILE", "the Qualification test (QuestionForm)"),
            SANDBOX,
        ),
    ),
    CltCommand(
        "deleteHITs",
        "delete the HITs of a .success file",
        (
            Flag("approve", None, "first approve submitted, unreviewed assignments"),
            Flag("expire", None, "first expire HITs still available to Workers"),
            FORCE,
            SANDBOX,
            Flag("successfile", "FILE", "the .success file of the HITs to delete", required=True),
        ),
        confirms=True,
        spends_money=True,
    ),
    CltCommand(
        "evaluateQualificationRequests",
        "grade Qualification requests against an answer key",
        (
            Flag("answers", "FILE", "the answer key (question=answer lines)", required=True),
            _cond(
                "input",
                "FILE",
                "the Qualification ID file (createQualificationType's .success)",
                ("qualtypeid",),
            ),
            Flag("preview", None, "show the outcome; approve and reject nothing"),
            _cond("qualtypeid", "QUALTYPE_ID", "the Qualification type ID", ("input",)),
            SANDBOX,
        ),
        one_of=(("input", "qualtypeid"),),
    ),
    CltCommand(
        "extendHITs",
        "add assignments or time to the HITs of a .success file",
        (
            Flag(
                "assignments",
                "N",
                "assignments to add to each HIT (at least one of -assignments, -hours)",
            ),
            Flag(
                "hours",
                "N",
                "hours to add to each HIT's expiration (at least one of -assignments, -hours)",
            ),
            SANDBOX,
            Flag("successfile", "FILE", "the .success file of the HITs to extend", required=True),
        ),
        one_of=(("assignments", "hours"),),
        spends_money=True,
    ),
    CltCommand(
        "getBalance",
        "print the account's available balance",
        (SANDBOX,),
    ),
    CltCommand(
        "getQualificationRequests",
        "write Workers' Qualification requests to a tab-separated file",
        (
            Flag("outputfile", "FILE", "the file to write", required=True),
            Flag(
                "qualtypeid", "QUALTYPE_ID", "only this Qualification type (default: all of yours)"
            ),
            SANDBOX,
        ),
    ),
    CltCommand(
        "getResults",
        "write the results of the HITs of a .success file",
        (
            Flag("namevaluepairs", None, "write name-value pairs instead of columns"),
            Flag("outputfile", "FILE", "the .results file to write", required=True),
            SANDBOX,
            SUCCESSFILE,
        ),
    ),
    CltCommand(
        "grantBonus",
        "pay a Worker a bonus for an assignment",
        (
            Flag("amount", "DOLLARS", "the bonus, e.g. 10.50", required=True),
            Flag("assignment", "ASSIGNMENT_ID", "the assignment the bonus is for", required=True),
            Flag("reason", "TEXT", "why (the Worker sees it), in quotes", required=True),
            SANDBOX,
            Flag("workerid", "WORKER_ID", "the Worker to pay", required=True),
        ),
        spends_money=True,
        extra_flags=(
            Flag("again", None, "pay again although this bonus was already paid (mturkmake)"),
        ),
    ),
    CltCommand(
        "loadHITs",
        "create one HIT per input row (question + properties)",
        (
            Flag("input", "FILE", "the input file (one row per HIT)", required=True),
            Flag("label", "NAME", "base name of the .success and .failure files"),
            Flag("maxhits", "N", "create at most N HITs (for testing)"),
            Flag("preview", None, "write an HTML preview of the first HITs; create nothing"),
            Flag("previewfile", "FILE", "the preview file with -preview (default preview.html)"),
            Flag("properties", "FILE", "the HIT properties file", required=True),
            Flag("question", "FILE", "the question file or template", required=True),
            SANDBOX,
        ),
        spends_money=True,
        extra_flags=(
            Flag(
                "replace-edited",
                None,
                "expire and replace the HITs of rows whose key columns changed (mturkmake)",
            ),
            Flag(
                "new-batch", None, "allow posting this input again under a new -label (mturkmake)"
            ),
        ),
    ),
    CltCommand(
        "makeTemplate",
        "copy a sample application into a new directory",
        (
            Flag("os", "Dos|Unix", "the script flavour (default Unix, as makeTemplate.sh)"),
            SANDBOX,
            Flag(
                "scriptTemplateDir",
                "PATH",
                "the script template directory (optional: makeTemplate.sh supplied it)",
            ),
            Flag(
                "target", "NAME", "the directory to create; also the new files' name", required=True
            ),
            Flag(
                "targetRootDir",
                "PATH",
                "where to create the target (optional: makeTemplate.sh supplied it)",
            ),
            Flag("template", "NAME", "the sample to copy, e.g. helloworld", required=True),
            Flag(
                "templateRootDir",
                "PATH",
                "where the samples are (optional: makeTemplate.sh supplied it)",
            ),
            Flag("type", "Hit|Qual", "the kind of sample (default Hit, as makeTemplate.sh)"),
        ),
    ),
    CltCommand(
        "rejectQualificationRequests",
        "reject Workers' Qualification requests",
        (
            FORCE,
            _cond(
                "qualRequest", "IDS", "Qualification request IDs, comma separated", ("rejectfile",)
            ),
            _cond(
                "rejectfile",
                "FILE",
                "file of requests to reject and optional comments",
                ("qualRequest",),
            ),
            SANDBOX,
        ),
        one_of=(("qualRequest", "rejectfile"),),
        confirms=True,
    ),
    CltCommand(
        "rejectWork",
        "reject submitted assignments",
        (
            _cond("assignment", "IDS", "assignment IDs, comma separated", ("rejectfile",)),
            FORCE,
            _cond(
                "rejectfile",
                "FILE",
                "file of assignment IDs and optional comments",
                ("assignment",),
            ),
            SANDBOX,
        ),
        one_of=(("assignment", "rejectfile"),),
        confirms=True,
    ),
    CltCommand(
        "resetAccount",
        "delete your HITs (approves submitted work first)",
        (FORCE, SANDBOX),
        confirms=True,
        spends_money=True,
        extra_flags=(
            Flag(
                "all-account", None, "every HIT of the account, not only this project's (mturkmake)"
            ),
        ),
    ),
    CltCommand(
        "reviewResults",
        "approve or reject assignments as marked in a .results file",
        (
            Flag("resultsfile", "FILE", "getResults' output with rejections marked", required=True),
            SANDBOX,
        ),
        confirms=True,
        spends_money=True,
        extra_flags=(
            Flag("force", None, "do not ask for confirmation (mturkmake: the CLT had none)"),
        ),
    ),
    CltCommand(
        "revokeQualification",
        "revoke a Qualification from a Worker",
        (
            QUALTYPEID,
            Flag("reason", "TEXT", "why (the Worker sees it), in quotes"),
            SANDBOX,
            Flag("workerid", "WORKER_ID", "the Worker to revoke it from", required=True),
        ),
    ),
    CltCommand(
        "unblockWorker",
        "unblock a blocked Worker",
        (
            Flag("reason", "TEXT", "why (logged by MTurk), in quotes", required=True),
            SANDBOX,
            Flag("workerid", "WORKER_ID", "the Worker to unblock", required=True),
        ),
    ),
    CltCommand(
        "updateHITs",
        "change the properties of the HITs of a .success file",
        (
            Flag(
                "properties", "FILE", "the HIT properties file with the new values", required=True
            ),
            SANDBOX,
            Flag("success", "FILE", "the .success file of the HITs to update", required=True),
        ),
        spends_money=True,
    ),
    CltCommand(
        "updateQualificationScore",
        "update Workers' scores for a Qualification",
        (
            _cond("input", "FILE", "tab-separated Worker IDs and scores", ("workerid",)),
            QUALTYPEID,
            SANDBOX,
            Flag("score", "N", "the score for each Worker (required if the -input file has none)"),
            _cond("workerid", "WORKER_ID", "the Worker to update", ("input",)),
        ),
        one_of=(("input", "workerid"),),
    ),
    CltCommand(
        "updateQualificationType",
        "change a Qualification type (properties, test, status)",
        (
            Flag("answer", "FILE", "the new answer key (AnswerKey XML)"),
            Flag("properties", "FILE", "the Qualification properties file (not its title)"),
            QUALTYPEID,
            Flag("question", "FILE", "the new Qualification test"),
            Flag("status", "Active|Inactive", "activate or deactivate the Qualification"),
            SANDBOX,
        ),
    ),
)

_BY_NAME: dict[str, CltCommand] = {
    **{c.alias: c for c in CLT_COMMANDS},
    **{c.name: c for c in CLT_COMMANDS},
}


def command(name: str) -> CltCommand:
    """The catalogue entry for ``name`` (camelCase ``loadHITs`` or its alias ``load_hits``).

    :raises KeyError: naming the unknown command and the closest known names.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        pass
    close = difflib.get_close_matches(name.lower(), [c.name.lower() for c in CLT_COMMANDS], 3)
    names = [c.name for c in CLT_COMMANDS if c.name.lower() in close]
    hint = f"; did you mean {' or '.join(names)}?" if names else ""
    raise KeyError(f"'{name}' is not a CLT command in the catalogue{hint}")
