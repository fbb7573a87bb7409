"""The shape of a specification item, shared by the report, the tests and the docs.

Every item of the specification is a small function decorated with :func:`item`. It
derives something with SymPy, computes the same thing with the engine, and returns an
:class:`Item` saying both and whether they agree. The same objects feed
``tinygrad-cnn verify`` (text and ``--json``), the test suite and the documentation site.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class Erratum:
    """A place where a course document disagrees with the math (the engine agrees with it)."""

    document: str  # e.g. "seed 004 (SuperDataScience slides)"
    location: str  # e.g. "feature map, row 3, column 3 (1-based)"
    printed: Any  # what the document prints, transcribed literally
    correct: Any  # what the math (and the engine) gives

    def __str__(self) -> str:
        return (f"erratum in {self.document}, {self.location}: printed {self.printed}, "
                f"correct {self.correct}")


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
        Disagreements between a document and the math; they do not fail the item.
    details : dict
        Anything else worth showing (tables, sub-checks), JSON-friendly where possible.
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


#: topic -> list of item functions, in registration (reading) order
REGISTRY: dict[str, list[Callable[[], Item]]] = {}


def item(topic: str) -> Callable[[Callable[[], Item]], Callable[[], Item]]:
    """Register a zero-argument function returning an :class:`Item` under ``topic``."""

    def register(fn: Callable[[], Item]) -> Callable[[], Item]:
        REGISTRY.setdefault(topic, []).append(fn)
        return fn

    return register
