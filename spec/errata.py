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

Listing an erratum must not be a way to silence a bug of the spec, so each entry carries its
own evidence, checked by :func:`reconcile` on every run:

- ``quote``: the exact text of the seed that prints the value (found in the seed file after
  whitespace normalisation, with ``printed`` read in it); errata can only be listed against
  the seeds, never against a paper quoted from memory;
- ``by_hand``: a few lines of plain Python from the printed inputs (no spec derivation, no
  engine) that give ``correct`` and not ``printed``. A spec bug listed as an erratum fails
  here, because an honest hand computation gives the printed value back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .core import SEED_FILES, Erratum, Item, Printed, quote_problems


@dataclasses.dataclass(frozen=True)
class KnownErratum:
    """One listed erratum: where, what is printed, what is correct, and why (checkable)."""

    item: str  # "topic/name" of the item that finds it
    document: str
    location: str
    printed: Any
    correct: Any
    reason: str  # one line a reader can check by hand
    seed: str  # "seed 000" ... "seed 004": the seed whose text prints the value
    quote: str  # the exact text of that seed where ``printed`` is read
    by_hand: Callable[[], Any]  # plain Python from the printed inputs: gives ``correct``

    def matches(self, e: Erratum) -> bool:
        return (self.document == e.document and self.location == e.location
                and str(self.printed) == str(e.printed) and str(self.correct) == str(e.correct))

    def evidence_problems(self) -> list[str]:
        """Why this entry is not backed by its own evidence (empty when it is)."""
        if self.seed not in SEED_FILES:
            return [f"{self.seed!r} is not a seed: errata are listed only against the seed "
                    "texts (a paper quoted from memory cannot be checked)"]
        problems = quote_problems(Printed(self.printed, self.seed, self.quote))
        try:
            by_hand = self.by_hand()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [*problems, f"the hand computation raised {exc!r}"]
        if str(by_hand) != str(self.correct):
            problems.append(f"the hand computation gives {by_hand}, not the listed correct "
                            f"value {self.correct}")
        if str(by_hand) == str(self.printed):
            problems.append(f"the hand computation gives the printed value {self.printed}: "
                            "the document is right and the spec is wrong")
        return problems


def _seed004_cell_3_3() -> int:
    """Seed 004's input rows 3-5, columns 3-5 (1-based) times the detector, summed."""
    from .documents import SEED_004_DETECTOR, SEED_004_INPUT

    return sum(SEED_004_INPUT[2 + p][2 + q] * SEED_004_DETECTOR[p][q]
               for p in range(3) for q in range(3))


KNOWN_ERRATA: tuple[KnownErratum, ...] = (
    KnownErratum(
        item="documents/seed004_7x7_image_feature_detector",
        document="seed 004 (SuperDataScience slides: 'Step 1 - Convolution')",
        location="feature map, row 3, column 3 (1-based)",
        printed=1, correct=0,
        reason="the window of input rows 3-5, columns 3-5 is 0 0 0 / 0 1 0 / 0 0 0 (one 1, at "
               "its centre) and the detector's centre weight is 0, so the sum is 0",
        seed="seed 004",
        quote="0 1 0 0 0 0 1 1 1 0 1 0 1 2 1 1 4 2 1 0 0 0 1 2 1 Feature Map",
        by_hand=_seed004_cell_3_3),
)


def listed_for(key: str) -> list[KnownErratum]:
    """The known errata an item (``"topic/name"``) must find."""
    return [k for k in KNOWN_ERRATA if k.item == key]


def reconcile(it: Item) -> Item:
    """Mark the item's known errata as confirmed; fail it on anything else (see above)."""
    listed = listed_for(f"{it.topic}/{it.name}")
    found: list[KnownErratum] = []
    unlisted: list[Erratum] = []
    unbacked: list[str] = []
    for e in it.errata:
        match = next((k for k in listed if k.matches(e)), None)
        if match is None:
            unlisted.append(e)
            continue
        found.append(match)
        problems = match.evidence_problems()
        if problems:  # listed, but its evidence does not hold: not confirmed, the item fails
            unbacked.append(f"{e}: " + "; ".join(problems))
        else:
            e.known, e.reason = True, match.reason
    missing = [k for k in listed if k not in found]
    if unbacked:
        it.passed = False
        it.details["FAILED: a listed erratum is not backed by its quote and hand computation"] \
            = unbacked
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
