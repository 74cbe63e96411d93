"""Bad input through the command line, as a user meets it (issue #12).

Every case builds a real local project in ``tmp_path`` (``endpoint = "local"``), spoils one
thing — a file, an option, a setting, the file system — and runs ``mturkmake`` as a user
would: in-process through :func:`mturkmake.cli.main` for most cases, in a subprocess where the
process itself matters (permissions, file-size limits, broken pipes, hangs). Each must end
with exit code 2 and exactly one line on stderr, no traceback, no new file in the project
(no target, partial or whole) and no HIT on the local marketplace.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.test_load_hits import (
    PROPERTIES,
    QUESTION,
    batch_files,
    marketplace_hits,
)

REPO = Path(__file__).resolve().parent.parent
MAKE = ("survey.success",)
LOAD = (
    "loadHITs",
    "-input",
    "survey.input",
    "-question",
    "survey.question",
    "-properties",
    "survey.properties",
)
NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
GOOD_INPUT = "question\tnote\nQuestion number 0?\tnote 0\nQuestion number 1?\tnote 1\n"


class _Dir:
    """A directory where the project expects a file."""


class _Fifo:
    """A named pipe where the project expects a file (reading it would hang)."""


@dataclass(frozen=True)
class _Link:
    """A symbolic link to ``target``."""

    target: str


DIR, FIFO = _Dir(), _Fifo()
Content = str | bytes | _Dir | _Fifo | _Link | None


@dataclass(frozen=True)
class Case:
    """One bad input: what to change in a good project, how to run, what the line says."""

    id: str
    says: str
    args: tuple[str, ...] = MAKE
    files: Mapping[str, Content] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


def _html(body: str) -> str:
    return (
        f'<HTMLQuestion xmlns="{NS}/2011-11-11/HTMLQuestion.xsd">'
        f"<HTMLContent><![CDATA[<!DOCTYPE html><html><body>{body}</body></html>]]>"
        "</HTMLContent><FrameHeight>400</FrameHeight></HTMLQuestion>\n"
    )


def _qf(inner: str) -> str:
    return f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">{inner}</QuestionForm>\n'


SUBMIT = "https://www.mturk.com/mturk/externalSubmit"
# 200,002 columns, every row complete: without a limit this made HITs.
WIDE = "question\tnote\t" + "\t".join(f"c{n}" for n in range(200_000)) + "\n"
WIDE += "".join(f"Q{r}?\tn\t" + "\t".join("v" * 200_000) + "\n" for r in range(2))

# --------------------------------------------------------------------------------------------
# Input files (run in make mode and in CLT mode): (id, content, what the line says)
# --------------------------------------------------------------------------------------------

INPUTS: list[tuple[str, Content, str]] = [
    ("empty", "", "survey.input:1: the file is empty"),
    ("header-only", "question\tnote\n", "survey.input:2: the file has a header but no rows"),
    ("duplicate-column", "question\tnote\tquestion\nq\tn\tq\n", "appears twice"),
    ("unnamed-column", "question\t\tnote\nq\tx\tn\n", "column 2 of the header has no name"),
    ("trailing-tab-header", "question\tnote\t\nq\tn\t\n", "column 3 of the header"),
    ("short-row", "question\tnote\nq0\tn0\nq1\n", "survey.input:3: the row has 1 values"),
    ("long-row", "question\tnote\nq0\tn0\tx\n", "survey.input:2:7: the row has 3 values"),
    ("latin1", "question\tnote\nqu\xe9\tn\n".encode("latin-1"), "survey.input:2:3: byte 0xe9"),
    ("utf16", GOOD_INPUT.encode("utf-16"), "not valid UTF-8"),
    ("unclosed-quote", 'question\tnote\n"q0\tn0\n', "never closes"),
    ("text-after-quote", 'question\tnote\n"q"x\tn\n', "after a closing quote"),
    ("bare-cr", "question\tnote\rq\tn\r", "bare CR"),
    ("blank-line-inside", "question\tnote\nq0\tn0\n\nq1\tn1\n", "survey.input:3: a blank line"),
    ("blank-line-after-header", "question\tnote\n\r\nq0\tn0\n", "survey.input:2: a blank line"),
    ("blank-lines-only", "question\tnote\n\n\n", "header but no rows"),
    ("wide-header", WIDE, "survey.input:1: the header has 200002 columns; at most 10,000"),
    ("long-line", "question\tnote\n" + "q" * 5_000_000 + "\tn\n", "survey.input:2: the line is"),
    ("nul-byte", "question\tnote\nQ\x00?\tn\n", "survey.input:2:3:29: not well-formed XML"),
    ("control-char", "question\tnote\nQ\x01?\tn\n", "not well-formed XML"),
    ("missing-column", "query\tnote\nq\tn\n", "question"),
    ("directory", DIR, "survey.input: is a directory"),
    ("fifo", FIFO, "survey.input: is a named pipe"),
    ("dev-zero", _Link("/dev/zero"), "survey.input"),
    ("dangling-symlink", _Link("nowhere.input"), "survey.input"),
]

# --------------------------------------------------------------------------------------------
# Question files (both modes)
# --------------------------------------------------------------------------------------------

QUESTIONS: list[tuple[str, Content, str]] = [
    ("empty", "", "survey.question"),
    ("not-xml", "just some text\n", "survey.question"),
    ("unclosed-tag", _qf("<Question>"), "survey.question"),
    ("unknown-root", "<Survey/>\n", "is not a question type"),
    ("wrong-namespace", '<QuestionForm xmlns="urn:x"/>\n', "namespace"),
    (
        "entity",
        '<!DOCTYPE q [<!ENTITY e "x">]>' + _qf("&e;"),
        "survey.question",
    ),
    ("no-question", _qf(""), "survey.question"),
    ("html-empty", f'<HTMLQuestion xmlns="{NS}/2011-11-11/HTMLQuestion.xsd"/>', "HTMLContent"),
    ("html-no-form", _html("<p>${question}</p><input name='a'>"), "no worker could submit"),
    (
        "html-form-elsewhere",
        _html("<form action='https://example.org/x' method='post'><input name='a'></form>"),
        "no worker could submit",
    ),
    ("external-not-url", _qf("").replace("QuestionForm", "x"), "survey.question"),
    ("too-big", _qf("<!--" + "x" * 70_000 + "-->"), "65,535"),
    ("latin1", QUESTION.replace("answer</", "r\xe9ponse</").encode("latin-1"), "0xe9"),
    ("velocity-unclosed-if", QUESTION.replace("${question}", "#if($question)x"), "survey.question"),
    ("unknown-reference", QUESTION.replace("${question}", "${nosuch}"), "nosuch"),
    ("directory", DIR, "survey.question: is a directory"),
    ("fifo", FIFO, "survey.question: is a named pipe"),
    ("dev-zero", _Link("/dev/zero"), "survey.question: is a character device"),
]

# --------------------------------------------------------------------------------------------
# HIT properties files (both modes)
# --------------------------------------------------------------------------------------------


def _props(*extra: str, drop: str = "") -> str:
    lines = [line for line in PROPERTIES.splitlines() if not (drop and line.startswith(drop))]
    return "\n".join([*lines, *extra]) + "\n"


PROPERTY_FILES: list[tuple[str, Content, str]] = [
    ("reward-repeated", _props("reward:5.00"), "survey.properties:9: 'reward' repeats line 3"),
    ("title-repeated", _props("title:Other"), "survey.properties:9: 'title' repeats line 1"),
    (
        "qualification-repeated",
        _props("qualification.1:000000000000000000L0", "qualification.1:00000000000000000040"),
        "survey.properties:10: 'qualification.1' repeats line 9",
    ),
    ("reward-not-number", _props(drop="reward") + "reward:abc\n", "reward"),
    ("reward-negative", _props(drop="reward") + "reward:-1\n", "reward"),
    ("no-title", _props(drop="title"), "'title'"),
    ("no-reward", _props(drop="reward"), "'reward'"),
    ("no-description", _props(drop="description"), "'description'"),
    ("assignments-zero", _props(drop="assignments") + "assignments:0\n", "assignments"),
    ("assignments-text", _props(drop="assignments") + "assignments:many\n", "assignments"),
    ("duration-text", _props(drop="assignmentduration") + "assignmentduration:1h\n", "duration"),
    ("lifetime-negative", _props(drop="hitlifetime") + "hitlifetime:-5\n", "hitlifetime"),
    ("approval-text", _props(drop="autoapproval") + "autoapprovaldelay:x\n", "autoapprovaldelay"),
    (
        "bad-comparator",
        _props(
            "qualification.1:000000000000000000L0",
            "qualification.comparator.1:bigger",
            "qualification.value.1:5",
        ),
        "comparator",
    ),
    ("qualification-6", _props("qualification.6:000000000000000000L0"), "qualification.6"),
    (
        "qual-value-text",
        _props(
            "qualification.1:000000000000000000L0",
            "qualification.comparator.1:greaterthan",
            "qualification.value.1:high",
        ),
        "qualification.value.1",
    ),
    ("bad-unicode-escape", _props("keywords:a\\u12"), "\\uxxxx"),
    ("latin1", _props("keywords:caf\xe9").encode("latin-1"), "0xe9"),
    ("title-too-long", _props(drop="title") + "title:" + "t" * 200 + "\n", "title"),
    ("directory", DIR, "survey.properties: is a directory"),
    ("fifo", FIFO, "survey.properties: is a named pipe"),
]

# --------------------------------------------------------------------------------------------
# Options, configuration, environment, plugins (one mode each unless the args say so)
# --------------------------------------------------------------------------------------------

TOML = 'endpoint = "local"\n'

CASES: list[Case] = [
    # make-mode options
    Case("wait-text", "--wait=abc", ("--wait=abc", *MAKE)),
    Case("wait-negative", "--wait=-1", ("--wait=-1", *MAKE)),
    Case("wait-unit", "--wait=3x", ("--wait=3x", *MAKE)),
    Case("poll-negative", "--poll", ("--poll", "-5", *MAKE)),
    Case("poll-zero", "--poll", ("--poll", "0", *MAKE)),
    Case("poll-nan", "--poll", ("--poll", "nan", *MAKE)),
    Case("poll-inf", "--poll", ("--poll", "inf", *MAKE)),
    Case("poll-text", "--poll", ("--poll", "soon", *MAKE)),
    Case("jobs-zero", "-j", ("-j", "0", *MAKE)),
    Case("jobs-negative", "-j", ("-j", "-3", *MAKE)),
    Case("jobs-text", "-j", ("-j", "many", *MAKE)),
    Case("jobs-fraction", "-j", ("-j", "1.5", *MAKE)),
    Case("lock-timeout-negative", "--lock-timeout", ("--lock-timeout", "-1", *MAKE)),
    Case("lock-timeout-nan", "--lock-timeout", ("--lock-timeout", "nan", *MAKE)),
    Case("lock-timeout-text", "--lock-timeout", ("--lock-timeout", "x", *MAKE)),
    Case("endpoint-unknown", "unknown endpoint", ("--endpoint", "moon", *MAKE)),
    Case("unknown-option", "unrecognized", ("--frobnicate", *MAKE)),
    Case("directory-missing", "no such directory", ("-C", "nowhere", *MAKE)),
    Case("no-targets", "no targets", ()),
    Case("target-outside", "outside the project", ("/survey.success",)),
    # the same options before a CLT command
    Case("clt-wait-text", "--wait=abc", ("--wait=abc", *LOAD)),
    Case("clt-wait-negative", "--wait=-1", ("--wait=-1", *LOAD)),
    Case("clt-poll-negative", "--poll", ("--poll", "-5", *LOAD)),
    Case("clt-poll-zero", "--poll", ("--poll", "0", *LOAD)),
    Case("clt-jobs-zero", "-j", ("-j", "0", *LOAD)),
    Case("clt-jobs-negative", "-j", ("-j", "-3", *LOAD)),
    Case("clt-lock-timeout-negative", "--lock-timeout", ("--lock-timeout", "-1", *LOAD)),
    # CLT flags
    Case("clt-missing-input", "missing required flag -input", LOAD[:1] + LOAD[3:]),
    Case("clt-missing-question", "missing required flag -question", LOAD[:3] + LOAD[5:]),
    Case("clt-unknown-flag", "unrecognized", (*LOAD, "-frobnicate")),
    Case("clt-input-absent", "nowhere.input", ("loadHITs", "-input", "nowhere.input", *LOAD[3:])),
    Case(
        "clt-question-absent",
        "nowhere.question",
        (*LOAD[:3], "-question", "nowhere.question", *LOAD[5:]),
    ),
    Case(
        "clt-properties-absent",
        "nowhere.properties",
        (*LOAD[:5], "-properties", "nowhere.properties"),
    ),
    Case("clt-maxhits-text", "maxhits", (*LOAD, "-maxhits", "lots")),
    Case("clt-maxhits-negative", "maxhits", (*LOAD, "-maxhits", "-2")),
    Case("clt-getresults-no-file", "missing required flag", ("getResults",)),
    Case(
        "clt-getresults-absent",
        "nowhere.success",
        ("getResults", "-successfile", "nowhere.success", "-outputfile", "x.results"),
    ),
    Case(
        "clt-getresults-fifo",
        "pipe.success: is a named pipe",
        ("getResults", "-successfile", "pipe.success", "-outputfile", "x.results"),
        files={"pipe.success": FIFO},
    ),
    Case(
        "clt-approvework-directory",
        "adir",
        ("approveWork", "-approvefile", "adir", "-force"),
        files={"adir": DIR},
    ),
    Case(
        "clt-approvefile-repeated-column",
        "dup.approve:1: column 'assignmentIdToApprove'",
        ("approveWork", "-approvefile", "dup.approve", "-force"),
        files={"dup.approve": "assignmentIdToApprove\tassignmentIdToApprove\nA1\tA2\n"},
    ),
    Case(
        "clt-approvefile-blank-line",
        "blank.approve:3: a blank line between rows",
        ("approveWork", "-approvefile", "blank.approve", "-force"),
        files={"blank.approve": "assignmentIdToApprove\nA1\n\nA2\n"},
    ),
    Case(
        "clt-resultsfile-repeated-column",
        "appears twice (columns 1 and 4)",
        ("reviewResults", "-resultsfile", "dup.results", "-force"),
        files={"dup.results": "hitid\tassignmentid\treject\thitid\nH\tA\t\tH\n"},
    ),
    Case("target-fifo", "survey.success: is a named pipe", files={"survey.success": FIFO}),
    # mturkmake.toml
    Case(
        "toml-syntax",
        "mturkmake.toml:2: malformed TOML",
        files={"mturkmake.toml": TOML + "budget = \n"},
    ),
    Case(
        "toml-unknown-key", "unknown key 'bugdet'", files={"mturkmake.toml": TOML + "bugdet = 5\n"}
    ),
    Case("toml-endpoint-type", "'endpoint' must be", files={"mturkmake.toml": "endpoint = 5\n"}),
    Case(
        "toml-endpoint-unknown", "unknown endpoint", files={"mturkmake.toml": 'endpoint = "moon"\n'}
    ),
    Case(
        "toml-budget-negative",
        "mturkmake.toml: budget must be",
        files={"mturkmake.toml": TOML + "budget = -1\n"},
    ),
    Case(
        "toml-budget-text", "'budget' must be", files={"mturkmake.toml": TOML + 'budget = "ten"\n'}
    ),
    Case("toml-budget-nan", "budget", files={"mturkmake.toml": TOML + "budget = nan\n"}),
    Case("toml-budget-inf", "budget", files={"mturkmake.toml": TOML + "budget = inf\n"}),
    Case(
        "toml-lock-timeout-negative",
        "lock_timeout",
        files={"mturkmake.toml": TOML + "lock_timeout = -5\n"},
    ),
    Case(
        "toml-evaluator-unknown",
        "mturkmake.toml:2: unknown evaluator 'majority-vote'",
        files={"mturkmake.toml": TOML + 'evaluators = ["majority-vote"]\n'},
    ),
    Case(
        "toml-evaluators-type",
        "evaluators",
        files={"mturkmake.toml": TOML + 'evaluators = "answer-key"\n'},
    ),
    Case(
        "toml-template-engine-unknown",
        "mturkmake.toml:2: unknown template engine 'mustache'",
        files={"mturkmake.toml": TOML + 'template_engine = "mustache"\n'},
    ),
    Case(
        "toml-strict-references",
        "strict_references",
        files={"mturkmake.toml": TOML + 'strict_references = "some"\n'},
    ),
    Case(
        "toml-min-accuracy", "min_accuracy", files={"mturkmake.toml": TOML + "min_accuracy = 2.0\n"}
    ),
    Case(
        "toml-plugins-type",
        "mturkmake.toml:2: 'plugins' must be",
        files={"mturkmake.toml": TOML + 'plugins = "x"\n'},
    ),
    Case(
        "toml-plugin-missing",
        "no_such_plugin_module",
        files={"mturkmake.toml": TOML + 'plugins = ["no_such_plugin_module"]\n'},
    ),
    Case(
        "toml-latin1",
        "mturkmake.toml:2:6: byte 0xe9",
        files={"mturkmake.toml": (TOML + "# caf\xe9\n").encode("latin-1")},
    ),
    Case("toml-directory", "mturkmake.toml: is a directory", files={"mturkmake.toml": DIR}),
    Case("toml-fifo", "mturkmake.toml: is a named pipe", files={"mturkmake.toml": FIFO}),
    Case("toml-local-type", "'local' must be", files={"mturkmake.toml": TOML + "local = 5\n"}),
    Case(
        "pyproject-syntax",
        "pyproject.toml",
        files={"mturkmake.toml": None, "pyproject.toml": '[tool.mturkmake]\nendpoint = "local\n'},
    ),
    # mturk.properties
    Case(
        "mturk-properties-directory",
        "mturk.properties: is a directory",
        files={"mturk.properties": DIR},
    ),
    Case(
        "mturk-properties-fifo",
        "mturk.properties: is a named pipe",
        files={"mturk.properties": FIFO},
    ),
    Case(
        "mturk-properties-unknown-key",
        "mturk.properties:2: unknown key 'acces_key'",
        files={"mturk.properties": "retry_attempts=6\nacces_key=AKIA\n"},
    ),
    Case(
        "mturk-properties-repeated",
        "mturk.properties:3: 'retry_attempts' repeats line 1",
        files={"mturk.properties": "retry_attempts=6\nretry_delay_millis=500\nretry_attempts=0\n"},
    ),
    Case(
        "mturk-properties-attempts-text",
        "retry_attempts",
        files={"mturk.properties": "retry_attempts=six\n"},
    ),
    Case(
        "mturk-properties-delay-negative",
        "retry_delay_millis",
        files={"mturk.properties": "retry_delay_millis=-1\n"},
    ),
    Case(
        "mturk-properties-latin1",
        "0xe9",
        files={"mturk.properties": "log_level=caf\xe9\n".encode("latin-1")},
    ),
    Case(
        "mturk-properties-production",
        "not the sandbox",
        files={
            "mturkmake.toml": "",
            "mturk.properties": "service_url=https://mechanicalturk.amazonaws.com/?Service=AWSMechanicalTurkRequester\n",
        },
    ),
    # environment variables
    Case("env-endpoint", "unknown endpoint", env={"MTURKMAKE_ENDPOINT": "moon"}),
    Case("env-budget-text", "MTURKMAKE_BUDGET", env={"MTURKMAKE_BUDGET": "ten"}),
    Case("env-budget-negative", "MTURKMAKE_BUDGET", env={"MTURKMAKE_BUDGET": "-3"}),
    Case("env-budget-nan", "MTURKMAKE_BUDGET", env={"MTURKMAKE_BUDGET": "nan"}),
    Case("env-lock-timeout-text", "MTURKMAKE_LOCK_TIMEOUT", env={"MTURKMAKE_LOCK_TIMEOUT": "x"}),
    Case(
        "env-lock-timeout-negative", "MTURKMAKE_LOCK_TIMEOUT", env={"MTURKMAKE_LOCK_TIMEOUT": "-1"}
    ),
    Case("env-evaluators", "unknown evaluator 'nosuch'", env={"MTURKMAKE_EVALUATORS": "nosuch"}),
    Case(
        "env-template-engine",
        "unknown template engine 'nosuch'",
        env={"MTURKMAKE_TEMPLATE_ENGINE": "nosuch"},
    ),
    Case("env-strict-references", "strict_references", env={"MTURKMAKE_STRICT_REFERENCES": "x"}),
    # the project's plugin file
    Case(
        "plugin-file-syntax",
        "mturkmake_plugins.py:2: invalid syntax",
        files={"mturkmake_plugins.py": "import os\ndef f(:\n"},
    ),
    Case(
        "plugin-file-import",
        "mturkmake_plugins.py:1: cannot import",
        files={"mturkmake_plugins.py": "import no_such_module_here\n"},
    ),
    Case(
        "plugin-file-raises",
        "mturkmake_plugins.py:3: RuntimeError: boom",
        files={"mturkmake_plugins.py": "x = 1\n\nraise RuntimeError('boom')\n"},
    ),
    Case(
        "plugin-file-bad-hook",
        "mturkmake_nosuch_hook",
        files={
            "mturkmake_plugins.py": "from mturkmake import hookimpl\n\n"
            "@hookimpl\ndef mturkmake_nosuch_hook():\n    pass\n"
        },
    ),
    Case("plugin-option-missing", "no_such_plugin_module", ("-p", "no_such_plugin_module", *MAKE)),
]


def _all_cases() -> Iterator[Any]:
    for case in CASES:
        yield pytest.param(case, id=case.id)
    for kind, table in (
        ("survey.input", INPUTS),
        ("survey.question", QUESTIONS),
        ("survey.properties", PROPERTY_FILES),
    ):
        label = kind.split(".")[1]
        for name, content, says in table:
            for mode, args in (("make", MAKE), ("clt", LOAD)):
                case = Case(f"{label}-{name}-{mode}", says, args, {kind: content})
                yield pytest.param(case, id=case.id)


# --------------------------------------------------------------------------------------------
# Running and checking
# --------------------------------------------------------------------------------------------


def _materialise(root: Path, files: Mapping[str, Content]) -> None:
    for name, content in files.items():
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        if content is None:
            continue
        if isinstance(content, _Dir):
            path.mkdir()
        elif isinstance(content, _Fifo):
            os.mkfifo(path)
        elif isinstance(content, _Link):
            path.symlink_to(content.target)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _project(root: Path, files: Mapping[str, Content] = {}) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _materialise(root, dict(batch_files(2)))
    _materialise(root, files)
    return root


def _snapshot(root: Path) -> set[str]:
    """Every name in the project outside ``.mturkmake/`` (targets and temporaries included)."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if ".mturkmake" not in p.relative_to(root).parts
    }


