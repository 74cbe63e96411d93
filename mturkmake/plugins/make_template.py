"""makeTemplate and ``init``: start a new application from a template (seed 003; CLT 1.3.1).

``makeTemplate -template NAME -target NEW [-os Unix|Dos] [-type Hit|Qual] [-templateRootDir
DIR] [-targetRootDir DIR] [-scriptTemplateDir DIR]`` copies ``DIR/NAME/NAME.{question,
properties,input}`` (``-type Qual``: ``.question``, ``.properties`` and, when present,
``.answer``) to ``TARGETROOT/NEW/NEW.*`` and writes scripts that call mturkmake — ``run``,
``getResults`` and ``approveAndDeleteResults`` (``createQualification`` for ``-type Qual``),
``.sh`` for Unix or ``.cmd`` for Dos. An existing target directory is refused. Output as
seed 003 (``Copying resource file: …``, ``Generating script: …``).

The built-in templates are mturkmake's own, shipped as package data (``helloworld``,
``survey``, ``image_category``, ``external_hit``, ``qualification``); ``-templateRootDir``
may name any directory of templates, the CLT's ``samples`` included. With
``-scriptTemplateDir``, the scripts come from its ``<script>.<os>.template`` files, with
``${target}`` replaced, as the CLT made them.

``mturkmake init NAME [--template SAMPLE]`` does the same in make style: ``NAME/`` with
``NAME.input``, ``NAME.question``, ``NAME.properties`` and an ``mturkmake.toml`` for the local
marketplace — build ``NAME.approved`` there, no scripts needed.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from mturkmake.errors import UsageError
from mturkmake.hookspecs import CommandSpec, Context, Flag, hookimpl
from mturkmake.mturk.prompts import say

__all__ = ["BUILTIN_TEMPLATES", "builtin_root", "handle_init", "handle_make_template"]

BUILTIN_TEMPLATES = ("helloworld", "survey", "image_category", "external_hit", "qualification")
HIT_FILES = (".question", ".properties", ".input")
QUAL_FILES = (".question", ".properties")
UNIX_SCRIPTS = {
    "run": 'mturkmake loadHITs "$@" -label {t} -input {t}.input -question {t}.question '
    "-properties {t}.properties",
    "getResults": 'mturkmake getResults "$@" -successfile {t}.success -outputfile {t}.results',
    "approveAndDeleteResults": 'mturkmake deleteHITs "$@" -successfile {t}.success -approve '
    "-expire",
}
QUAL_SCRIPTS = {
    "createQualification": 'mturkmake createQualificationType "$@" -properties '
    "{t}.properties -question {t}.question{answer}",
}
TOML = """# Made by 'mturkmake init' from the template '{template}'.
# endpoint = "local" runs on mturkmake's built-in marketplace: offline, free, deterministic.
# Rehearse on MTurk's sandbox with endpoint = "sandbox"; real work needs "production".
endpoint = "local"
"""


def builtin_root() -> Path:
    """The directory of the built-in templates (package data)."""
    return Path(str(resources.files("mturkmake").joinpath("templates")))


def _available(root: Path) -> str:
    if not root.is_dir():
        return "none"
    return ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) or "none"


def _sources(root: Path, template: str, kind: str) -> list[Path]:
    folder = root / template
    wanted = QUAL_FILES if kind == "qual" else HIT_FILES
    stem = template
    if kind == "qual" and not (folder / f"{template}.properties").is_file():
        # the CLT's quiz_qual and java_qual_test name their files qualification.*
        stem = "qualification"
    missing = [f"{stem}{ext}" for ext in wanted if not (folder / f"{stem}{ext}").is_file()]
    if missing:
        raise UsageError(
            f"template '{template}' not found in {root} (missing {', '.join(missing)}); "
            "nothing was copied",
            hint=f"templates there: {_available(root)}",
        )
    found = [folder / f"{stem}{ext}" for ext in wanted]
    if kind == "qual" and (folder / f"{stem}.answer").is_file():
        found.append(folder / f"{stem}.answer")
    return found


def _script_text(name: str, body: str, target: str, dos: bool) -> str:
    if dos:
        return f"@echo off\r\nrem {name}: made by mturkmake makeTemplate\r\n" + (
            f'cd /d "%~dp0"\r\n{body.replace(chr(34) + "$@" + chr(34), "%*")}\r\n'
        )
    return (
        f"#!/bin/sh\n# {name}: made by mturkmake makeTemplate\n"
        f'cd "$(dirname "$0")" || exit 2\n{body}\n'
    )


def copy_template(
    ctx: Context,
    *,
    template: str,
    target: str,
    root: Path,
    target_root: Path,
    kind: str = "hit",
    os_name: str = "unix",
    script_dir: Path | None = None,
    scripts: bool = True,
) -> Path:
    """Copy ``template`` to ``target_root/target`` and write its scripts; returns the directory.

    :raises UsageError: the target exists, or the template is incomplete.
    """
    if not target or any(sep in target for sep in ("/", "\\")) or target in (".", ".."):
        raise UsageError(f"-target {target!r}: give a plain name for the new directory")
    destination = target_root / target
    if destination.exists():
        raise UsageError(
            f"{destination} already exists; nothing was copied",
            hint="choose another -target, or remove the directory",
        )
    sources = _sources(root, template, kind)
    destination.mkdir(parents=True)
    for source in sources:
        copy = destination / f"{target}{source.suffix}"
        copy.write_bytes(source.read_bytes())
        say(ctx, f"Copying resource file: {copy}")
    if not scripts:
        return destination
    dos = os_name == "dos"
    extension = ".cmd" if dos else ".sh"
    answer = f" -answer {target}.answer" if (destination / f"{target}.answer").exists() else ""
    bodies = QUAL_SCRIPTS if kind == "qual" else UNIX_SCRIPTS
    for name, body in bodies.items():
        path = destination / f"{name}{extension}"
        if script_dir is not None:
            source = script_dir / f"{name}.{'Dos' if dos else 'Unix'}.template"
            if not source.is_file():
                raise UsageError(f"{source}: no such script template")
            text = source.read_text(encoding="utf-8").replace("${target}", target)
        else:
            text = _script_text(name, body.format(t=target, answer=answer), target, dos)
        path.write_text(text, encoding="utf-8", newline="")
        if not dos:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        say(ctx, f"Generating script: {path}")
    return destination


def _choice(args: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = str(args.get(name) or default)
    if value.lower() not in allowed:
        raise UsageError(f"-{name} {value}: give one of {', '.join(allowed)}")
    return value.lower()


def handle_make_template(args: Mapping[str, Any], ctx: Context) -> int:
    """``makeTemplate -template NAME -target NEW [...]``."""
    script_dir = args.get("scriptTemplateDir")
    copy_template(
        ctx,
        template=str(args["template"]),
        target=str(args["target"]),
        root=Path(str(args["templateRootDir"])) if args.get("templateRootDir") else builtin_root(),
        target_root=Path(str(args.get("targetRootDir") or ".")),
        kind=_choice(args, "type", ("hit", "qual"), "Hit"),
        os_name=_choice(args, "os", ("unix", "dos"), "Unix"),
        script_dir=Path(str(script_dir)) if script_dir else None,
    )
    return 0


def handle_init(args: Mapping[str, Any], ctx: Context) -> int:
    """``init NAME [--template SAMPLE] [--templateRootDir DIR]``."""
    name = str(args["name"])
    template = str(args.get("template") or "helloworld")
    root = Path(str(args["templateRootDir"])) if args.get("templateRootDir") else builtin_root()
    kind = "qual" if (root / template / f"{template}.answer").is_file() else "hit"
    if kind == "hit" and not (root / template / f"{template}.input").is_file():
        kind = "qual" if (root / template / f"{template}.question").is_file() else "hit"
    destination = copy_template(
        ctx,
        template=template,
        target=name,
        root=root,
        target_root=Path.cwd(),
        kind=kind,
        scripts=False,
    )
    toml = destination / "mturkmake.toml"
    toml.write_text(TOML.format(template=template), encoding="utf-8")
    say(ctx, f"Writing project file: {toml}")
    goal = f"{name}.properties.success" if kind == "qual" else f"{name}.approved --wait"
    say(ctx, f"Next: cd {name} && mturkmake {goal}")
    return 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``makeTemplate`` (and ``make_template``) and ``init``."""
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("makeTemplate").spec(handle_make_template),
        CommandSpec(
            "init",
            (
                Flag("template", "SAMPLE", "the template to start from (default helloworld)"),
                Flag("templateRootDir", "DIR", "a directory of templates (default: built-in)"),
            ),
            handle_init,
            help="start a new batch directory from a template, with mturkmake.toml",
            positionals=(Flag("name", "NAME", "the directory and batch name", required=True),),
        ),
    )
