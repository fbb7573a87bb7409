"""The known errata of the course documents, as data, and the rule that checks them.

An item compares each printed value with its derivation and records every disagreement as
an :class:`~spec.core.Erratum`. :func:`reconcile` then holds the item to this list:

- a disagreement that is listed here (same item, document, location, printed and correct
  value) is a *known erratum*, confirmed by this run; it does not fail the item;
- a disagreement that is not listed fails the item: it is a bug of the spec (a count
  evaluated with the wrong numbers, a wrong transcription) until someone checks it by hand
  and lists it here with its reason;
- a listed erratum that no longer appears fails the item too: either the spec changed what
  it derives or the transcription changed, and the list must say which.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .core import Erratum, Item


@dataclasses.dataclass(frozen=True)
class KnownErratum:
    """One listed erratum: where, what is printed, what is correct, and why (checkable)."""

    item: str  # "topic/name" of the item that finds it
    document: str
    location: str
    printed: Any
    correct: Any
    reason: str  # one line a reader can check by hand

    def matches(self, e: Erratum) -> bool:
        return (self.document == e.document and self.location == e.location
                and str(self.printed) == str(e.printed) and str(self.correct) == str(e.correct))


KNOWN_ERRATA: tuple[KnownErratum, ...] = (
    KnownErratum(
        item="documents/seed004_7x7_image_feature_detector",
        document="seed 004 (SuperDataScience slides: 'Step 1 - Convolution')",
        location="feature map, row 3, column 3 (1-based)",
        printed=1, correct=0,
        reason="the window of input rows 3-5, columns 3-5 is 0 0 0 / 0 1 0 / 0 0 0 (one 1, at "
               "its centre) and the detector's centre weight is 0, so the sum is 0"),
)


def listed_for(key: str) -> list[KnownErratum]:
    """The known errata an item (``"topic/name"``) must find."""
    return [k for k in KNOWN_ERRATA if k.item == key]


def reconcile(it: Item) -> Item:
    """Mark the item's known errata as confirmed; fail it on anything else (see above)."""
    listed = listed_for(f"{it.topic}/{it.name}")
    found: list[KnownErratum] = []
    unlisted: list[Erratum] = []
    for e in it.errata:
        match = next((k for k in listed if k.matches(e)), None)
        if match is None:
            unlisted.append(e)
        else:
            e.known, e.reason = True, match.reason
            found.append(match)
    missing = [k for k in listed if k not in found]
    if unlisted:
        it.passed = False
        it.details["FAILED: printed value differs from the derivation, not a known erratum"] \
            = [str(e) for e in unlisted]
    if missing:
        it.passed = False
        it.details["FAILED: a known erratum no longer appears"] = [
            f"{k.document}, {k.location}: printed {k.printed}, correct {k.correct}"
            for k in missing]
    return it
