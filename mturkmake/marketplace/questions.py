"""A HIT's Question, parsed once per text and shared by creation checks and the crowd.

CreateHIT validates the Question with the full schema rules, and every simulated worker who
answers the HIT needs the same parse: both go through :func:`parsed`, whose cache holds the
outcome (the question or the error) so a batch's question is parsed once, not once per call.
"""

from __future__ import annotations

import functools

from mturkmake.errors import MturkmakeError
from mturkmake.formats.question import Question, parse_question

#: Questions kept parsed: a batch's HITs are created, then worked, so a batch of this many
#: distinct questions is parsed once (each entry is the text and its small parse).
CACHE_SIZE = 2048


@functools.lru_cache(maxsize=CACHE_SIZE)
def parsed(text: str) -> Question | MturkmakeError:
    """``text`` parsed as a Question (named "Question" in messages), or the error it gives.

    The error is returned, not raised, so that it is cached too; callers raise or ignore it.
    """
    try:
        return parse_question(text, source="Question")
    except MturkmakeError as exc:
        return exc
