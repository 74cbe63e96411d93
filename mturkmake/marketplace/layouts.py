"""HIT layouts: templates registered locally, merged with HITLayoutParameters at CreateHIT.

On MTurk a layout is a project made in the requester website; its HITLayoutId goes to CreateHIT
with HITLayoutParameters that fill its ``${name}`` placeholders (values HTML-escaped; a
placeholder without a parameter is refused). Locally ``mturkmake marketplace layout add NAME
FILE`` registers the template: an HTML page (its form's fields are the answers) or a whole
HTMLQuestion document. The merged question is stored as the HIT's Question, an HTMLQuestion,
so the crowd answers it as any other and GetHIT shows what workers saw.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mturkmake.marketplace import ids
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Tx

BAD_VALUE = "AWS.MechanicalTurk.InvalidParameterValue"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
FRAME_HEIGHT = 0  # "0": the frame fits the page (MTurk's default for layouts)


def register(tx: Tx, name: str, content: str) -> str:
    """Store a layout; returns its HITLayoutId (the same for the same name and content)."""
    if not name.strip():
        raise ValueError("a layout needs a name")
    if not content.strip():
        raise ValueError(f"layout '{name}' is empty")
    layout_id = ids.derive(tx.seed, "layout", name, content)
    tx.conn.execute(
        "INSERT OR REPLACE INTO layouts (id, name, content, created) VALUES (?, ?, ?, ?)",
        (layout_id, name, content, tx.now),
    )
    return layout_id


def listing(tx: Tx) -> list[dict[str, Any]]:
    """Every registered layout: id, name and placeholder names."""
    return [
        {"HITLayoutId": r["id"], "Name": r["name"], "Parameters": placeholders(r["content"])}
        for r in tx.all("SELECT id, name, content FROM layouts ORDER BY created, id")
    ]


def placeholders(content: str) -> list[str]:
    """The ``${name}`` placeholders of a template, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(content)))


def merge(tx: Tx, layout_id: str, parameters: Sequence[Mapping[str, Any]]) -> str:
    """The Question of a HIT made from ``layout_id`` and its HITLayoutParameters.

    :raises RequestError: an unknown layout, a parameter named twice, a placeholder left
        without a value.
    """
    row = tx.one("SELECT content FROM layouts WHERE id = ?", (layout_id,))
    if row is None:
        raise RequestError(f"HITLayoutId {layout_id} does not exist.", BAD_VALUE)
    values: dict[str, str] = {}
    for parameter in parameters:
        name = str(parameter["Name"])
        if name in values:
            raise RequestError(f"HITLayoutParameter '{name}' is given twice.", BAD_VALUE)
        values[name] = str(parameter["Value"])
    content = str(row["content"])
    missing = [p for p in placeholders(content) if p not in values]
    if missing:
        raise RequestError(
            f"The HITLayout {layout_id} needs a value for {', '.join(missing)}: give each "
            "placeholder a HITLayoutParameter.",
            BAD_VALUE,
        )
    merged = PLACEHOLDER.sub(lambda m: html.escape(values[m.group(1)], quote=True), content)
    if merged.lstrip().startswith("<HTMLQuestion"):
        return merged
    # CDATA cannot hold "]]>": split it across two sections.
    body = merged.replace("]]>", "]]]]><![CDATA[>")
    return (
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}"><HTMLContent><![CDATA[{body}]]>'
        f"</HTMLContent><FrameHeight>{FRAME_HEIGHT}</FrameHeight></HTMLQuestion>"
    )
