"""The page around questions: the inline style, the HIT's header (title, description,
reward, time allotted, keywords) and the document, shared by the preview, the worker site and
the review page.

Nothing is loaded from elsewhere: :data:`STYLE` is inline, with system fonts, and the layout
fits a phone (a viewport meta, flexible widths, large touch targets). All text goes through
:func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from mturkmake.formats.html_sanitize import esc

STYLE = """
*{box-sizing:border-box}
body{margin:0;padding:0 10px;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
Helvetica,Arial,sans-serif;color:#1d1d1d;background:#f3f4f6}
main{max-width:960px;margin:0 auto;padding:8px 0 32px}
h1{font-size:1.4em;margin:.6em 0}
img,video,audio,iframe,table{max-width:100%}
img{height:auto}
a{color:#0b5cad}
.mm-note{color:#555;font-size:.9em}
.mm-hit{background:#fff;border:1px solid #d6d9de;border-radius:8px;margin:16px 0;padding:12px 14px}
.mm-hit-header h2{font-size:1.2em;margin:0 0 .3em}
.mm-hit-header p{margin:.2em 0 .6em}
.mm-facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin:0;font-size:.92em}
.mm-facts div{display:flex;gap:6px}
.mm-facts dt{font-weight:600}
.mm-facts dd{margin:0;overflow-wrap:anywhere}
.mm-question{border-top:1px solid #e5e7eb;padding:10px 0}
.mm-overview{padding:6px 0}
.mm-text{white-space:pre-line;margin:.4em 0}
.mm-title{font-size:1.1em;margin:.5em 0 .3em}
.mm-required{color:#b00020;font-weight:600}
.mm-choice{display:flex;align-items:flex-start;gap:8px;padding:6px 0;min-height:44px}
.mm-choice input{margin-top:.3em;width:1.2em;height:1.2em;flex:none}
.mm-choice img{max-width:min(100%,480px)}
input[type=text],input[type=number],textarea,select{width:100%;max-width:640px;font:inherit;
padding:8px;border:1px solid #9aa1aa;border-radius:4px}
select[multiple],select[size]{height:auto}
.mm-hint{color:#555;font-size:.88em;margin:.3em 0}
.mm-problem{color:#b00020;font-weight:600;margin:.3em 0}
.mm-frame{display:block;width:100%;border:1px solid #d6d9de;border-radius:4px;background:#fff}
.mm-formatted{overflow-x:auto}
button,.mm-button{font:inherit;padding:10px 18px;border-radius:6px;border:1px solid #0b5cad;
background:#0b5cad;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
.mm-secondary{background:#fff;color:#0b5cad}
.mm-actions{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
table.mm-list{border-collapse:collapse;width:100%}
table.mm-list td,table.mm-list th{border-bottom:1px solid #e5e7eb;padding:8px 6px;
text-align:left;vertical-align:top}
@media (max-width:600px){body{padding:0 6px}.mm-hit{padding:10px}}
"""


def duration_text(seconds: int | float | str) -> str:
    """``3600`` → ``1 hour``; ``5400`` → ``1 hour 30 minutes`` (as MTurk states time allotted)."""
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return str(seconds)
    parts: list[str] = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


def reward_text(reward: object) -> str:
    """``0.05`` → ``$0.05``."""
    try:
        return f"${Decimal(str(reward)):.2f}"
    except InvalidOperation:
        return str(reward)


def hit_header(
    *,
    title: str,
    description: str,
    reward: object,
    duration: object,
    keywords: str = "",
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """The HIT's header: title, description, reward, time allotted and keywords."""
    facts = [
        ("Reward", reward_text(reward)),
        ("Time allotted", duration_text(str(duration))),
        ("Keywords", keywords or "—"),
        *extra,
    ]
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return (
        f'<header class="mm-hit-header"><h2>{esc(title)}</h2><p>{esc(description)}</p>'
        f'<dl class="mm-facts">{items}</dl></header>'
    )


def page(title: str, body: str, *, head: str = "") -> str:
    """A whole HTML document with the inline :data:`STYLE` (nothing loaded from elsewhere)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{head}<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


__all__ = ["STYLE", "duration_text", "hit_header", "page", "reward_text"]
