"""The shape of a specification item, shared by the report, the tests and the docs.

Every item of the specification is a small function decorated with :func:`item`. It
derives something with SymPy, computes the same thing with the engine, and returns an
:class:`Item` saying both and whether they agree. The same objects feed
``tinygrad-cnn verify`` (text and ``--json``), the test suite and the documentation site.

Registering a new item is one line: decorate a zero-argument function returning an
:class:`Item` with ``@item("topic")`` in any module ``spec/<name>.py``; ``verify`` imports
every such module (see :data:`spec.report.TOPICS` for the reading order).

A value a course document prints is declared with :func:`printed`, which keeps the exact
text it was transcribed from (a test finds that text in the seed file). A disagreement
between a printed value and the derivation is an :class:`Erratum`; it fails the item
unless it is listed in :data:`spec.errata.KNOWN_ERRATA`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: the course documents, by the number the seeds' file names start with
SEED_FILES = {
    "seed 000": "000_58e598154648abc9.txt",
    "seed 001": "001_06b86d562051d431.txt",
    "seed 002": "002_25110319180dd405.txt",
    "seed 003": "003_085cf78955960e8e.txt",
    "seed 004": "004_b5b720a3f3439901.txt",
}


@dataclasses.dataclass(frozen=True)
class Printed:
    """A value a document prints, with the exact text it was transcribed from.

    ``document`` is ``"seed 000"`` … ``"seed 004"`` (the quote must occur in that seed file,
    after whitespace normalisation) or a paper's citation. A paper is not among the seeds, so
    its words cannot be checked here: ``verbatim=False`` marks ``quote`` as a paraphrase of
    the paper's statement (its numbers and its section are the paper's, the wording is not),
    and the report says so; ``verbatim=True`` is kept for a paper's text that was checked
    against a copy (a seed quote is always verbatim).
    """

    value: Any
    document: str
    quote: str
    where: str = ""
    verbatim: bool = True

    @property
    def is_seed(self) -> bool:
        return self.document in SEED_FILES

    def label(self) -> str:
        where = f", {self.where}" if self.where else ""
        text = " ".join(self.quote.split())
        if not self.verbatim:
            return (f"stated in {self.document}{where}; paraphrased (the wording is not the "
                    f"paper's and is not checked): {text}")
        return f"printed in {self.document}{where}: “{text}”"


#: every :class:`Printed` declared by the spec modules (filled at import time)
PRINTED: list[Printed] = []


def printed(value: Any, document: str, quote: str, where: str = "",
            verbatim: bool = True) -> Printed:
    """Declare a printed value (see :class:`Printed`) and record it for the provenance test."""
    p = Printed(value, document, quote, where, verbatim)
    PRINTED.append(p)
    return p


@dataclasses.dataclass
class Erratum:
    """A place where a printed value disagrees with the derivation.

    ``known`` and ``reason`` are filled in by :func:`spec.errata.reconcile` when the
    disagreement is on the list of known errata; any other disagreement fails its item.
    """

    document: str  # e.g. "seed 004 (SuperDataScience slides)"
    location: str  # e.g. "feature map, row 3, column 3 (1-based)"
    printed: Any  # what the document prints, transcribed literally
    correct: Any  # what the math (and the engine) gives
    known: bool = False
    reason: str = ""

    def __str__(self) -> str:
        return (f"erratum in {self.document}, {self.location}: printed {self.printed}, "
                f"correct {self.correct}")


def compare_printed(errata: list[Erratum], value: Printed, derived: Any,
                    location: str) -> bool:
    """Append an :class:`Erratum` to ``errata`` when ``value`` differs from ``derived``.

    Returns whether they agree. The comparison is exact (``==``).
    """
    if value.value == derived:
        return True
    errata.append(Erratum(value.document, location, value.value, derived))
    return False


@dataclasses.dataclass
class Item:
    """One checked statement of the specification.

    Attributes
    ----------
    topic, name : str
        Where it belongs (``"convolution"``, ``"shapes"``, ...) and a short identifier.
    statement : str
        What is claimed, in words.
    derivation : str
        How SymPy derives it (text; may include ``sympy.latex`` output between $...$).
    result : Any
        The derived value or expression (a SymPy object, a number, an array, ...).
    engine : Any
        What the engine computes for the same thing.
    passed : bool
        Whether the engine agrees with the derivation (and every sub-check held).
    source : str
        Which course document (seed) or paper the statement comes from, if any.
    errata : list of Erratum
        Disagreements between a printed value and the derivation; only the known ones
        (:data:`spec.errata.KNOWN_ERRATA`) leave the item passed.
    details : dict
        Anything else worth showing (tables, sub-checks), JSON-friendly where possible.
    quotes : list of Printed
        The printed values the item compares, each with the text it was transcribed from.
    """

    topic: str
    name: str
    statement: str
    derivation: str
    result: Any
    engine: Any
    passed: bool
    source: str = ""
    errata: list[Erratum] = dataclasses.field(default_factory=list)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    quotes: list[Printed] = dataclasses.field(default_factory=list)


#: topic -> list of item functions, in registration (reading) order
REGISTRY: dict[str, list[Callable[[], Item]]] = {}


def item(topic: str) -> Callable[[Callable[[], Item]], Callable[[], Item]]:
    """Register a zero-argument function returning an :class:`Item` under ``topic``."""

    def register(fn: Callable[[], Item]) -> Callable[[], Item]:
        REGISTRY.setdefault(topic, []).append(fn)
        fn.topic = topic  # type: ignore[attr-defined]
        return fn

    return register


# ------------------------------------------------------------------------- provenance


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space (the seeds use tabs and line breaks)."""
    return " ".join(text.split())


