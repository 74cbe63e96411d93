"""Built-in plugins registered by light stand-ins that import their module on first use (#17).

A run that finds its targets up to date calls only a few hooks (options, config keys and
layers, configure, rules). Importing all forty built-in modules, and letting pluggy scan every
attribute of each, cost a no-op run more than deciding does. So each built-in listed in
:data:`BUILTIN_HOOKS` is registered as a *stand-in*: a module object of the same name whose
hook implementations have the real ones' names, arguments and options (so pluggy orders and
calls them exactly as it would the module's), and which import the real module and forward to
its implementation when first called. ``mturkmake plugins`` lists a stand-in as the built-in it
stands for. :data:`BUILTIN_COMMANDS` names the commands each built-in contributes, so that
make mode knows a target from a command without importing every command's module.

Both tables describe the modules' code: ``tests/core/test_lazy_plugins.py`` compares them with
the modules and prints the entries to paste when a built-in gains or loses a hook or command.
A module missing from :data:`BUILTIN_HOOKS` is imported and registered as it is.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

from mturkmake.hookspecs import PROJECT_NAME, hookimpl

#: Built-in module → its hook implementations: ``name(arg, ...)`` without the ``mturkmake_``
#: prefix, the arguments in the implementation's order, then pluggy options (``trylast`` …).
BUILTIN_HOOKS: dict[str, tuple[str, ...]] = {
    "mturkmake.plugins.clt_placeholders": ("commands() trylast",),
    "mturkmake.plugins.templating": ("config_keys()", "configure(config)", "template_engines()"),
    "mturkmake.plugins.evaluators": ("config_keys()", "configure(config)", "evaluators()"),
    "mturkmake.plugins.marketplace_cli": ("commands()", "config_keys()", "configure(config)"),
    "mturkmake.plugins.client": (
        "config_keys()",
        "config_layers(root)",
        "configure(config)",
        "make_client(config, host) trylast",
    ),
    "mturkmake.plugins.switch_endpoint": ("commands()",),
    "mturkmake.plugins.plugins_cli": ("commands()",),
    "mturkmake.plugins.load_hits": (
        "add_options(parser)",
        "commands()",
        "config_keys()",
        "recoveries()",
        "rules(config)",
    ),
    "mturkmake.plugins.preview": ("config_keys()", "rules(config)"),
    "mturkmake.plugins.approved_rule": ("recoveries()", "rules(config)"),
    "mturkmake.plugins.approve_work": ("commands()", "recoveries()"),
    "mturkmake.plugins.reject_work": ("commands()", "recoveries()"),
    "mturkmake.plugins.review_results": ("commands()", "recoveries()"),
    "mturkmake.plugins.unreject": ("commands()", "recoveries()"),
    "mturkmake.plugins.get_results": ("commands()", "config_keys()", "rules(config)"),
    "mturkmake.plugins.create_qualification_type": ("commands()", "recoveries()", "rules(config)"),
    "mturkmake.plugins.update_qualification_type": ("commands()", "recoveries()"),
    "mturkmake.plugins.assign_qualification": ("commands()", "recoveries()"),
    "mturkmake.plugins.revoke_qualification": ("commands()", "recoveries()"),
    "mturkmake.plugins.update_qualification_score": ("commands()", "recoveries()"),
    "mturkmake.plugins.get_qualification_requests": ("commands()",),
    "mturkmake.plugins.approve_qualification_requests": ("commands()", "recoveries()"),
    "mturkmake.plugins.reject_qualification_requests": ("commands()", "recoveries()"),
    "mturkmake.plugins.evaluate_qualification_requests": (
        "commands()",
        "config_keys()",
        "qualification_evaluators()",
        "recoveries()",
    ),
    "mturkmake.plugins.notify_workers": ("commands()", "recoveries()"),
    "mturkmake.plugins.exclude_workers": ("config_keys()", "configure(config)"),
    "mturkmake.plugins.get_balance": ("commands()",),
    "mturkmake.plugins.grant_bonus": ("commands()", "recoveries()"),
    "mturkmake.plugins.bonused_rule": ("recoveries()", "rules(config)"),
    "mturkmake.plugins.extend_hits": ("commands()", "recoveries()"),
    "mturkmake.plugins.delete_hits": ("commands()", "recoveries()"),
    "mturkmake.plugins.block_worker": ("commands()", "recoveries()"),
    "mturkmake.plugins.update_hits": ("commands()", "recoveries()"),
    "mturkmake.plugins.reset_account": ("commands()", "recoveries()"),
    "mturkmake.plugins.make_template": ("commands()",),
    "mturkmake.plugins.exports": ("config_keys()", "rules(config)"),
    "mturkmake.plugins.status": ("commands()",),
    "mturkmake.plugins.report": ("rules(config)",),
    "mturkmake.plugins.review_page": ("commands()",),
}


def _snake_and_camel(*names: str) -> tuple[str, ...]:
    # Every CLT command answers to its CLT name and its snake_case alias.
    pairs = []
    for name in names:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
        snake = snake.replace("_h_i_ts", "_hits").replace("_h_i_t", "_hit")
        pairs += [name, snake]
    return tuple(pairs)


#: The CLT's commands (clt_placeholders offers a placeholder for each one not implemented).
_CLT = _snake_and_camel(
    "approveQualificationRequests",
    "approveWork",
    "assignQualification",
    "blockWorker",
    "createQualificationType",
    "deleteHITs",
    "evaluateQualificationRequests",
    "extendHITs",
    "getBalance",
    "getQualificationRequests",
    "getResults",
    "grantBonus",
    "loadHITs",
    "makeTemplate",
    "rejectQualificationRequests",
    "rejectWork",
    "resetAccount",
    "reviewResults",
    "revokeQualification",
    "unblockWorker",
    "updateHITs",
    "updateQualificationScore",
    "updateQualificationType",
)

#: Built-in module → the names and aliases of the commands its ``mturkmake_commands`` returns.
BUILTIN_COMMANDS: dict[str, tuple[str, ...]] = {
    "mturkmake.plugins.clt_placeholders": _CLT,
    "mturkmake.plugins.marketplace_cli": (
        "marketplace serve",
        "marketplace status",
        "marketplace advance",
        "marketplace events",
        "marketplace layout add",
        "marketplace reset",
    ),
    "mturkmake.plugins.switch_endpoint": ("switch-endpoint",),
    "mturkmake.plugins.plugins_cli": ("plugins",),
    "mturkmake.plugins.load_hits": _snake_and_camel("loadHITs"),
    "mturkmake.plugins.approve_work": _snake_and_camel("approveWork"),
    "mturkmake.plugins.reject_work": _snake_and_camel("rejectWork"),
    "mturkmake.plugins.review_results": _snake_and_camel("reviewResults"),
    "mturkmake.plugins.unreject": ("unreject",),
    "mturkmake.plugins.get_results": _snake_and_camel("getResults"),
    "mturkmake.plugins.create_qualification_type": _snake_and_camel("createQualificationType"),
    "mturkmake.plugins.update_qualification_type": _snake_and_camel("updateQualificationType"),
    "mturkmake.plugins.assign_qualification": _snake_and_camel("assignQualification"),
    "mturkmake.plugins.revoke_qualification": _snake_and_camel("revokeQualification"),
    "mturkmake.plugins.update_qualification_score": _snake_and_camel("updateQualificationScore"),
    "mturkmake.plugins.get_qualification_requests": _snake_and_camel("getQualificationRequests"),
    "mturkmake.plugins.approve_qualification_requests": _snake_and_camel(
        "approveQualificationRequests"
    ),
    "mturkmake.plugins.reject_qualification_requests": _snake_and_camel(
        "rejectQualificationRequests"
    ),
    "mturkmake.plugins.evaluate_qualification_requests": _snake_and_camel(
        "evaluateQualificationRequests"
    ),
    "mturkmake.plugins.notify_workers": _snake_and_camel("notifyWorkers"),
    "mturkmake.plugins.get_balance": _snake_and_camel("getBalance"),
    "mturkmake.plugins.grant_bonus": _snake_and_camel("grantBonus"),
    "mturkmake.plugins.extend_hits": _snake_and_camel("extendHITs"),
    "mturkmake.plugins.delete_hits": _snake_and_camel("deleteHITs"),
    "mturkmake.plugins.block_worker": _snake_and_camel("blockWorker", "unblockWorker"),
    "mturkmake.plugins.update_hits": _snake_and_camel("updateHITs"),
    "mturkmake.plugins.reset_account": _snake_and_camel("resetAccount"),
    "mturkmake.plugins.make_template": (*_snake_and_camel("makeTemplate"), "init"),
    "mturkmake.plugins.status": ("status",),
    "mturkmake.plugins.review_page": ("review",),
}

#: The pluggy options a hook entry may carry.
_OPTIONS = frozenset({"tryfirst", "trylast", "wrapper", "hookwrapper", "optionalhook"})


def parse_entry(entry: str) -> tuple[str, tuple[str, ...], dict[str, bool]]:
    """``"make_client(config, host) trylast"`` → (hook name, argument names, options)."""
    call, _, options = entry.partition(")")
    short, _, args = call.partition("(")
    names = tuple(a.strip() for a in args.split(",") if a.strip())
    opts = {option: True for option in options.split()}
    if not set(opts) <= _OPTIONS:
        raise ValueError(f"unknown hook option in {entry!r}")
    return PROJECT_NAME + "_" + short.strip(), names, opts


# Forwarders by arity: a stand-in's hook implementation is one of these with its code's
# argument names replaced by the real implementation's (pluggy reads them from the code), so
# pluggy passes it exactly the arguments it would pass the real one. Replacing names in an
# existing code object costs microseconds; compiling new functions would cost milliseconds.
def _arity0(target: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    def forward() -> Any:
        return target()()

    return forward


def _arity1(target: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    def forward(a: Any) -> Any:
        return target()(a)

    return forward


def _arity2(target: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    def forward(a: Any, b: Any) -> Any:
        return target()(a, b)

    return forward


def _arity3(target: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    def forward(a: Any, b: Any, c: Any) -> Any:
        return target()(a, b, c)

    return forward


_FORWARDERS = (_arity0, _arity1, _arity2, _arity3)


def _forwarder(
    module: str,
    hook: str,
    argnames: tuple[str, ...],
    load: Callable[[str], types.ModuleType],
) -> Callable[..., Any]:
    def target() -> Callable[..., Any]:
        real: Callable[..., Any] = getattr(load(module), hook)
        return real

    function = _FORWARDERS[len(argnames)](target)
    code = function.__code__
    function.__code__ = code.replace(
        co_name=hook, co_varnames=argnames + code.co_varnames[len(argnames) :]
    )
    function.__name__ = function.__qualname__ = hook
    function.__module__ = module
    return function


def make_stub(module: str, load: Callable[[str], types.ModuleType]) -> types.ModuleType | None:
    """A stand-in for built-in ``module`` (``None`` if :data:`BUILTIN_HOOKS` lacks it).

    :param load: imports a module by name (and turns failures into :class:`PluginError`).
    """
    entries = BUILTIN_HOOKS.get(module)
    if entries is None:
        return None
    stub = types.ModuleType(module, f"Stand-in for {module}: imports it when a hook is called.")
    stub.__dict__[STUB_MARK] = module
    for entry in entries:
        hook, argnames, opts = parse_entry(entry)
        stub.__dict__[hook] = hookimpl(**opts)(_forwarder(module, hook, argnames, load))  # type: ignore[call-overload]
    return stub


#: The attribute that marks a stand-in (its value is the module it stands for).
STUB_MARK = "__mturkmake_stands_for__"


def stands_for(plugin: object) -> str | None:
    """The module a stand-in stands for; ``None`` for any other plugin."""
    if isinstance(plugin, types.ModuleType):
        value = plugin.__dict__.get(STUB_MARK)
        return value if isinstance(value, str) else None
    return None


def entries_of(module: types.ModuleType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What :data:`BUILTIN_HOOKS` and :data:`BUILTIN_COMMANDS` should say of ``module``:
    its hook implementations as pluggy sees them, and its commands' names and aliases."""
    import pluggy

    from mturkmake import hookspecs

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(module)
    entries = []
    for caller in pm.get_hookcallers(module) or []:
        for impl in caller.get_hookimpls():
            if impl.plugin is not module:
                continue
            if impl.function.__name__ != caller.name or impl.kwargnames:
                raise ValueError(f"{module.__name__}.{caller.name}: a stand-in cannot forward it")
            options = sorted(name for name, value in impl.opts.items() if value is True)
            short = caller.name.removeprefix(PROJECT_NAME + "_")
            entries.append(" ".join([f"{short}({', '.join(impl.argnames)})", *options]))
    names: list[str] = []
    commands = getattr(module, PROJECT_NAME + "_commands", None)
    if commands is not None:
        for spec in commands():
            names += [spec.name, *spec.aliases]
    return tuple(sorted(entries)), tuple(names)


def first_words(names: Iterable[str]) -> set[str]:
    """The first words of command names (``marketplace`` of ``marketplace serve``)."""
    return {name.split()[0] for name in names if name.split()}
