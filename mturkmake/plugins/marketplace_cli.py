"""``mturkmake marketplace serve|status|advance|reset``: the local marketplace's commands.

The marketplace lives in ``.mturkmake/local-marketplace.db`` at the project root, configured by
``[tool.mturkmake.local]`` (DESIGN §7). This module is a built-in plugin loaded on every run, so
it imports nothing heavy at module level: the marketplace (and botocore) load inside handlers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mturkmake import hookimpl
from mturkmake.errors import ConfigError, ExitCode, UsageError
from mturkmake.hookspecs import CommandSpec, ConfigKey, Context, Flag

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config

# Same values as mturkmake.marketplace.server's, which cannot be imported here (botocore).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

SERVE_FLAGS = (
    Flag(
        "host",
        "HOST",
        "address to listen on (loopback unless --allow-remote)",
        default=DEFAULT_HOST,
    ),
    Flag("port", "PORT", "port to listen on (0 picks a free one)", default=str(DEFAULT_PORT)),
    Flag("realtime", None, "advance the virtual clock with wall time"),
    Flag("allow-remote", None, "permit a non-loopback --host (the server checks no credentials)"),
    Flag("latency", "DURATION", "wait this long before each answer, e.g. 50ms"),
    Flag("throttle-rate", "SHARE", "share of requests answered ThrottlingException, e.g. 0.1"),
    Flag("fault-rate", "SHARE", "share of requests answered ServiceFault (HTTP 500), e.g. 0.05"),
    Flag("rps", "N", "requests per second before ThrottlingException"),
    Flag("plugins", None, "let project plugins answer for the simulated workers"),
    Flag("open", None, "print the local worker site's URL, where you do HITs in a browser"),
    Flag(
        "allow-http-external",
        None,
        "accept ExternalQuestions on http:// pages (MTurk refuses them; so does serve without it)",
    ),
)


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``[tool.mturkmake.local]``: the local marketplace and its simulated crowd."""
    return (
        ConfigKey(
            "local",
            dict,
            {},
            "the local marketplace: seed, start, workers, speed, accuracy, planted workers… "
            "(a table)",
            env=False,
        ),
    )


@hookimpl
def mturkmake_configure(config: Config) -> None:
    """Refuse a malformed ``[tool.mturkmake.local]`` before anything runs (one line naming
    the key). Only the pure settings module loads: no marketplace, no botocore."""
    table = config.get("local")
    if table is None:
        return
    source = config.sources.get("local")
    file = source if source and source != "default" else None
    if not isinstance(table, Mapping):
        raise ConfigError(
            "'local' must be a table",
            file=file,
            hint="write [tool.mturkmake.local] (or [local] in mturkmake.toml)",
        )
    if not table:
        return  # the default: nothing to check, and no settings module to load (#17)
    from mturkmake.marketplace.crowd_settings import validate_local

    try:
        validate_local(table)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file) from None


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """The ``marketplace`` subcommands."""
    return (
        CommandSpec(
            "marketplace serve",
            SERVE_FLAGS,
            serve,
            help="serve the local MTurk marketplace over HTTP (for the AWS CLI and boto3)",
        ),
        CommandSpec(
            "marketplace status",
            (Flag("json", None, "print the status as JSON"),),
            status,
            help="show the local marketplace's clock, balance and counts",
        ),
        CommandSpec(
            "marketplace advance",
            (),
            advance,
            help="move the local marketplace's clock forward (90, 15m, 1h, 2d, 1h30m)",
            positionals=(Flag("duration", "DURATION", "how far to move the clock", required=True),),
        ),
        CommandSpec(
            "marketplace events",
            (
                Flag("follow", None, "keep printing new messages as they are logged (Ctrl-C)"),
                Flag("json", None, "print each message as one line of JSON"),
            ),
            events,
            help="print the notification messages the local marketplace logged",
        ),
        CommandSpec(
            "marketplace layout add",
            (),
            layout_add,
            help="register a HIT layout (an HTML template with ${name} placeholders)",
            positionals=(
                Flag("name", "NAME", "the layout's name", required=True),
                Flag("file", "FILE", "the template (HTML, or an HTMLQuestion)", required=True),
            ),
        ),
        CommandSpec(
            "marketplace reset",
            (),
            reset,
            help="empty the local marketplace (HITs, workers' work, balance, clock)",
        ),
    )


