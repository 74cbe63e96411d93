"""The built-in velocity engine: the CLT's context, the CLT samples, strict references."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mturkmake.errors import ConfigError, FormatError
from mturkmake.formats.velocity import Reference
from mturkmake.hookspecs import CompiledTemplate, TemplateEngine
from mturkmake.plugins import templating
from mturkmake.plugins.templating import VelocityEngine, VelocityTemplate, escape
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples" / "samples"
TODAY = datetime(2026, 11, 22, 23, 51, 28, tzinfo=timezone.utc)
HIT_SAMPLES = sorted(p.stem for p in SAMPLES.glob("*/*.input"))
TEMPLATE_FILES = sorted(SAMPLES.glob("*/*.question")) + sorted(SAMPLES.glob("*/*.answer"))


def _engine() -> VelocityEngine:
    return VelocityEngine(today=TODAY)


def _compile(text: str, source: str = "t.question") -> VelocityTemplate:
    return _engine().compile(text, source=source)


def _read_input(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return header, [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def _sample(name: str) -> tuple[VelocityTemplate, list[str], list[dict[str, str]]]:
    folder = SAMPLES / name
    template = _compile(
        (folder / f"{name}.question").read_text(encoding="utf-8"), source=f"{name}.question"
    )
    header, rows = _read_input(folder / f"{name}.input")
    return template, header, rows


# --------------------------------------------------------------------------------------------
# The CLT samples
# --------------------------------------------------------------------------------------------


def test_the_samples_are_there() -> None:
    assert HIT_SAMPLES == [
        "best_image",
        "external_hit",
        "helloworld",
        "image_category",
        "image_tagging",
        "simple_survey",
        "site_filter",
    ]
    assert len(TEMPLATE_FILES) == 12


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_template_compiles_and_checks_clean(path: Path) -> None:
    template = _compile(path.read_text(encoding="utf-8"), source=path.name)
    input_file = path.with_suffix(".input")
    # Qualification questions and answer keys are merged with no input row at all.
    header = _read_input(input_file)[0] if input_file.exists() else []
    assert template.check(header) == []
    assert template.check(header, strict="all") == []


@pytest.mark.parametrize("name", HIT_SAMPLES)
def test_every_sample_row_renders_its_values(name: str) -> None:
    template, header, rows = _sample(name)
    used = template.referenced_columns(header)
    assert used  # every HIT sample reads at least one column
    for row in rows:
        out = template.render(row)
        assert "${" not in out  # nothing left literal
        for column in used:
            if name == "external_hit":  # only seen through $helper.urlencode
                assert f"/aws/{row[column]}</ExternalURL>" in out
            else:
                assert escape(row[column]) in out


def test_best_image_renders_each_image_three_times() -> None:
    template, _, rows = _sample("best_image")
    out = template.render(rows[0])
    assert out.count("sample-bestimage-image2.jpg") == 3
    assert (
        "<DataURL>http://s3.amazonaws.com/mturk/samples/bestimage/"
        "sample-bestimage-image3.jpg</DataURL>"
    ) in out


def test_image_tagging_foreach_range_and_if() -> None:
    template, _, rows = _sample("image_tagging")
    out = template.render(rows[0])
    for n in range(1, 6):
        assert f"<QuestionIdentifier>tag{n}</QuestionIdentifier>" in out
        assert f"<Text>Tag {n}:</Text>" in out
    assert out.count("<IsRequired>true</IsRequired>") == 3
    assert out.count("<IsRequired>false</IsRequired>") == 2
    assert 'regex="^[^ ]*$"' in out  # a "$" that is no reference stays as it is


def test_image_category_builds_selections_from_a_set_list() -> None:
    template, _, rows = _sample("image_category")
    out = template.render(rows[0])
    assert out.count("<Selection>") == 30
    assert "<SelectionIdentifier>Soccer Ball</SelectionIdentifier>" in out
    assert f'<img src="{rows[0]["image_url"]}"' in out


def test_external_hit_comment_reference_is_not_checked_but_still_merged() -> None:
    template, header, rows = _sample("external_hit")
    assert header == ["id"]
    # The comment mentions $urls, which is not a column: no error, no warning.
    comment_refs = [r for r in template.references() if r.in_comment]
    assert comment_refs == [Reference("urls", formal=False, line=2, in_comment=True, column=32)]
    assert template.check(header, strict="all") == []
    out = template.render(rows[1])
    assert "/index.html#!/EN/play/aws/52</ExternalURL>" in out
    assert "the $urls variable" in out


def test_site_filter_qual_answer_uses_velocity_count_from_one() -> None:
    path = SAMPLES / "site_filter_qual" / "site_filter_qual.answer"
    template = _compile(path.read_text(encoding="utf-8"), source=path.name)
    out = template.render({})
    # $answer.get($velocityCount - 1): the second URL gets the second answer, "yes".
    pairs = out.split("<QuestionIdentifier>")[1:]
    assert len(pairs) == 10
    assert pairs[0].startswith("http://news.bbc.co.uk/<")
    assert "<SelectionIdentifier>no</SelectionIdentifier>" in pairs[0]
    assert pairs[1].startswith("http://www.hustler.com<")
    assert "<SelectionIdentifier>yes</SelectionIdentifier>" in pairs[1]
    assert "<SelectionIdentifier>yes</SelectionIdentifier>" in pairs[9]


def test_sample_properties_annotation_merges_raw_values() -> None:
    # The CLT merged `annotation` with the raw values (no escaping).
    engine = _engine()
    template = engine.compile(
        "${image1},${image2},${image3}", source="best_image.properties", first_line=10, escape=False
    )
    assert template.render({"image1": "a&b", "image2": "<x>", "image3": "c"}) == "a&b,<x>,c"
    with pytest.raises(FormatError) as info:
        template.check(["image1", "image2"])
    assert info.value.file == "best_image.properties"
    assert info.value.line == 10


# --------------------------------------------------------------------------------------------
# The context
# --------------------------------------------------------------------------------------------


def test_values_escape_only_amp_lt_gt_and_raw_is_untouched() -> None:
    template = _compile("[${q}] [$q] [${q_raw}] [$q_raw]")
    out = template.render({"q": """AT&T <b>"it's"</b> &lt;"""})
    escaped = 'AT&amp;T &lt;b&gt;"it\'s"&lt;/b&gt; &amp;lt;'
    raw = """AT&T <b>"it's"</b> &lt;"""
    assert out == f"[{escaped}] [{escaped}] [{raw}] [{raw}]"


def test_helper_urlencode_is_javas_urlencoder() -> None:
    template = _compile("${helper.urlencode($u_raw)}|$helper.urlencode($u)")
    out = template.render({"u": "a b&c=d/é~*._-"})
    java = "a+b%26c%3Dd%2F%C3%A9%7E*._-"
    # The escaped value encodes "&amp;", as the CLT did (use $u_raw to avoid it).
    assert out == f"{java}|a+b%26amp%3Bc%3Dd%2F%C3%A9%7E*._-"


def test_today_and_formatter_dates_are_java_formats() -> None:
    template = _compile(
        "$today|$formatter.formatShortDate($today)|$formatter.formatLongDate($today)|"
        "$formatter.formatShortDateTime($today)|$formatter.formatLongDateTime($today)|"
        "$today.getTime()"
    )
    out = template.render({}).split("|")
    assert out == [
        "Sun Nov 22 23:51:28 UTC 2026",
        "11/22/26",
        "November 22, 2026",
        "11/22/26 11:51 PM",
        "November 22, 2026 11:51:28 PM UTC",
        str(int(TODAY.timestamp() * 1000)),
    ]


def test_today_in_another_zone_prints_like_java() -> None:
    when = datetime(2013, 4, 26, 9, 5, 2, tzinfo=timezone(timedelta(hours=-4)))
    template = VelocityEngine().compile("$today", source="t", today=when)
    assert template.render({}) == "Fri Apr 26 09:05:02 GMT-04:00 2013"


def test_today_defaults_to_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1366994012")
    template = VelocityEngine().compile("$today", source="t")
    assert template.render({}) == "Fri Apr 26 16:33:32 UTC 2013"


def test_formatter_lists_limits_and_alternators() -> None:
    template = _compile(
        '#set($l = ["a", "b", "c"])'
        "$formatter.formatArray($l)|$formatter.formatArray($l, '; ')|"
        "$formatter.formatVector($l, ', ', ' or ')|$formatter.limitLen(5, 'abcdefgh')|"
        "$formatter.limitLen(8, 'abcdefgh')|$formatter.isNull($nothing, 'dflt')|"
        '$formatter.makeAlternator("row", "odd", "even")'
        "#foreach($i in $l)${row}$row.alternate() #end|"
        '$formatter.makeAutoAlternator("auto", "x", "y")$auto$auto$auto'
    )
    # $row and $auto are bound by the formatter; only the unknown $nothing is flagged.
    warnings = template.check([])
    assert len(warnings) == 1
    assert "$nothing is neither" in warnings[0]
    assert template.render({}).split("|") == [
        "a, b and c",
        "a; b; c",
        "a, b or c",
        "ab...",
        "abcdefgh",
        "dflt",
        "odd even odd ",
        "xyx",
    ]


def test_foreach_velocity_count_starts_at_one() -> None:
    template = _compile("#foreach($c in $list.split(','))$velocityCount=$c;#end")
    assert template.render({"list": "x,y,z"}) == "1=x;2=y;3=z;"


def test_columns_override_the_helpers_as_in_the_clt() -> None:
    template = _compile("${today}/${helper}")
    assert template.render({"today": "monday", "helper": "bob"}) == "monday/bob"


def test_undefined_references_stay_literal_and_silent_ones_are_empty() -> None:
    template = _compile("[${nope}] [$nope] [$!{nope}] [$!nope] [\\${q}]")
    assert template.render({"q": "v"}) == "[${nope}] [$nope] [] [] [${q}]"


def test_render_is_deterministic_and_keeps_no_state_between_rows() -> None:
    template = _compile("#if($q == 'a')#set($seen = 'yes')#end$!{seen}:$q")
    assert template.render({"q": "a"}) == "yes:a"
    assert template.render({"q": "b"}) == ":b"  # the #set of the previous row is gone
    assert template.render({"q": "a"}) == template.render({"q": "a"})


# --------------------------------------------------------------------------------------------
# Strict references
# --------------------------------------------------------------------------------------------

TYPO = """<?xml version="1.0"?>
<QuestionForm>
  <!-- ${comment_only} is fine here -->
  <Text>${questoin}</Text>
