"""What an implementation says it handles (``supports=``), and what a report checked.

``supports`` is either a dict from a parameter name to the values the implementation
handles, or a predicate on a :class:`~spec.oracle.cases.Case`. In the dict, the names are
``tinygrad_cnn.nn.functional.<op>``'s keyword parameters (``stride``, ``padding``,
``dilation``, ``groups``, ``kernel_size``, ``axis``, ``reduction``, ...) plus ``bias``
(whether a bias array is passed, for conv and linear); a value is a collection of allowed
values, a single allowed value, or a predicate on the value. A pair parameter whose two
axes differ is the tuple ``(h, w)``: ``{"stride": {1, 2}}`` allows strides 1 and 2 on both
axes, not ``(1, 2)``; add ``(1, 2)`` to allow it (a tuple, list or set of values are all
collections of allowed values: ``{"stride": [1, (1, 2)]}``). A parameter that a case does
not pass has its default value.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Collection, Iterable
from typing import Any

from .cases import Case, all_cases

_ARRAY_PARAMS = {"x", "w", "b", "logits", "target", "input", "weight", "indices"}


@dataclasses.dataclass
class Unsupported:
    """A case that was not run, and why.

    Attributes
    ----------
    case : Case
    reason : str
        In words, e.g. ``"groups=2 is outside supports (groups in {1})"``.
    source : str
        ``"supports"`` (the declared scope), ``"style"`` (the calling style or layout
        cannot express it), ``"signature"`` (the candidate's function has no parameter for
        an option whose value is not the default) or ``"not-implemented"`` (the candidate
        raised ``NotImplementedError``).
    """

    case: Case
    reason: str
    source: str


def _defaults(op: str) -> dict[str, Any]:
    """The keyword parameters of ``tinygrad_cnn.nn.functional.<op>`` and their defaults."""
    import tinygrad_cnn.nn.functional as F

    fn = getattr(F, op, None)
    if fn is None:
        return {}
    out = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name in _ARRAY_PARAMS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = None if p.default is inspect.Parameter.empty else p.default
    return out


def parameters(op: str) -> dict[str, Any]:
    """The names ``supports`` accepts for ``op``, with the value a case has when it does not
    pass that parameter."""
    names = _defaults(op)
    for case in all_cases(op):
        for k in case.params:
            names.setdefault(k, None)
        if "b" in case.arrays or op in ("conv1d", "conv2d", "linear"):
            names.setdefault("bias", False)
    return names


def values(case: Case, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """A case's value of every parameter ``supports`` can name."""
    out = dict(defaults if defaults is not None else parameters(case.op))
    out.update(case.params)
    if "bias" in out:
        out["bias"] = "b" in case.arrays
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, (set, frozenset)):
        return "{" + ", ".join(_fmt(x) for x in sorted(v, key=repr)) + "}"
    return repr(v) if isinstance(v, str) else str(v)


def _same(a: Any, b: Any) -> bool:
    """Equal, and a bool only equals a bool (``True`` is not the value 1 here)."""
    if isinstance(a, bool) != isinstance(b, bool) or isinstance(a, tuple) != isinstance(b, tuple):
        return False
    return bool(a == b)


def _allowed(spec: Any) -> Callable[[Any], bool]:
    if callable(spec):
        return lambda v: bool(spec(v))
    if isinstance(spec, (str, int, float, bool)) or spec is None:
        return lambda v: _same(v, spec)
    if isinstance(spec, Collection):
        items = list(spec)
        return lambda v: any(_same(v, x) for x in items)
    raise TypeError(f"supports: the allowed values must be a collection, a single value or "
                    f"a predicate, got {type(spec).__name__}")