def serve(args: Mapping[str, Any], ctx: Context) -> int:
    """Serve until Ctrl-C; prints the URL to give ``--endpoint-url`` / ``endpoint_url``."""
    from mturkmake.marketplace.inprocess import open_local_marketplace
    from mturkmake.marketplace.server import MarketplaceServer

    answer_fn = ctx.host.simulate_answer if args.get("plugins") else None
    marketplace = open_local_marketplace(
        ctx.config,
        answer_fn=answer_fn,
        allow_http_external=bool(
            args.get("allow-http-external") or args.get("allow_http_external")
        ),
    )
    server = MarketplaceServer(
        marketplace,
        str(args.get("host") or DEFAULT_HOST),
        _int(DEFAULT_PORT if args.get("port") is None else args["port"], "--port"),
        faults=_faults(args, ctx),
        realtime=bool(args.get("realtime")),
        allow_remote=bool(args.get("allow-remote") or args.get("allow_remote")),
    )
    print(
        f"Serving the local MTurk marketplace at {server.url} "
        f"(clock {_when(marketplace.now())}); Ctrl-C stops.\n" + serve_examples(server.url),
        flush=True,
    )
    if args.get("open"):  # the worker site: mturkmake/marketplace/worker_site.py
        print(f"Worker site: {server.url}/worker/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    return int(ExitCode.OK)


def serve_examples(url: str) -> str:
    """Two ways in that work as printed, even on a machine without AWS credentials: the
    marketplace checks no signature, so the CLI need not sign and boto3 may sign with any key."""
    return (
        f"  aws mturk get-account-balance --no-sign-request --region us-east-1"
        f" --endpoint-url {url}\n"
        f"  boto3.client('mturk', endpoint_url='{url}', region_name='us-east-1',"
        f" aws_access_key_id='local', aws_secret_access_key='local')"
    )


def status(args: Mapping[str, Any], ctx: Context) -> int:
    """Print the clock, the balance and the counts of HITs and assignments by status."""
    import json

    from mturkmake.marketplace.inprocess import open_local_marketplace

    report = open_local_marketplace(ctx.config).status()
    if args.get("json"):
        print(json.dumps(report, indent=2, sort_keys=True, default=str))
        return int(ExitCode.OK)
    for key, value in report.items():
        if isinstance(value, Mapping):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        else:
            shown = str(value)
        print(f"{key.replace('_', ' ')}: {shown}")
    return int(ExitCode.OK)


def advance(args: Mapping[str, Any], ctx: Context) -> int:
    """Move the virtual clock forward, playing the crowd's events on the way."""
    from mturkmake.marketplace.clock import parse_duration
    from mturkmake.marketplace.inprocess import open_local_marketplace

    text = str(args.get("duration") or "")
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    marketplace = open_local_marketplace(ctx.config)
    events = marketplace.advance(seconds)
    print(f"Advanced {text}: {events} events; the clock is now {_when(marketplace.now())}.")
    return int(ExitCode.OK)


def events(args: Mapping[str, Any], ctx: Context) -> int:
    """Print the logged notification messages; ``--follow`` waits for more (every 0.5 s)."""
    import json
    import time

    from mturkmake.marketplace.inprocess import open_local_marketplace

    marketplace = open_local_marketplace(ctx.config)
    seen = 0
    try:
        while True:
            for entry in marketplace.events(seen):
                seen = int(entry["seq"])
                message = entry["message"]
                if args.get("json"):
                    print(json.dumps(message, sort_keys=True), flush=True)
                    continue
                for event in message.get("Events", []):
                    subject = " ".join(
                        f"{key}={event[key]}"
                        for key in ("HITId", "AssignmentId", "HITTypeId")
                        if key in event
                    )
                    print(
                        f"{event.get('EventTimestamp')} {event.get('EventType')} {subject} "
                        f"→ {entry['transport']} {entry['destination']}".replace("  ", " "),
                        flush=True,
                    )
            if not args.get("follow"):
                return int(ExitCode.OK)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return int(ExitCode.OK)


def layout_add(args: Mapping[str, Any], ctx: Context) -> int:
    """Register a layout from a file and print its HITLayoutId."""
    from pathlib import Path

    from mturkmake.marketplace.inprocess import open_local_marketplace

    name, path = str(args.get("name") or ""), Path(str(args.get("file") or ""))
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the layout — {exc}") from None
    try:
        layout_id = open_local_marketplace(ctx.config).register_layout(name, content)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    print(layout_id)
    return int(ExitCode.OK)


def reset(args: Mapping[str, Any], ctx: Context) -> int:
    """Empty the marketplace: a fresh balance, clock and crowd, as on first use."""
    from mturkmake.core.state import StateDB
    from mturkmake.marketplace.inprocess import open_local_marketplace
    from mturkmake.mturk.batch import known_batches
    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.results_cache import ResultsCache
    from mturkmake.plugins.switch_endpoint import archive_target_names

    marketplace = open_local_marketplace(ctx.config)
    marketplace.reset()
    # The HITs the ledger remembers are gone with the marketplace: archive them, so that the
    # next run starts fresh batches instead of adopting (or recovering) HITs that no longer
    # exist (DESIGN §4).
    ledger = open_ledger(ctx.config.state_dir, "local", clock=marketplace.now)
    try:
        # Their targets describe HITs that no longer exist: archive them as switch-endpoint
        # does (survey.success → survey.local-reset.success), so the next build starts anew.
        moved: list[str] = []
        for success in known_batches(ledger).values():
            stem = success.removesuffix(".success")
            if not success.endswith(".success") or not stem:
                continue
            for source, target in archive_target_names(ctx.root, stem, "local-reset").items():
                os.replace(source, target)
                moved.append(f"{source.name} → {target.name}")
        archived = ledger.archive_endpoint("local", "marketplace reset")
    finally:
        ledger.close()
    # Cached assignments of the wiped marketplace must not answer for new HITs either.
    ResultsCache(StateDB(ctx.config.state_dir / "state.db"), "local").forget()
    print(f"Reset the local marketplace; the clock is now {_when(marketplace.now())}.")
    if archived:
        print(f"Archived {archived} local ledger entries.")
    if moved:
        print("Archived targets: " + ", ".join(moved))
    return int(ExitCode.OK)


def _faults(args: Mapping[str, Any], ctx: Context) -> Any:
    """Fault settings: the flags override ``[tool.mturkmake.local.faults]``."""
    from dataclasses import replace

    from mturkmake.marketplace.clock import parse_duration
    from mturkmake.marketplace.faults import FaultSettings, parse_latency
    from mturkmake.marketplace.inprocess import fault_settings

    base = fault_settings(ctx.config)
    if base is None:
        local = ctx.config.get("local") or {}
        base = FaultSettings(seed=int(local.get("seed", 0)) if isinstance(local, Mapping) else 0)
    changes: dict[str, Any] = {}
    try:
        if args.get("latency") is not None:
            changes["latency"] = parse_latency(str(args["latency"]), parse_duration)
        for flag, name in (("throttle-rate", "throttle_rate"), ("fault-rate", "fault_rate")):
            value = args.get(flag, args.get(name))
            if value is not None:
                changes[name] = float(value)
        if args.get("rps") is not None:
            changes["rps"] = float(args["rps"])
        return replace(base, **changes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _when(moment: datetime) -> str:
    """The virtual clock as ``2026-01-01T00:00:00Z`` (as ``status`` prints it)."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _int(value: Any, flag: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a whole number, not {value!r}") from None