</QuestionForm>
"""


def test_unknown_formal_reference_is_an_error_naming_line_and_columns() -> None:
    template = _compile(TYPO, source="survey.question")
    with pytest.raises(FormatError) as info:
        template.check(["question", "choice1"])
    error = info.value
    assert (error.file, error.line, error.column) == ("survey.question", 4, 9)
    line = str(error)
    assert line.startswith("survey.question:4:9: ${questoin} is neither an input column")
    assert "the input columns are: question, choice1" in line
    assert "did you mean ${question}?" in line


def test_unknown_shorthand_is_a_warning_then_an_error_under_all() -> None:
    template = _compile("line one\n<Text>$questoin and ${question}</Text>\n", source="s.question")
    warnings = template.check(["question"])
    assert len(warnings) == 1
    assert warnings[0].startswith("s.question:2: warning: $questoin is neither")
    assert "the input columns are: question" in warnings[0]
    with pytest.raises(FormatError) as info:
        template.check(["question"], strict="all")
    assert info.value.line == 2


def test_strict_off_checks_nothing() -> None:
    template = _compile("${a} $b")
    assert template.check([], strict="off") == []


def test_unknown_strict_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="strict_references must be one of"):
        _compile("x").check([], strict="sometimes")


def test_velocity_variables_and_raw_columns_are_known() -> None:
    template = _compile(
        "#set($n = 2)#foreach($i in [1..$n])${i}${velocityCount}${velocityHasNext}#end"
        "#macro(greet $who)Hi ${who}#end#greet('x')"
        "${helper.urlencode($q_raw)}${today}${formatter}${q}"
    )
    assert template.check(["q"], strict="all") == []
    assert {"n", "i", "who", "velocityCount"} <= template.velocity_names()
    with pytest.raises(FormatError, match=r"^t.question:1:\d+: \$\{q\} is neither"):
        template.check(["other"])


def test_references_distinguish_formal_shorthand_and_comments() -> None:
    template = _compile('<!-- ${a} -->\n$b ${c.d} $!{e}\n#set($x = "${f} $g")\n$0.50 \\$h')
    refs = [(r.name, r.formal, r.line, r.in_comment) for r in template.references()]
    assert refs == [
        ("a", True, 1, True),
        ("b", False, 2, False),
        ("c", True, 2, False),
        ("e", True, 2, False),
        ("f", True, 3, False),
        ("g", False, 3, False),
    ]


def test_referenced_columns_in_header_order() -> None:
    template = _compile("$c_raw ${a} <!-- $b -->")
    assert template.referenced_columns(["a", "b", "c", "d"]) == ["a", "b", "c"]


# --------------------------------------------------------------------------------------------
# Errors with lines
# --------------------------------------------------------------------------------------------


def test_syntax_error_maps_to_its_line() -> None:
    with pytest.raises(FormatError) as info:
        _compile("<a>\n<b>\n  <c>${foo bar}</c>\n</b>\n", source="bad.question")
    error = info.value
    assert (error.file, error.line) == ("bad.question", 3)
    assert "Velocity syntax error: expected }" in str(error)


def test_unclosed_directive_points_at_its_opening_line() -> None:
    with pytest.raises(FormatError) as info:
        _compile("one\ntwo\n#foreach($x in [1..2])\n$x\nfive\n", source="open.question")
    assert info.value.line == 3
    assert "#foreach has no #end" in str(info.value)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("a\n#if($x)\nb\n", "if"),
        ("a\nb\n#macro(m $y)\n$y\n", "macro"),
        ("#foreach($i in [1..2])\n#if($i)x#end\n", "foreach"),
    ],
)
def test_each_unclosed_block_names_its_kind(text: str, kind: str) -> None:
    with pytest.raises(FormatError, match=f"this #{kind} has no #end") as info:
        _compile(text)
    assert info.value.line == text.split("#" + kind, maxsplit=1)[0].count("\n") + 1


def test_stray_end_is_a_syntax_error_on_its_line() -> None:
    with pytest.raises(FormatError) as info:
        _compile("one\n#end\nthree\n", source="stray.question")
    assert info.value.line == 2


def test_else_without_if_says_so() -> None:
    with pytest.raises(FormatError, match="#else without an opening #if"):
        _compile("a\n#else\n")


def test_hyphenated_name_gets_a_hint() -> None:
    # Velocity 1.5 accepted ${image-url}; airspeed cannot parse it.
    with pytest.raises(FormatError, match="cannot contain '-'") as info:
        _compile("x\n<img src='${image-url}'/>\n")
    assert info.value.line == 2


@pytest.mark.parametrize("directive", ["#parse", "#include"])
def test_parse_and_include_are_refused_at_compile_time(directive: str) -> None:
    with pytest.raises(FormatError, match=f"{directive} is not supported") as info:
        _compile(f"a\nb\n{directive}('other.vm')\n")
    assert info.value.line == 3


def test_unparseable_expression_is_a_format_error() -> None:
    # airspeed's parser raises KeyError for a binary `not`; the user still gets one line.
    with pytest.raises(FormatError, match="cannot parse the Velocity template"):
        _compile("#if($a not $b)x#end")


def test_first_line_offsets_error_lines() -> None:
    with pytest.raises(FormatError) as info:
        _engine().compile("${a b}", source="p.properties", first_line=12)
    assert info.value.line == 12


def test_render_failure_is_a_format_error_with_the_line() -> None:
    template = _compile("ok\n#set($l = [1])\n$l.get(5)\n", source="idx.question")
    with pytest.raises(FormatError) as info:
        template.render({})
    assert (info.value.file, info.value.line) == ("idx.question", 3)


# --------------------------------------------------------------------------------------------
# The plugin
# --------------------------------------------------------------------------------------------


def test_plugin_contributes_the_engine_and_config_keys() -> None:
    engines = templating.mturkmake_template_engines()
    assert [e.name for e in engines] == ["velocity"]
    engine: TemplateEngine = engines[0]
    direct: TemplateEngine = VelocityEngine()  # mypy checks the Protocol structurally
    assert direct.name == "velocity"
    compiled: CompiledTemplate = engine.compile("${x}", source="t")
    assert compiled.render({"x": "<"}) == "&lt;"
    keys = {k.name: k for k in templating.mturkmake_config_keys()}
    assert keys["template_engine"].default == "velocity"
    assert keys["strict_references"].default == "formal"
    assert keys["strict_references"].type is str


def test_importing_the_plugin_does_not_import_airspeed() -> None:
    code = (
        "import sys\n"
        "import mturkmake.plugins.templating as t\n"
        "engines = t.mturkmake_template_engines()\n"
        "assert 'airspeed' not in sys.modules, 'imported too early'\n"
        "engines[0].compile('${x}', source='t')\n"
        "assert 'airspeed' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_rendering_ten_thousand_rows_is_fast() -> None:
    template, _, rows = _sample("best_image")
    start = time.perf_counter()
    for _ in range(10_000):
        template.render(rows[0])
    elapsed = time.perf_counter() - start
    # Generous for a shared 2-core machine; the measured figure is far higher (see report).
    assert 10_000 / elapsed > 1_000, f"{10_000 / elapsed:.0f} rows/s"


def test_plugin_registers_with_the_plugin_manager() -> None:
    from mturkmake.core.plugins import PluginHost, make_plugin_manager

    pm = make_plugin_manager(builtins=("mturkmake.plugins.templating",), entrypoints=False)
    host = PluginHost(pm)
    assert list(host.template_engines()) == ["velocity"]
    names = {key.name for key in host.config_keys()}
    assert {"template_engine", "strict_references"} <= names


def test_configure_refuses_an_unknown_strict_mode(tmp_path: Path) -> None:
    from mturkmake.core.config import ProjectTable, build_config
    from mturkmake.mturk.settings import mturk_config

    table = ProjectTable(values={"strict_references": "loose"}, source=tmp_path / "mturkmake.toml")
    config = build_config(
        tmp_path, keys=templating.mturkmake_config_keys(), table=table, environ={}
    )
    with pytest.raises(ConfigError) as info:
        templating.mturkmake_configure(config)
    assert "strict_references must be one of formal, all, off, not 'loose'" in str(info.value)
    assert info.value.file == str(tmp_path / "mturkmake.toml")
    ok = mturk_config(tmp_path, "local", values={"strict_references": "all"}, sources={})
    templating.mturkmake_configure(ok)  # accepted: no exception


def test_unterminated_xml_comment_runs_to_the_end() -> None:
    template = _compile("${a}\n<!-- ${b}\n${c}")
    assert [(r.name, r.in_comment) for r in template.references()] == [
        ("a", False),
        ("b", True),
        ("c", True),
    ]