class Scope:
    """``supports`` checked against ``op`` once, then asked about each case."""

    def __init__(self, op: str, supports: Any = None) -> None:
        self.op = op
        self.supports = supports
        self.defaults = parameters(op)
        self._tests: dict[str, Callable[[Any], bool]] = {}
        if supports is None:
            return
        if isinstance(supports, dict):
            for name, spec in supports.items():
                if name not in self.defaults:
                    known = ", ".join(self.defaults) or "(none)"
                    raise ValueError(f"supports: {op} has no parameter {name!r}; its "
                                     f"parameters are {known}")
                self._tests[name] = _allowed(spec)
        elif not callable(supports):
            raise TypeError("supports: expected a dict {parameter: allowed values} or a "
                            f"predicate on a case, got {type(supports).__name__}")

    def describe(self) -> str:
        """The declared scope in one line ('' when there is none)."""
        if self.supports is None:
            return ""
        if isinstance(self.supports, dict):
            parts = []
            for name, spec in self.supports.items():
                if callable(spec):
                    parts.append(f"{name} where {getattr(spec, '__name__', 'a predicate')}")
                elif isinstance(spec, Collection) and not isinstance(spec, str):
                    parts.append(f"{name} in {_fmt(set(spec))}")
                else:
                    parts.append(f"{name}={_fmt(spec)}")
            return ", ".join(parts)
        return f"cases where {getattr(self.supports, '__name__', 'the predicate')} is true"

    def reason(self, case: Case) -> str | None:
        """Why ``case`` is outside the declared scope, or None when it is inside."""
        if self.supports is None:
            return None
        if not isinstance(self.supports, dict):
            try:
                ok = self.supports(case)
            except Exception as exc:
                raise ValueError(f"supports: the predicate raised {type(exc).__name__}: "
                                 f"{exc} on case {case.name} ({case.describe()})") from exc
            if ok:
                return None
            name = getattr(self.supports, "__name__", "the predicate")
            return f"outside supports ({name} is false for {case.describe()})"
        got = values(case, self.defaults)
        for name, test in self._tests.items():
            try:
                ok = test(got[name])
            except Exception as exc:
                raise ValueError(f"supports: the test of {name!r} raised "
                                 f"{type(exc).__name__}: {exc} on {got[name]!r}") from exc
            if not ok:
                return f"{name}={_fmt(got[name])} is outside supports ({self.describe()})"
        return None


# ------------------------------------------------------------------------ the summary


def _ranges(vals: Iterable[Any]) -> str:
    """``1–3, 5, (1, 2)``: integers as runs, then everything else."""
    vals = list(vals)
    ints = sorted(v for v in vals if isinstance(v, int) and not isinstance(v, bool))
    others = sorted((v for v in vals if not (isinstance(v, int) and not isinstance(v, bool))),
                    key=repr)
    parts: list[str] = []
    i = 0
    while i < len(ints):
        j = i
        while j + 1 < len(ints) and ints[j + 1] == ints[j] + 1:
            j += 1
        parts.append(f"{ints[i]}" if i == j else f"{ints[i]}–{ints[j]}" if j > i + 1
                     else f"{ints[i]}, {ints[j]}")
        i = j + 1
    for v in others:
        if isinstance(v, bool):
            parts.append("with" if v else "without")
        else:
            parts.append(_fmt(v))
    return ", ".join(parts)


_SOURCE_WORDS = {"supports": "not supported", "style": "the style cannot express it",
                 "signature": "the function lacks an option these cases use",
                 "not-implemented": "NotImplementedError"}


def summary(op: str, run: list[Case], skipped: list[Unsupported]) -> tuple[str, str]:
    """The "checked: ..." and "not checked: ..." texts of a report.

    Checked lists, per parameter, the values of the cases that ran; not checked lists the
    values that only cases outside the scope have, with why they were not run.
    """
    defaults = parameters(op)
    shown = [k for k in defaults if any(k in c.params for c in run + [u.case for u in skipped])
             or k == "bias"]
    seen: dict[str, list[Any]] = {k: [] for k in shown}
    for case in run:
        got = values(case, defaults)
        for k in shown:
            if got[k] not in seen[k]:
                seen[k].append(got[k])
    checked = "; ".join(f"{k} {_ranges(seen[k])}" for k in shown if seen[k])
    if not run:
        checked = "nothing (no case in scope ran)"
    elif not checked:
        checked = f"{len(run)} cases (this op has no parameters)"
    missing: dict[str, dict[Any, set[str]]] = {}
    leftover: set[str] = set()
    for u in skipped:
        got = values(u.case, defaults)
        new = [k for k in shown if got[k] not in seen[k]]
        for k in new:
            missing.setdefault(k, {}).setdefault(got[k], set()).add(u.source)
        if not new:
            leftover.add(u.source)
    parts = []
    for k, vals in missing.items():
        sources = sorted({s for ss in vals.values() for s in ss})
        why = "; ".join(_SOURCE_WORDS[s] for s in sources)
        parts.append(f"{k} {_ranges(vals)} ({why})")
    if leftover:
        n = sum(1 for u in skipped if u.source in leftover
                and not any(values(u.case, defaults)[k] not in seen[k] for k in shown))
        why = "; ".join(_SOURCE_WORDS[s] for s in sorted(leftover))
        parts.append(f"{n} further case{'s' * (n != 1)} with checked values ({why})")
    return checked, "; ".join(parts) if parts else "nothing"
