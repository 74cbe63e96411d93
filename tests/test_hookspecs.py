"""The hook specifications are a contract: hooks only ever gain arguments."""

from __future__ import annotations

import dataclasses
import inspect

from mturkmake import hookspecs
from mturkmake.core.plugins import PluginHost

#: hook name -> (argument names, firstresult). Change only by *adding* arguments.
HOOKS = {
    "mturkmake_add_options": (("parser",), False),
    "mturkmake_config_keys": ((), False),
    "mturkmake_config_layers": (("root",), False),
    "mturkmake_configure": (("config",), False),
    "mturkmake_rules": (("config",), False),
    "mturkmake_recoveries": ((), False),
    "mturkmake_commands": ((), False),
    "mturkmake_template_engines": ((), False),
    "mturkmake_evaluators": ((), False),
    "mturkmake_qualification_evaluators": ((), False),
    "mturkmake_make_client": (("config", "host"), True),
    "mturkmake_simulate_answer": (("question", "worker", "truth"), True),
    "mturkmake_report": (("event",), False),
}

#: frozen type -> field names, in order. Change only by appending fields with defaults.
TYPES = {
    "ConfigKey": ("name", "type", "default", "help", "env"),
    "Config": ("root", "values", "sources", "extras"),
    "ConfigLayer": ("name", "source", "values", "extra"),
    "Recovery": ("operation", "retry", "lookup"),
    "Event": ("kind", "message", "target", "data"),
    "Context": ("root", "config", "host", "options", "interactive"),
    "Outcome": ("complete", "error", "message"),
    "Job": (
        "rule",
        "target",
        "also_makes",
        "stem",
        "prerequisites",
        "optional_prerequisites",
        "outputs",
        "context",
    ),
    "Rule": (
        "target",
        "prerequisites",
        "action",
        "optional_prerequisites",
        "also_makes",
        "name",
        "preview",
    ),
    "Flag": ("name", "value", "help", "required", "default", "repeat"),
    "CommandSpec": (
        "name",
        "flags",
        "handler",
        "help",
        "confirms",
        "spends_money",
        "aliases",
        "positionals",
    ),
    "Assignment": (
        "assignment_id",
        "hit_id",
        "worker_id",
        "status",
        "answers",
        "inputs",
        "row",
        "accept_time",
        "submit_time",
        "auto_approval_time",
    ),
    "Verdict": ("decision", "feedback", "evaluator"),
    "QualificationRequest": (
        "request_id",
        "qualification_type_id",
        "worker_id",
        "answers",
        "submit_time",
    ),
}


def _specs() -> dict[str, object]:
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if name.startswith("mturkmake_") and callable(obj)
    }


def test_hook_signatures_are_pinned() -> None:
    found = {}
    for name, func in _specs().items():
        params = tuple(inspect.signature(func).parameters)  # type: ignore[arg-type]
        opts = func.mturkmake_spec
        found[name] = (params, bool(opts.get("firstresult")))
    assert found == HOOKS


def test_every_hook_is_documented() -> None:
    for name, func in _specs().items():
        doc = inspect.getdoc(func) or ""
        assert "Called" in doc or ":returns:" in doc or ":param" in doc, name


def test_types_are_frozen_and_pinned() -> None:
    for type_name, fields in TYPES.items():
        cls = getattr(hookspecs, type_name)
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen, type_name
        assert tuple(f.name for f in dataclasses.fields(cls)) == fields, type_name


def test_facade_matches_specs_one_to_one() -> None:
    facade = {
        name
        for name, member in vars(PluginHost).items()
        if callable(member) and not name.startswith("_")
    }
    assert facade == {name.removeprefix("mturkmake_") for name in _specs()}
