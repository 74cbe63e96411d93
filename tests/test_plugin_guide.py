"""docs/plugins.md, the plugin author's guide, is the API: it documents every hook and every
public type of ``mturkmake.hookspecs``, and its example plugin — built from the guide's own
code blocks — loads by entry point and passes the guide's own tests with the kit.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mturkmake import hookspecs
from mturkmake.testing import Project

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
#: Names in hookspecs that are not part of the plugin API (markers, imports).
NOT_API = {"hookspec", "hookimpl", "PROJECT_NAME"}


def _sections() -> dict[str, str]:
    """``### heading`` → the text up to the next heading of any level."""
    text = GUIDE.read_text(encoding="utf-8")
    parts = re.split(r"^(#{2,3} .*)$", text, flags=re.MULTILINE)
    return {parts[i].lstrip("# ").strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _hooks() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(func).parameters)
        for name, func in vars(hookspecs).items()
        if name.startswith("mturkmake_") and callable(func)
    }


def _types() -> dict[str, list[str]]:
    """Public classes defined in hookspecs → their fields (dataclasses) or methods."""
    found: dict[str, list[str]] = {}
    for name, obj in vars(hookspecs).items():
        if not inspect.isclass(obj) or obj.__module__ != hookspecs.__name__ or name in NOT_API:
            continue
        if name.startswith("_"):
            continue
        if dataclasses.is_dataclass(obj):
            members = [f.name for f in dataclasses.fields(obj)]
            members += [m for m, v in vars(obj).items() if callable(v) and not m.startswith("_")]
        else:  # a Protocol: its methods and attributes
            members = [m for m in vars(obj) if not m.startswith("_")]
            members += list(getattr(obj, "__annotations__", {}))
        found[name] = sorted(set(members))
    return found


def test_every_hook_has_a_section_naming_its_arguments() -> None:
    sections = _sections()
    hooks = _hooks()
    assert len(hooks) >= 11
    for hook, params in hooks.items():
        heading = f"`{hook}({', '.join(params)})`"
        assert heading in sections, f"docs/plugins.md has no section '### {heading}'"
        body = sections[heading]
        assert "returns" in body, f"{hook}: say what it returns"
        assert "```python" in body, f"{hook}: give an example"
        assert "@hookimpl" in body, f"{hook}: the example implements the hook"


def test_every_public_type_has_a_section_naming_its_members() -> None:
    sections = _sections()
    types = _types()
    assert {"Context", "Assignment", "Verdict", "TemplateEngine", "Evaluator"} <= set(types)
    for name, members in types.items():
        heading = f"`{name}`"
        assert heading in sections, f"docs/plugins.md has no section '### {heading}'"
        body = sections[heading]
        for member in members:
            written = re.search(rf"[`.]{re.escape(member)}\b", body) is not None
            assert written, f"{name}.{member} is not documented"
    # config access, which Context.config gives, is API too
    assert "`config.get(key, default=None)`" in sections["`Config`"]
    assert "`config.sources[key]`" in sections["`Config`"]


def test_the_guide_lists_the_hooks_in_call_order() -> None:
    order = _sections()["When each hook is called"]
    positions = [order.find(f"`{hook}(") for hook in _hooks()]
    assert all(p >= 0 for p in positions), "every hook appears in the call order"


# --------------------------------------------------------------------------------------------
# The example plugin, built from the guide alone
# --------------------------------------------------------------------------------------------


def _files() -> dict[str, str]:
    """The guide's code blocks marked ``file=NAME``."""
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```\w+ file=(\S+)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    return dict(blocks)


def _install_without_pip(site: Path) -> tuple[str, str]:
    """Lay out the guide's plugin as an installed distribution in ``site``: its module and
    a ``.dist-info`` with the entry points its ``pyproject.toml`` declares. Returns the
    entry point's (name, module)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    files = _files()
    project = tomllib.loads(files.pop("pyproject.toml"))["project"]
    ((name, module),) = project["entry-points"]["mturkmake"].items()
    for file_name, text in files.items():
        (site / file_name).write_text(text, encoding="utf-8")
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8",
    )
    (dist / "entry_points.txt").write_text(f"[mturkmake]\n{name} = {module}\n", encoding="utf-8")
    return name, module


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    )
    return env


def test_the_guide_example_loads_by_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    name, module = _install_without_pip(site)
    assert (name, module) == ("short_answers", "mturkmake_short_answers")
    listing = subprocess.run(
        [sys.executable, "-m", "mturkmake", "plugins"],
        cwd=tmp_path,
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    line = next(x for x in listing.stdout.splitlines() if x.startswith(name))
    assert "entry point mturkmake-short-answers 0.1.0" in line
    assert f"({module})" in line
    hooks_line = listing.stdout.splitlines()[listing.stdout.splitlines().index(line) + 1]
    assert hooks_line.split("hooks: ")[1] == "config_keys, evaluators"


@pytest.mark.slow
def test_the_guide_example_passes_its_own_tests_with_the_kit(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _install_without_pip(site)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_short_answers.py"],
        cwd=site,
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


# --------------------------------------------------------------------------------------------
# What the guide says about undecided assignments is what happens
# --------------------------------------------------------------------------------------------

UNDECIDING = """
from mturkmake import hookimpl


class Abstain:
    name = "abstain"

    def evaluate(self, assignments, ctx):
        return {}


@hookimpl
def mturkmake_evaluators():
    return [Abstain()]
"""


def test_an_assignment_no_evaluator_decides_stays_undecided(
    mturkmake_local_project: Project,
) -> None:
    project = mturkmake_local_project
    files = _files()
    question = re.search(r'QUESTION = """(.*?)"""', files["test_short_answers.py"], re.DOTALL)
    properties = re.search(r'PROPERTIES = """(.*?)"""', files["test_short_answers.py"], re.DOTALL)
    assert question is not None
    assert properties is not None
    project.write(
        {
            "mturkmake_plugins.py": UNDECIDING,
            "c.input": "item\nthe red chair\n",
            "c.question": question.group(1),
            "c.properties": properties.group(1),
        }
    )
    project.configure(evaluators=["abstain"])
    result = project.run("c.approved", "--wait")
    assert result.exit_code == 0, result.output
    assert "0 approved, 0 rejected; 2 assignments undecided" in result.output
    assert project.table("c.approved") == []
    hit = project.hits()[0]
    page = project.marketplace_call("ListAssignmentsForHIT", {"HITId": hit["HITId"]})
    assert [a["AssignmentStatus"] for a in page["Assignments"]] == ["Submitted", "Submitted"]
    again = project.run("c.approved")  # incomplete: made again, still deciding nothing
    assert "2 assignments undecided" in again.output
