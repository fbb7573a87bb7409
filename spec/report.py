"""``tinygrad-cnn verify`` / ``python -m spec``: run every item of the specification.

:func:`load_topics` imports the topic modules (those of :data:`TOPICS` in reading order,
then any other ``spec/<name>.py`` that registers items); :func:`iter_run` runs the selected
items one at a time, holds each to the list of known errata (:func:`spec.errata.reconcile`)
and yields it as soon as it is done, so the command prints progress item by item. An item
that raises becomes a failed item carrying the traceback summary, so one broken check never
hides the others. :func:`main` prints the items as text (statement, derivation, result,
engine result, verdict, errata) or as JSON, and returns the exit code: 0 if every item
passed, 1 otherwise, 2 for an unknown ``--only`` name.

To add an item to the report, decorate its function with ``@item("topic")`` (from
:mod:`spec.core`) in a module ``spec/<name>.py``: nothing else to edit. List the module in
:data:`TOPICS` only to give it a place in the reading order (unlisted ones come last).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import pkgutil
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any, TextIO

from .core import REGISTRY, Item
from .errata import listed_for, reconcile

#: the topic modules in reading order; each is the module ``spec.<topic>``
TOPICS = ("convolution", "shapes", "parameters", "networks", "rules", "gradients",
          "documents", "claims", "winograd")
#: modules of the package that hold no items
NOT_TOPICS = frozenset({"core", "report", "errata", "command", "__main__", "oracle"})
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


def _topic_modules() -> list[str]:
    """TOPICS in order, then every other module of the package, alphabetically."""
    found = []
    here = sys.modules[__package__].__path__
    for info in pkgutil.iter_modules(here):
        if not info.ispkg and info.name not in NOT_TOPICS and info.name not in TOPICS:
            found.append(info.name)
    return list(TOPICS) + sorted(found)


def load_topics() -> list[Item]:
    """Import every topic module; a module that fails to import is a failed item."""
    failures = []
    for topic in _topic_modules():
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


def known_topics(failures: list[Item] | None = None) -> list[str]:
    """Topics with registered items or a failed import, in reading order (extra topics last)."""
    failed = {f.topic for f in (load_topics() if failures is None else failures)}
    return [t for t in TOPICS if t in REGISTRY or t in failed] + \
        [t for t in REGISTRY if t not in TOPICS] + \
        [t for t in failed if t not in TOPICS and t not in REGISTRY]


def item_functions() -> list[tuple[str, Callable[[], Item]]]:
    """Every registered item as (topic, function), in reading order."""
    load_topics()
    return [(topic, fn) for topic in known_topics() for fn in REGISTRY.get(topic, [])]


def select(only: Iterable[str] | None) -> list[tuple[str, Any]]:
    """The (topic, function) pairs named by ``only``: topics, item names or ``topic/name``.

    A failed import appears as (topic, the failed Item). Raises ``ValueError`` naming the
    unknown names.
    """
    failures = {f.topic: f for f in load_topics()}
    entries: list[tuple[str, Any]] = []
    for topic in known_topics(list(failures.values())):
        if topic in failures:
            entries.append((topic, failures[topic]))
        entries += [(topic, fn) for fn in REGISTRY.get(topic, [])]
    if only is None:
        return entries
    wanted = list(only)
    unknown = [w for w in wanted if not any(_matches(w, topic, entry)
                                            for topic, entry in entries)]
    if unknown:
        raise ValueError(f"unknown topic or item {', '.join(map(repr, unknown))}; see --list")
    return [(topic, entry) for topic, entry in entries
            if any(_matches(w, topic, entry) for w in wanted)]


def _name(entry: Any) -> str:
    return entry.name if isinstance(entry, Item) else getattr(entry, "__name__", repr(entry))


def _matches(wanted: str, topic: str, entry: Any) -> bool:
    name = _name(entry)
    return wanted in (topic, name, f"{topic}/{name}")


def run_item(topic: str, fn: Callable[[], Item]) -> Item:
    """Run one item function, then hold it to the known errata (:func:`reconcile`).

    An exception or a wrong return type gives a failed item.
    """
    try:
        result = fn()
        if not isinstance(result, Item):
            raise TypeError(f"item function returned {type(result).__name__}, not Item")
        result.passed = bool(result.passed)
        return reconcile(result)
    except Exception as exc:
        doc = (fn.__doc__ or "").strip().splitlines()
        return Item(topic, getattr(fn, "__name__", repr(fn)), doc[0] if doc else "",
                    "", None, None, False, details={"error": _error_summary(exc)})


def iter_run(only: Iterable[str] | None = None) -> Iterator[tuple[Item, float]]:
    """Run the selected items (see :func:`select`) one by one, yielding (item, seconds)."""
    for topic, entry in select(only):
        if isinstance(entry, Item):  # a module that failed to import
            yield entry, 0.0
            continue
        start = time.perf_counter()
        result = run_item(topic, entry)
        yield result, time.perf_counter() - start


def run_all(topics: Iterable[str] | None = None) -> list[Item]:
    """Run the registered items of ``topics`` (default: all, in reading order).

    Parameters
    ----------
    topics : iterable of str, optional
        Topic names such as ``"convolution"``, item names such as ``"same_padding"``, or
        ``"topic/name"``.

    Returns
    -------
    list of Item
        One per item, in order; failed imports and raising items appear as failed items.
    """
    return [result for result, _ in iter_run(topics)]


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
                       "known": e.known, "reason": e.reason, "text": str(e)}
                      for e in it.errata],
           "printed": [{"value": to_json(q.value), "document": q.document, "quote": q.quote,
                        "where": q.where, "verbatim": q.verbatim} for q in it.quotes],
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


def _erratum_text(e: Any) -> str:
    if e.known:
        return f"known erratum, confirmed: {e}; why: {e.reason}"
    return f"NOT A KNOWN ERRATUM (fails the item): {e}"


def _failures(it: Item) -> list[str]:
    return [f"{key}: {_text(value)}" for key, value in it.details.items()
            if key == "error" or str(key).startswith("FAILED")]


def format_item(it: Item, seconds: float | None = None, quiet: bool = False,
                colour: bool = False) -> str:
    """The text block of one item (one line, plus errata and failures, when ``quiet``)."""
    timing = f"  ({seconds:.2f} s)" if seconds is not None else ""
    head = f"[{_verdict(it.passed, colour)}] {it.topic}/{it.name}{timing}"
    if quiet:
        lines = [head] + [_field("erratum:", _erratum_text(e)) for e in it.errata]
        if not it.passed:
            lines += [_field("FAILED:", f, limit=600) for f in _failures(it)]
        return "\n".join(lines)
    lines = [head, _field("statement:", it.statement), _field("derivation:", it.derivation),
             _field("result:", _text(it.result)), _field("engine:", _text(it.engine)),
             _field("verdict:", "PASS: the engine agrees with the derivation" if it.passed
                    else "FAILED")]
    if it.source:
        lines.append(_field("source:", it.source))
    for q in it.quotes:
        lines.append(_field("printed:" if q.verbatim else "stated:", f"{q.value} ({q.label()})",
                            limit=300))
    for e in it.errata:
        lines.append(_field("erratum:", _erratum_text(e)))
    for key, value in it.details.items():
        lines.append(_field("·", f"{key}: {_text(value)}", limit=600))
    return "\n".join(lines)


def summary_line(items: list[Item], seconds: float) -> str:
    """``verify: N passed, M failed; known errata: K listed, K confirmed; in S s``."""
    passed = sum(it.passed for it in items)
    failed = len(items) - passed
    summary = errata_summary(items)
    note = ""
    if summary["listed"] or summary["unlisted"]:
        note = (f"; known errata: {len(summary['listed'])} listed, "
                f"{len(summary['confirmed'])} confirmed")
        if summary["unlisted"]:
            note += f"; {len(summary['unlisted'])} printed values disagree, not listed"
    return f"verify: {passed} passed, {failed} failed{note}; in {seconds:.1f} s"


# ------------------------------------------------------------------------------ the command


def errata_summary(items: list[Item]) -> dict[str, Any]:
    """The known errata of the items run: listed, confirmed, and unlisted disagreements."""
    listed = [k for it in items for k in listed_for(f"{it.topic}/{it.name}")]
    confirmed = [(it, e) for it in items for e in it.errata if e.known]
    unlisted = [(it, e) for it in items for e in it.errata if not e.known]
    return {"listed": listed, "confirmed": confirmed, "unlisted": unlisted}


def _errata_block(items: list[Item]) -> list[str]:
    summary = errata_summary(items)
    lines = []
    if summary["listed"] or summary["unlisted"]:
        lines.append(f"known errata: {len(summary['listed'])} listed, "
                     f"{len(summary['confirmed'])} confirmed by this run")
    for it, e in summary["confirmed"]:
        lines.append(_field("confirmed:", f"{e} ({it.topic}/{it.name}); why: {e.reason}"))
    for it, e in summary["unlisted"]:
        lines.append(_field("NOT LISTED:", f"{e} ({it.topic}/{it.name}): a spec bug or a new "
                                           "erratum; check it by hand"))
    return lines


def _list(out: TextIO, as_json: bool, only: Iterable[str] | None = None) -> int:
    try:
        entries = select(only)  # --list --only NAME lists what --only NAME would run
    except ValueError as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    if as_json:
        listing = [{"topic": topic, "name": _name(entry),
                    "summary": ((getattr(entry, "__doc__", None) or "").strip().splitlines()
                                or [""])[0] if not isinstance(entry, Item) else
                    entry.statement} for topic, entry in entries]
        json.dump(listing, out, indent=2, ensure_ascii=False)
        print(file=out)
        return 0
    current = None
    for topic, entry in entries:
        if topic != current:
            current = topic
            count = sum(t == topic for t, _ in entries)
            print(f"{topic} ({count} item{'s' * (count != 1)})", file=out)
        print(f"  {_name(entry)}", file=out)
    return 0


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the specification and print it; the exit code is 1 if any item failed.

    Parameters
    ----------
    args : argparse.Namespace
        ``json``, ``only`` (list of topics / item names, or None), ``list`` and ``quiet``,
        as declared by :func:`spec.command.add_arguments`.
    out : text stream, optional
        Where to print (default: standard output).
    """
    out = sys.stdout if out is None else out
    start = time.perf_counter()
    as_json = getattr(args, "json", False)
    only = getattr(args, "only", None) or None
    if getattr(args, "list", False):
        return _list(out, as_json, only)
    try:
        selection = select(only)
    except ValueError as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    names = [f"{topic}/{_name(entry)}" for topic, entry in selection]
    results: list[tuple[Item, float]] = []
    progress = sys.stderr if as_json and sys.stderr.isatty() else None
    # colour only on a terminal, and not when NO_COLOR is set (no-color.org) or TERM=dumb
    colour = (hasattr(out, "isatty") and out.isatty() and not os.environ.get("NO_COLOR")
              and os.environ.get("TERM") != "dumb")
    quiet = getattr(args, "quiet", False)
    current = None
    for it, seconds in iter_run(names):
        results.append((it, seconds))
        if progress is not None:
            print(f"verify: [{len(results)}/{len(names)}] {it.topic}/{it.name} "
                  f"{'PASS' if it.passed else 'FAIL'}", file=progress, flush=True)
        if as_json:
            continue
        if it.topic != current:
            current = it.topic
            title = f"== {current} "
            print(("" if quiet else "\n") + title + "=" * (WIDTH - len(title)), file=out)
        print(format_item(it, seconds, quiet=quiet, colour=colour), file=out)
        if not quiet:
            print(file=out)
        out.flush()
    items = [it for it, _ in results]
    elapsed = time.perf_counter() - start
    if as_json:
        summary = errata_summary(items)
        report = {"items": [item_to_json(it, s) for it, s in results],
                  "passed": sum(it.passed for it in items),
                  "failed": sum(not it.passed for it in items),
                  "errata": [item_to_json(it)["errata"][k] | {"topic": it.topic,
                                                               "item": it.name}
                             for it in items for k in range(len(it.errata))],
                  "known_errata": [{"item": k.item, "document": k.document,
                                    "location": k.location, "printed": to_json(k.printed),
                                    "correct": to_json(k.correct), "reason": k.reason,
                                    "seed": k.seed, "quote": k.quote,
                                    "confirmed": any(e.known and k.matches(e)
                                                     for _, e in summary["confirmed"])}
                                   for k in summary["listed"]],
                  "seconds": round(elapsed, 3), "summary": summary_line(items, elapsed)}
        json.dump(report, out, indent=2, ensure_ascii=False)
        print(file=out)
    else:
        for line in _errata_block(items):
            print(line, file=out)
        print(summary_line(items, elapsed), file=out)
    return 0 if items and all(it.passed for it in items) else 1
