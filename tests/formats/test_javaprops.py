"""java.util.Properties semantics, checked against what Properties.load gives."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.javaprops import Property
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples"


def pairs(text: str) -> dict[str, str]:
    return {p.key: p.value for p in javaprops.parse(text, source="t.properties")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", {"a": "b"}),
        ("a:b", {"a": "b"}),
        ("a b", {"a": "b"}),
        ("a\tb", {"a": "b"}),
        ("a = b", {"a": "b"}),
        ("a : b", {"a": "b"}),
        ("a  =  = b", {"a": "= b"}),  # only one separator is swallowed
        ("a := b", {"a": "= b"}),
        ("a b=c", {"a": "b=c"}),
        ("   a=b", {"a": "b"}),
        ("a=b   ", {"a": "b   "}),  # values are not trimmed at the end
        ("a", {"a": ""}),
        ("a=", {"a": ""}),
        ("=b", {"": "b"}),
        ("a\\=b=c", {"a=b": "c"}),
        ("a\\ b=c", {"a b": "c"}),
        ("a\\:b:c", {"a:b": "c"}),
        ("a=\\u00e9t\\u00C9", {"a": "étÉ"}),
        ("a=x\\ty\\nz\\rw\\f", {"a": "x\ty\nz\rw\f"}),
        ("a=\\q\\\\", {"a": "q\\"}),
        ("a=C:\\\\dir", {"a": "C:\\dir"}),
        ("a=#not a comment", {"a": "#not a comment"}),
        ("# comment\n! also\n  # indented\n\n   \nk=v", {"k": "v"}),
        ("a=one \\\n    two", {"a": "one two"}),
        ("a=one\\\n# still value\n", {"a": "one# still value"}),
        ("a=x\\\\\nb=y", {"a": "x\\", "b": "y"}),  # even backslashes do not continue
        ("a=last\\", {"a": "last"}),  # a final backslash at EOF is dropped
        ("a=1\r\nb=2\rc=3", {"a": "1", "b": "2", "c": "3"}),
        ("# comment ends in backslash \\\nk=v", {"k": "v"}),
        ("a=x\\\n\nb=y", {"a": "x", "b": "y"}),
        ("\ufeffa=b", {"a": "b"}),
        ("a=\u00e9\u4e2d", {"a": "\u00e9\u4e2d"}),
    ],
)
def test_parse_matches_java_properties(text: str, expected: dict[str, str]) -> None:
    assert pairs(text) == expected


def test_line_numbers_point_at_first_natural_line() -> None:
    text = "# header\n\na=1\nb=two \\\n  lines\nc=3\n"
    props = javaprops.parse(text, source="x")
    assert [(p.key, p.line) for p in props] == [("a", 3), ("b", 4), ("c", 6)]


def test_repeated_key_is_an_error_naming_both_lines() -> None:
    # Properties.load kept the last value silently: reward:5.00 under reward:0.05 paid 100x.
    with pytest.raises(FormatError) as info:
        javaprops.parse("a=1\nb=2\na\\\n  =3\n", source="x.properties")
    assert info.value.one_line().startswith("x.properties:3: 'a' repeats line 1 — ")
    every = list(javaprops.iter_properties("a=1\nb=2\na=3\n", source="x"))
    assert [p.value for p in every] == ["1", "2", "3"]


def test_malformed_unicode_escape_names_file_line_and_key() -> None:
    with pytest.raises(FormatError) as info:
        javaprops.parse("ok=1\nbad=\\u12g4\n", source="hit.properties")
    assert info.value.file == "hit.properties"
    assert info.value.line == 2
    assert "bad" in str(info.value)
    assert info.value.hint


def test_non_utf8_file_names_line(tmp_path: Path) -> None:
    path = tmp_path / "x.properties"
    path.write_bytes(b"a=1\nb=caf\xe9\n")
    with pytest.raises(FormatError) as info:
        javaprops.load(path)
    assert info.value.line == 2
    assert info.value.column == 6
    assert "UTF-8" in str(info.value)


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        javaprops.load(tmp_path / "absent.properties")


@pytest.mark.parametrize(
    "pairs_in",
    [
        [("title", "Hello: world = yes")],
        [("key with spaces", " leading blank"), ("k:=", "v#!")],
        [("multi", "line1\nline2\ttab\\back")],
        [("#hash", "!bang"), ("unicode", "é中\u0001")],
        [("empty", "")],
    ],
)
@pytest.mark.parametrize("separator", ["=", ":"])
def test_dump_round_trips(pairs_in: list[tuple[str, str]], separator: str) -> None:
    text = javaprops.dump(pairs_in, separator=separator)
    assert [(p.key, p.value) for p in javaprops.parse(text, source="x")] == pairs_in


def test_every_clt_sample_properties_file_parses() -> None:
    files = [
        *SAMPLES.rglob("*.properties"),
        *SAMPLES.rglob("*.answerkey"),
        *SAMPLES.glob("etc/test/testProperties*.txt"),
    ]
    assert len(files) >= 14
    for path in files:
        props = javaprops.load(path)
        assert props, path
        assert all(p.key and p.line >= 1 for p in props)
    hello_path = SAMPLES / "samples/helloworld/helloworld.properties"
    helloworld = {p.key: p for p in javaprops.load(hello_path)}
    assert helloworld["annotation"].value == "${question}"
    assert helloworld["reward"] == Property("reward", "0.02", 8)
    assign_path = SAMPLES / "samples/assign_qualification/qualification.properties"
    assign = {p.key: p.value for p in javaprops.load(assign_path)}
    assert assign["name"] == "Qualification Assign "  # not trimmed, as in Java


JAVA_DUMP = """\
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;
public class Dump {
  public static void main(String[] args) throws Exception {
    for (String f : args) {
      Properties p = new Properties();
      try (Reader r = new InputStreamReader(new FileInputStream(f), StandardCharsets.UTF_8)) {
        p.load(r);
      } catch (IllegalArgumentException e) { System.out.println("ERROR"); continue; }
      StringBuilder sb = new StringBuilder();
      for (String k : new TreeSet<>(p.stringPropertyNames())) {
        sb.append(hex(k)).append('=').append(hex(p.getProperty(k))).append(';');
      }
      System.out.println(sb);
    }
  }
  static String hex(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) b.append(String.format("%04x", (int) c));
    return b.toString();
  }
}
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK as the oracle")
def test_random_texts_match_real_java_properties(tmp_path: Path) -> None:
    """Compare with java.util.Properties itself on 400 random texts full of corner cases."""
    pieces = ["a", "k", "é", " ", "\t", "\f", "=", ":", "\\", "\n", "\r", "\r\n", "#", "!"]
    pieces += ["\\u00e9", "\\u00", "\\\n", "  ", "x", "\\t", "\\ "]
    rng = random.Random(20260101)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))) for _ in range(400)]
    files = []
    for index, text in enumerate(texts):
        path = tmp_path / f"case{index:03d}.properties"
        path.write_bytes(text.encode("utf-8"))
        files.append(str(path))
    (tmp_path / "Dump.java").write_text(JAVA_DUMP, encoding="utf-8")
    run = subprocess.run(
        ["java", str(tmp_path / "Dump.java"), *files],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    expected = run.stdout.splitlines()

    def mine(text: str) -> str:
        # Java keeps a repeated key's last value; parse() refuses it, so compare the pairs.
        try:
            props = {p.key: p.value for p in javaprops.iter_properties(text, source="x")}
        except FormatError:
            return "ERROR"
        hexed = sorted(props.items())
        return "".join(
            "".join(f"{ord(c):04x}" for c in k) + "=" + "".join(f"{ord(c):04x}" for c in v) + ";"
            for k, v in hexed
        )

    assert [mine(text) for text in texts] == expected
