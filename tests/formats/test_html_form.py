"""The fields of an HTMLQuestion's form, as the simulated crowd fills them in."""

from __future__ import annotations

from mturkmake.formats.html_form import HTMLField, html_fields


def test_every_field_kind_is_found_in_order() -> None:
    html = """
    <form><input type="hidden" name="assignmentId" value="">
    <input type="text" name="name" required>
    <input type="radio" name="size" value="s"><input type="radio" name="size" value="l">
    <input type="checkbox" name="tags" value="a"><input type="checkbox" name="tags" value="b">
    <select name="colour"><option value="r">Red</option><option value="g">Green</option></select>
    <textarea name="notes"></textarea><input type="submit" name="go">
    <crowd-classifier name="label" categories="['x']"></crowd-classifier>
    </form>"""
    assert html_fields(html) == (
        HTMLField("name", "text", (), True),
        HTMLField("size", "radio", ("s", "l"), False),
        HTMLField("tags", "checkbox", ("a", "b"), False),
        HTMLField("colour", "select", ("r", "g"), False),
        HTMLField("notes", "textarea", (), False),
        HTMLField("label", "crowd-classifier", (), False),
    )


def test_an_option_without_value_submits_its_text() -> None:
    html = (
        '<select name="pet"><option value="x">X</option><option>  Big   dog </option>'
        "<option>Cat</select>"  # </option> may be left out
    )
    assert html_fields(html) == (HTMLField("pet", "select", ("x", "Big dog", "Cat"), False),)
