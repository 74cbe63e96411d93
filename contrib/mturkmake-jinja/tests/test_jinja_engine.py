"""The ``jinja`` engine on its own: the Velocity engine's row context, XML autoescaping,
undefined names and syntax errors reported with file and line.

Runs only where mturkmake-jinja is installed (``pip install -e contrib/mturkmake-jinja``);
elsewhere it skips, unless ``MTURKMAKE_REQUIRE_CONTRIB=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import importlib.metadata
import os
from datetime import datetime, timezone

import pytest

DIST = "mturkmake-jinja"


def _require_installed() -> None:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        reason = f"{DIST} is not installed (pip install -e contrib/{DIST})"
        if os.environ.get("MTURKMAKE_REQUIRE_CONTRIB") == "1":
            pytest.fail(f"{reason}; MTURKMAKE_REQUIRE_CONTRIB=1 forbids skipping", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


_require_installed()

from mturkmake_jinja.engine import JinjaEngine  # noqa: E402

from mturkmake.errors import FormatError  # noqa: E402
from mturkmake.plugins.templating import VelocityEngine  # noqa: E402
from mturkmake.testing import make_host  # noqa: E402

TODAY = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
ROW = {"text": 'Tom & Jerry <b>"quoted"</b> ~ é', "url": "http://x.test/?a=1&b=2"}


def test_the_entry_point_registers_the_engine() -> None:
    """Installed, the distribution is found through the ``mturkmake`` entry-point group."""
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="mturkmake")}
    assert names.get("jinja") == "mturkmake_jinja"
    engines = make_host(entrypoints=True).template_engines()
    assert isinstance(engines["jinja"], JinjaEngine)
    assert "velocity" in engines


@pytest.mark.parametrize(
    ("jinja", "velocity"),
    [
        ("<Text>{{ text }}</Text>\n", "<Text>${text}</Text>\n"),
        ("<Text>{{ text_raw }}</Text>", "<Text>${text_raw}</Text>"),
        ("u={{ helper.urlencode(url_raw) }}", "u=$helper.urlencode(${url_raw})"),
        # the CLT's quirk, kept: the escaped value url-encoded
        ("u={{ helper.urlencode(text) }}", "u=$helper.urlencode($text)"),
        ("{{ today }}", "$today"),
        ("a\r\nb {{ text }}\r\n", "a\r\nb ${text}\r\n"),
    ],
)
def test_the_row_context_is_velocitys(jinja: str, velocity: str) -> None:
    rendered = JinjaEngine(today=TODAY).compile(jinja, source="x.question").render(ROW)
    expected = VelocityEngine(today=TODAY).compile(velocity, source="x.question").render(ROW)
    assert rendered == expected


def test_questions_autoescape_what_expressions_compute() -> None:
    template = JinjaEngine().compile(
        "{{ '<b>' ~ text }}|{{ text | upper }}|{{ url_raw }}", source="x.question"
    )
    first, second, third = template.render(ROW).split("|")
    # a literal is escaped, the column value is not escaped twice
    assert first == '&lt;b&gt;Tom &amp; Jerry &lt;b&gt;"quoted"&lt;/b&gt; ~ é'
    assert second == 'TOM &AMP; JERRY &LT;B&GT;"QUOTED"&LT;/B&GT; ~ É'
    assert third == "http://x.test/?a=1&b=2"


def test_properties_merge_raw_values() -> None:
    template = JinjaEngine().compile(
        "{{ text }} {{ '<' }}", source="x.properties", first_line=4, escape=False
    )
    assert template.render(ROW) == 'Tom & Jerry <b>"quoted"</b> ~ é <'


def test_an_undefined_name_is_a_preflight_error_with_file_and_line() -> None:
    text = "<a>\n{% set seen = 1 %}{% for w in text_raw.split() %}{{ w }}{% endfor %}\n{{ txet }}"
    template = JinjaEngine().compile(text, source="x.question", first_line=1)
    with pytest.raises(FormatError) as raised:
        template.check(["text", "url"])
    assert str(raised.value).startswith("x.question:3: {{ txet }} is not an input column")
    assert "the input columns are: text, url" in str(raised.value)
    assert "did you mean {{ text }}?" in str(raised.value)
    assert template.check(["text", "url", "txet"]) == []
    assert template.check(["url"], strict="off") == []


def test_a_templated_property_reports_the_properties_line() -> None:
    template = JinjaEngine().compile("{{ nope }}", source="x.properties", first_line=7)
    with pytest.raises(FormatError, match=r"^x\.properties:7: \{\{ nope \}\}"):
        template.check(["text"])


def test_a_syntax_error_names_the_file_and_line() -> None:
    with pytest.raises(FormatError, match=r"^x\.question:3: Jinja syntax error"):
        JinjaEngine().compile("a\nb\n{% if text %}never closed", source="x.question")
    with pytest.raises(FormatError, match=r"^x\.properties:11: Jinja syntax error"):
        JinjaEngine().compile("{{ x", source="x.properties", first_line=11)


def test_a_failure_while_rendering_names_the_line() -> None:
    template = JinjaEngine().compile("ok\n{{ text.missing.attribute }}", source="x.question")
    with pytest.raises(FormatError, match=r"^x\.question:2: the template failed: UndefinedError"):
        template.render(ROW)
    template = JinjaEngine().compile("ok\n\n{{ 1 // (url | length - url | length) }}", source="q")
    with pytest.raises(FormatError, match=r"^q:3: the template failed: ZeroDivisionError"):
        template.render(ROW)


def test_referenced_columns_in_header_order() -> None:
    template = JinjaEngine().compile("{{ url_raw }}{{ text }}{{ helper }}", source="q")
    assert template.referenced_columns(["text", "other", "url"]) == ["text", "url"]


def test_is_template_detects_jinja_syntax_only() -> None:
    engine = JinjaEngine()
    assert engine.is_template("Rate {{ name }}")
    assert engine.is_template("{% if x %}a{% endif %}")
    assert engine.is_template("{# a comment #}")
    assert not engine.is_template("C# and ## and $price and ${velocity}")