def seed_text(document: str) -> str:
    """The text of a seed (``"seed 000"`` … ``"seed 004"``), from ``spec/seeds/``."""
    from pathlib import Path

    return (Path(__file__).resolve().parent / "seeds" / SEED_FILES[document]).read_text(
        encoding="utf-8")


def numbers_in(value: Any) -> list[int | float]:
    """The numbers of a value or a text, in reading order.

    In text: ``10^{12}`` / ``10^8`` is a power of ten, ``10,000`` one number, ``1M`` a
    million, ``-1`` a negative one; strings inside values are read the same way; tuples and
    lists are walked.
    """
    import re

    if isinstance(value, str):
        out: list[int | float] = []
        pattern = (r"10\^\{(\d+)\}|10\^(\d+)|(\d+)M\b|-?\d{1,3}(?:,\d{3})+(?!\d)"
                   r"|-?\d+(?:\.\d+)?")
        for m in re.finditer(pattern, value):
            power = m.group(1) or m.group(2)
            if m.group(3) is not None:
                out.append(int(m.group(3)) * 10**6)
            elif power is not None:
                out.append(10 ** int(power))
            else:
                token = m.group(0).replace(",", "")
                out.append(float(token) if "." in token else int(token))
        return out
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in numbers_in(v)]
    return numbers_in(str(value))


def quote_problems(p: Printed) -> list[str]:
    """Why ``p`` is not a faithful quote: its text is not in the seed, or its value's numbers
    are not read, in order, in its text. Empty when it is (papers: only the second check)."""
    problems = []
    if p.is_seed and normalise(p.quote) not in normalise(seed_text(p.document)):
        problems.append(f"the quote {normalise(p.quote)[:80]!r} is not in {p.document}")
    wanted, found = numbers_in(p.value), iter(numbers_in(p.quote))
    if not all(any(n == f for f in found) for n in wanted):  # an ordered sub-sequence
        problems.append(f"the value {p.value!r} cannot be read in the quote "
                        f"{normalise(p.quote)[:80]!r}")
    return problems