def _check(root: Path, before: set[str], code: int, stderr: str, says: str) -> None:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mturkmake: "), lines[0]
    assert says in lines[0], lines[0]
    assert _snapshot(root) == before
    assert marketplace_hits(root) == []


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("MTURKMAKE_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.mark.parametrize("case", list(_all_cases()))
def test_bad_input_is_one_line_and_exit_2(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    from mturkmake.cli import main

    root = _project(tmp_path / "project", case.files)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(root)
    before = _snapshot(root)
    capsys.readouterr()
    code = main(list(case.args))
    captured = capsys.readouterr()
    _check(root, before, code, captured.err, case.says)


# --------------------------------------------------------------------------------------------
# The process matters: permissions, file-size limits, pipes — in a subprocess
# --------------------------------------------------------------------------------------------

#: Run as root without capabilities, so file permission bits apply (tests run as root here).
_DROP = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]


def _subprocess_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def _run(
    root: Path,
    args: tuple[str, ...],
    *,
    prefix: list[str] | None = None,
    preexec: Callable[[], None] | None = None,
    env: Mapping[str, str] = {},
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "mturkmake", *args],
        cwd=root,
        env=_subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=preexec,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permission bits cannot be enforced")
    probe = subprocess.run([*_DROP, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return _DROP


@pytest.fixture
def public_root() -> Iterator[Path]:
    """A project directory outside root's private ``tmp_path`` (which is mode 0700)."""
    parent = Path(tempfile.mkdtemp(prefix="mturkmake-bad-"))
    parent.chmod(0o755)
    try:
        yield parent / "project"
    finally:
        for path in parent.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(parent)


UNREADABLE = [
    ("input", "survey.input", MAKE),
    ("question", "survey.question", MAKE),
    ("properties", "survey.properties", MAKE),
    ("mturkmake.toml", "mturkmake.toml", MAKE),
    ("mturk.properties", "mturk.properties", MAKE),
    ("input-clt", "survey.input", LOAD),
    ("question-clt", "survey.question", LOAD),
    ("properties-clt", "survey.properties", LOAD),
]


@pytest.mark.parametrize(
    ("name", "args"), [(f, a) for _, f, a in UNREADABLE], ids=[i for i, _, _ in UNREADABLE]
)
def test_unreadable_file_is_one_line(name: str, args: tuple[str, ...], public_root: Path) -> None:
    prefix = _unprivileged()
    root = _project(public_root, {"mturk.properties": "retry_attempts=6\n"})
    (root / name).chmod(0)
    before = _snapshot(root)
    proc = _run(root, args, prefix=prefix)
    _check(root, before, proc.returncode, proc.stderr, f"{name}: ")
    assert "ermission denied" in proc.stderr


@pytest.mark.parametrize("args", [MAKE, LOAD], ids=["make", "clt"])
def test_read_only_project_directory_is_one_line(args: tuple[str, ...], public_root: Path) -> None:
    prefix = _unprivileged()
    root = _project(public_root)
    root.chmod(0o555)
    before = _snapshot(root)
    proc = _run(root, args, prefix=prefix)
    _check(root, before, proc.returncode, proc.stderr, ".mturkmake")
    assert "ermission denied" in proc.stderr


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        import resource

        # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("limit", [0, 5000], ids=["nothing-fits", "ledger-fills"])
@pytest.mark.parametrize("args", [MAKE, LOAD], ids=["make", "clt"])
def test_full_disk_is_one_line(args: tuple[str, ...], limit: int, tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    before = _snapshot(root)
    proc = _run(root, args, preexec=_file_size_limit(limit))
    _check(root, before, proc.returncode, proc.stderr, "")
    assert "full" in proc.stderr or "too large" in proc.stderr, proc.stderr


def test_full_disk_keeps_the_ledger(tmp_path: Path) -> None:
    """A run that cannot write leaves the ledger of an earlier run readable and unchanged."""
    root = _project(tmp_path / "project")
    first = _run(root, MAKE)
    assert first.returncode == 0, first.stderr
    hits = {h["HITId"] for h in marketplace_hits(root)}
    assert len(hits) == 2
    success = (root / "survey.success").read_bytes()
    (root / "survey.input").write_text(GOOD_INPUT + "Question number 2?\tnote 2\n")
    size = sum(p.stat().st_size for p in (root / ".mturkmake").iterdir())
    # An eighth: a quarter let a run that adds one HIT fit, depending on page counts.
    proc = _run(root, MAKE, preexec=_file_size_limit(size // 8))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert (root / "survey.success").read_bytes() == success
    again = _run(root, MAKE)
    assert again.returncode == 0, again.stderr
    after = {h["HITId"] for h in marketplace_hits(root)}
    assert hits < after
    assert len(after) == 3


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_broken_pipe_exits_quietly(reader: str, tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    assert _run(root, MAKE).returncode == 0
    command = f"{sys.executable} -m mturkmake marketplace status | {reader}; echo $? >&2"
    proc = subprocess.run(
        ["bash", "-c", command.replace("; echo $?", "; echo ${PIPESTATUS[0]}")],
        cwd=root,
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "BrokenPipe" not in proc.stderr
    assert "Exception ignored" not in proc.stderr
    assert proc.stderr.strip() in ("0", "2"), proc.stderr  # 0 only if head read it all first
    assert proc.stdout == ("" if reader == "true" else proc.stdout.splitlines()[0] + "\n")


def test_fifo_input_never_hangs(tmp_path: Path) -> None:
    root = _project(tmp_path / "project", {"survey.input": FIFO})
    before = _snapshot(root)
    proc = _run(root, LOAD)
    _check(root, before, proc.returncode, proc.stderr, "survey.input: is a named pipe")


def test_plugin_module_with_syntax_error(tmp_path: Path) -> None:
    root = _project(tmp_path / "project", {"broken_plugin.py": "def f(:\n"})
    before = _snapshot(root)
    proc = _run(
        root, ("-p", "broken_plugin", *MAKE), env={"PYTHONPATH": f"{root}{os.pathsep}{REPO}"}
    )
    _check(root, before, proc.returncode, proc.stderr, "broken_plugin.py:1: invalid syntax")


# --------------------------------------------------------------------------------------------
# Accepted on purpose (docs/files.md): a BOM, trailing blank lines, a warning-only form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom", "\ufeff" + GOOD_INPUT),
        ("trailing-blank-lines", GOOD_INPUT + "\n\r\n"),
        ("crlf", GOOD_INPUT.replace("\n", "\r\n")),
    ],
)
def test_accepted_input_variants_create_the_right_hits(
    name: str, content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    from mturkmake.cli import main

    root = _project(tmp_path / "project", {"survey.input": content})
    monkeypatch.chdir(root)
    assert main(list(MAKE)) == 0
    from mturkmake.mturk.project import strip_marker  # each HIT also carries the project's

    annotations = sorted(strip_marker(h.get("RequesterAnnotation")) for h in marketplace_hits(root))
    assert annotations == ["Question number 0?", "Question number 1?"]


def test_form_without_assignment_id_is_a_warning_only(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    from mturkmake.cli import main

    form = f"<form action='{SUBMIT}' method='post'><input name='answer'></form><p>${{question}}</p>"
    root = _project(tmp_path / "project", {"survey.question": _html(form)})
    monkeypatch.chdir(root)
    capsys.readouterr()
    assert main(list(MAKE)) == 0
    err = capsys.readouterr().err
    assert "warning: the form has no assignmentId field" in err, err
    assert len(marketplace_hits(root)) == 2
