"""Character error rate (CER) of Mandarin transcripts, as the speech and voice benchmarks and
tests count it.

Both sides are brought to what is said before they are compared: full width -> half width,
traditional -> simplified, numbers as spoken (``speakable``: 13% -> 百分之十三, so a
recogniser writing digits is not charged for it), 幺 -> 一, and no punctuation or spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ivr.asr.phrases import edit_distance
from ivr.asr.whisper import to_simplified
from ivr.prompts.spoken import speakable

_NOT_SAID = re.compile(r"[\s\W_]+")


def said(text: str) -> str:
    """``text`` as the characters a listener hears (see the module)."""
    return _NOT_SAID.sub("", speakable(to_simplified(text))).replace("幺", "一").lower()


def char_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference characters) of ``hypothesis`` against ``reference``."""
    ref, hyp = said(reference), said(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def cer(pairs: Iterable[tuple[str, str]]) -> float:
    """Errors over reference characters, summed over (reference, hypothesis) pairs; above 1
    when the hypotheses hold more wrong characters than the references have."""
    edits = chars = 0
    for reference, hypothesis in pairs:
        e, n = char_errors(reference, hypothesis)
        edits += e
        chars += n
    return edits / chars if chars else 0.0
