"""Plain Velocity templates (text and plain references) render without airspeed's tree walk
(issue #17): the output is airspeed's, character for character."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mturkmake.plugins.templating import VelocityEngine

TEMPLATES = [
    "<Text>${x}</Text> and $x, $!y, ${y}, $!{y}, \\$x, #x, ## a comment\n"
    "#* block *# $x_raw ${x_raw} $today C# $ $$ $1 x# $helperx $nothing",
    "only text, no reference",
    "",
    "${x}${x}${x}",
]
OTHER = ["$helper.urlencode($x)", "#if($x)a#end", "${x|'d'}", "$x[0]", "$x.length()"]
ROWS = [
    {"x": "a<b&c>", "z": ""},
    {"x": "", "x_raw": "R"},
    {"x_raw": "Q", "x": "w"},
    {"y": "Y"},
    {},
]


def _both(text: str, escape: bool) -> list[tuple[str, str]]:
    engine = VelocityEngine(today=datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    template = engine.compile(text, source="t", escape=escape)
    out = []
    for row in ROWS:
        fast = template.render(row)
        parts, template._parts = template._parts, None  # airspeed's own walk
        try:
            slow = template.render(row)
        finally:
            template._parts = parts
        out.append((fast, slow))
    return out


@pytest.mark.parametrize("escape", [True, False])
@pytest.mark.parametrize("text", TEMPLATES)
def test_plain_templates_render_as_airspeed_does(text: str, escape: bool) -> None:
    engine = VelocityEngine()
    assert engine.compile(text, source="t", escape=escape).verbatim
    for fast, slow in _both(text, escape):
        assert fast == slow


@pytest.mark.parametrize("text", OTHER)
def test_other_templates_are_not_plain(text: str) -> None:
    assert not VelocityEngine().compile(text, source="t").verbatim
