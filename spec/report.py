"""``tinygrad-cnn verify`` / ``python -m spec``: run every item of the specification.

:func:`run_all` imports the topic modules in reading order (convolution, shapes,
parameters, gradients, documents), runs every registered item and returns the
:class:`~spec.core.Item` results; an item that raises becomes a failed item carrying the
traceback summary, so one broken check never hides the others. :func:`main` prints them as
text (statement, derivation, result, engine result, verdict, errata) or as JSON, and returns
the exit code: 0 if every item passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any, TextIO

from .core import REGISTRY, Item

#: the topics in reading order; each is the module ``spec.<topic>``
TOPICS = ("convolution", "shapes", "parameters", "gradients", "documents")
WIDTH = 100


# ------------------------------------------------------------------------------ running


def _import_error_item(topic: str, exc: BaseException) -> Item:
    return Item(topic, "import", f"The module spec.{topic} imports.", "", None, None, False,
                details={"error": _error_summary(exc)})


def _error_summary(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " <- ".join(f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})"
                        for f in reversed(frames))
    return f"{type(exc).__name__}: {exc}" + (f" [at {where}]" if where else "")


def load_topics() -> list[Item]:
    """Import every topic module that exists; a module that fails to import is a failed item."""
    failures = []
    for topic in TOPICS:
        name = f"{__package__}.{topic}"
        if name in sys.modules:
            continue
        if importlib.util.find_spec(name) is None:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # reported as a failed item, never a crash
            failures.append(_import_error_item(topic, exc))
    return failures


def known_topics() -> list[str]:
    """Topics with registered items or a failed import, in reading order (extra topics last)."""
    failed = {f.topic for f in load_topics()}
    return [t for t in TOPICS if t in REGISTRY or t in failed] + \
        [t for t in REGISTRY if t not in TOPICS]


def run_item(topic: str, fn: Callable[[], Item]) -> Item:
    """Run one item function; an exception or a wrong return type gives a failed item."""
    try:
        result = fn()
        if not isinstance(result, Item):
            raise TypeError(f"item function returned {type(result).__name__}, not Item")
        result.passed = bool(result.passed)
        return result
    except Exception as exc:
        doc = (fn.__doc__ or "").strip().splitlines()
        return Item(topic, getattr(fn, "__name__", repr(fn)), doc[0] if doc else "",
                    "", None, None, False, details={"error": _error_summary(exc)})


def _run(topics: Iterable[str] | None) -> list[tuple[Item, float]]:
    failures = load_topics()
    wanted = known_topics() if topics is None else list(topics)
    wanted += [f.topic for f in failures if topics is None and f.topic not in wanted]
    out = [(f, 0.0) for f in failures if f.topic in wanted]
    for topic in wanted:
        for fn in REGISTRY.get(topic, []):
            start = time.perf_counter()
            result = run_item(topic, fn)
            out.append((result, time.perf_counter() - start))
    return out


def run_all(topics: Iterable[str] | None = None) -> list[Item]:
    """Run the registered items of ``topics`` (default: all, in reading order).

    Parameters
    ----------
    topics : iterable of str, optional
        Topic names such as ``"convolution"`` or ``"documents"``.

    Returns
    -------
    list of Item
        One per item, in order; failed imports and raising items appear as failed items.
    """
    return [result for result, _ in _run(topics)]


# ----------------------------------------------------------------------------- formatting


def _is_sympy(value: Any) -> bool:
    return type(value).__module__.startswith("sympy")


def to_json(value: Any) -> Any:
    """A JSON-friendly copy: SymPy as {"str", "latex"}, arrays as lists, Fractions as "p/q"."""
    import numpy as np

    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}" if value.denominator != 1 \
            else str(value.numerator)
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if _is_sympy(value):
        import sympy as sp

        out: dict[str, Any] = {"str": str(value), "latex": sp.latex(value)}
        if isinstance(value, sp.MatrixBase):
            out["value"] = [[str(z) for z in row] for row in value.tolist()]
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_json(v) for v in value]
    return str(value)


def item_to_json(it: Item, seconds: float | None = None) -> dict[str, Any]:
    """One item as a JSON-friendly dict."""
    out = {"topic": it.topic, "name": it.name, "statement": it.statement,
           "derivation": it.derivation, "result": to_json(it.result),
           "engine": to_json(it.engine), "passed": bool(it.passed), "source": it.source,
           "errata": [{"document": e.document, "location": e.location,
                       "printed": to_json(e.printed), "correct": to_json(e.correct),
                       "text": str(e)} for e in it.errata],
           "details": to_json(it.details)}
    if seconds is not None:
        out["seconds"] = round(seconds, 4)
    return out


def _text(value: Any) -> str:
    """A readable one- or multi-line rendering of a result."""
    import numpy as np

    if _is_sympy(value):
        import sympy as sp

        if isinstance(value, sp.MatrixBase):
            return _rows([[str(z) for z in row] for row in value.tolist()])
        return str(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 2:
            return _rows([[_scalar(z) for z in row] for row in value.tolist()])
        if value.ndim == 3:
            return _text(list(value))
        return str(to_json(value))
    if isinstance(value, (list, tuple)) and value and all(
            _is_matrix_like(m) for m in value):
        return "\n".join(f"({k})\n{_text(m)}" for k, m in enumerate(value))
    if isinstance(value, list) and value and all(isinstance(r, list) for r in value) \
            and all(not isinstance(z, (list, dict)) for r in value for z in r):
        return _rows([[_scalar(z) for z in r] for r in value])
    if isinstance(value, dict):
        parts = ((k, _text(v)) for k, v in value.items())
        return "\n".join(f"{k}:\n{t}" if "\n" in t else f"{k}: {t}" for k, t in parts)
    if isinstance(value, (list, tuple)) and all(
            not isinstance(z, (list, tuple, dict, np.ndarray)) for z in value):
        return "[" + ", ".join(_scalar(z) for z in value) + "]"
    return str(to_json(value)) if not isinstance(value, str) else value


def _is_matrix_like(m: Any) -> bool:
    import numpy as np

    if isinstance(m, np.ndarray):
        return m.ndim == 2
    if _is_sympy(m):
        import sympy as sp

        return isinstance(m, sp.MatrixBase)
    return isinstance(m, list) and bool(m) and all(isinstance(r, list) for r in m) and all(
        not isinstance(z, (list, dict)) for r in m for z in r)


def _scalar(z: Any) -> str:
    if isinstance(z, float):
        return f"{z:.10g}"
    if isinstance(z, str):
        return z
    j = to_json(z)
    return j["str"] if isinstance(j, dict) else str(j)


def _rows(rows: list[list[str]]) -> str:
    width = max((len(z) for r in rows for z in r), default=0)
    return "\n".join("[" + "  ".join(z.rjust(width) for z in r) + "]" for r in rows)


def _field(label: str, text: str, limit: int | None = None) -> str:
    if limit is not None and len(text) > limit:
        text = text[:limit] + " …"
    head = f"  {label:<12}"
    pad = " " * len(head)
    lines = []
    for n, raw in enumerate(text.splitlines() or [""]):
        wrapped = textwrap.wrap(raw, WIDTH - len(head), break_long_words=True,
                                replace_whitespace=False) or [""]
        for m, chunk in enumerate(wrapped):
            lines.append((head if n == 0 and m == 0 else pad) + chunk)
    return "\n".join(lines)


def _verdict(passed: bool, colour: bool) -> str:
    word = "PASS" if passed else "FAIL"
    if not colour:
        return word
    return f"\033[32m{word}\033[0m" if passed else f"\033[31m{word}\033[0m"


def format_item(it: Item, seconds: float | None = None, quiet: bool = False,
                colour: bool = False) -> str:
    """The text block of one item (one line when ``quiet``)."""
    timing = f"  ({seconds:.2f} s)" if seconds is not None else ""
    head = f"[{_verdict(it.passed, colour)}] {it.topic}/{it.name}{timing}"
    if quiet:
        lines = [head] + [_field("erratum:", str(e)) for e in it.errata]
        if not it.passed and "error" in it.details:
            lines.append(_field("error:", str(it.details["error"])))
        return "\n".join(lines)
    lines = [head, _field("statement:", it.statement), _field("derivation:", it.derivation),
             _field("result:", _text(it.result)), _field("engine:", _text(it.engine)),
             _field("verdict:", "PASS: the engine agrees with the derivation" if it.passed
                    else "FAIL")]
    if it.source:
        lines.append(_field("source:", it.source))
    for e in it.errata:
        lines.append(_field("erratum:", str(e)))
    for key, value in it.details.items():
        lines.append(_field("·", f"{key}: {_text(value)}", limit=600))
    return "\n".join(lines)


def summary_line(items: list[Item], seconds: float) -> str:
    """``verify: N passed, M failed (K errata in the documents) in S s``."""
    passed = sum(it.passed for it in items)
    failed = len(items) - passed
    errata = [(it.topic, e) for it in items for e in it.errata]
    note = ""
    if errata:
        where = sorted({topic for topic, _ in errata})
        word = "erratum" if len(errata) == 1 else "errata"
        note = f" ({len(errata)} {word} in the {', '.join(where)})"
    return f"verify: {passed} passed, {failed} failed{note} in {seconds:.1f} s"


# ------------------------------------------------------------------------------ the command


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the specification and print it; the exit code is 1 if any item failed.

    Parameters
    ----------
    args : argparse.Namespace
        ``json``, ``only`` (list of topics or None), ``list`` and ``quiet``, as declared by
        ``tinygrad-cnn verify`` (:func:`tinygrad_cnn.cli._add_verify`).
    out : text stream, optional
        Where to print (default: standard output).
    """
    out = sys.stdout if out is None else out
    start = time.perf_counter()
    topics = known_topics()
    if getattr(args, "list", False):
        for topic in topics:
            names = [fn.__name__ for fn in REGISTRY.get(topic, [])]
            print(f"{topic} ({len(names)} items)", file=out)
            for name in names:
                print(f"  {name}", file=out)
        return 0
    only = getattr(args, "only", None)
    if only:
        unknown = [t for t in only if t not in topics]
        if unknown:
            print(f"verify: unknown topic(s) {', '.join(unknown)}; known: "
                  f"{', '.join(topics)}", file=sys.stderr)
            return 2
        topics = [t for t in topics if t in only]
    results = _run(topics)
    items = [it for it, _ in results]
    elapsed = time.perf_counter() - start
    if getattr(args, "json", False):
        report = {"items": [item_to_json(it, s) for it, s in results],
                  "passed": sum(it.passed for it in items),
                  "failed": sum(not it.passed for it in items),
                  "errata": [item_to_json(it)["errata"][k] | {"topic": it.topic,
                                                               "item": it.name}
                             for it in items for k in range(len(it.errata))],
                  "seconds": round(elapsed, 3), "summary": summary_line(items, elapsed)}
        json.dump(report, out, indent=2, ensure_ascii=False)
        print(file=out)
    else:
        colour = hasattr(out, "isatty") and out.isatty()
        quiet = getattr(args, "quiet", False)
        current = None
        for it, seconds in results:
            if it.topic != current:
                current = it.topic
                title = f"== {current} "
                print(("" if quiet else "\n") + title + "=" * (WIDTH - len(title)), file=out)
            print(format_item(it, seconds, quiet=quiet, colour=colour), file=out)
            if not quiet:
                print(file=out)
        print(summary_line(items, elapsed), file=out)
    return 0 if all(it.passed for it in items) else 1
