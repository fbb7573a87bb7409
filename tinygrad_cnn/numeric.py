"""Elementary functions that work on every number type the engine accepts.

float / int / NumPy arrays go to NumPy; ``fractions.Fraction`` goes through float where
the result is irrational (exp, log, tanh); SymPy numbers and symbols stay symbolic. SymPy
is imported only when a SymPy value actually shows up, so the engine has no SymPy import
cost (DESIGN: the engine never imports SymPy at import time).

NumPy object arrays (of Fractions or SymPy values) are handled element by element.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_sympy(x: Any) -> bool:
    """True if ``x`` is a SymPy object (checked without importing SymPy)."""
    return type(x).__module__.startswith("sympy")


def _sympy():
    import sympy

    return sympy


def _scalar_exp(x: Any) -> Any:
    if is_sympy(x):
        return _sympy().exp(x)
    if isinstance(x, np.generic):
        with np.errstate(all="ignore"):  # IEEE inf / NaN, as the array ops
            return np.exp(x)
    try:
        return math.exp(x)
    except OverflowError:  # IEEE: e**x past the float range is inf, as in NumPy and PyTorch
        return math.inf


def _scalar_log(x: Any) -> Any:
    if is_sympy(x):
        return _sympy().log(x)
    if isinstance(x, np.generic):
        with np.errstate(all="ignore"):  # IEEE inf / NaN, as the array ops
            return np.log(x)
    if x <= 0:
        raise ValueError(f"log of a non-positive number: {x!r}")
    return math.log(x)


def _scalar_tanh(x: Any) -> Any:
    if is_sympy(x):
        return _sympy().tanh(x)
    if isinstance(x, np.generic):
        with np.errstate(all="ignore"):  # IEEE inf / NaN, as the array ops
            return np.tanh(x)
    return math.tanh(x)


_OBJECT_UFUNCS = {
    "exp": np.frompyfunc(_scalar_exp, 1, 1),
    "log": np.frompyfunc(_scalar_log, 1, 1),
    "tanh": np.frompyfunc(_scalar_tanh, 1, 1),
}


def _apply(name: str, scalar_fn, numpy_fn, x: Any) -> Any:
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return _OBJECT_UFUNCS[name](x)
        return numpy_fn(x)
    return scalar_fn(x)


def exp(x: Any) -> Any:
    """e**x for any supported number type or array."""
    return _apply("exp", _scalar_exp, np.exp, x)


def log(x: Any) -> Any:
    """Natural logarithm for any supported number type or array."""
    return _apply("log", _scalar_log, np.log, x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent for any supported number type or array."""
    return _apply("tanh", _scalar_tanh, np.tanh, x)


def maximum_weights(a: Any, b: Any, tie: Any) -> tuple[Any, Any]:
    """The derivatives of ``max(a, b)`` by a and by b, for scalars: (1, 0), (0, 1) or, at a
    tie, ``(tie, 1 - tie)``; SymPy Heaviside steps when the order is symbolic.

    ``tie = 1/2`` splits a tie evenly (``maximum``); ``tie = 1`` gives it to ``a`` (relu).
    """
    try:
        if a > b:
            return 1, 0
        if a < b:
            return 0, 1
        if a == b:
            if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
                return float(tie), 1.0 - float(tie)
            if getattr(tie, "denominator", None) == 1:  # 1 and 0 stay ints
                return int(tie), 1 - int(tie)
            return tie, 1 - tie
        return 1, 1  # NaN (unordered): as PyTorch, the whole gradient to both sides
    except TypeError:  # a SymPy relation with free symbols has no truth value
        sp = _sympy()
        diff = sp.sympify(a) - b
        return sp.Heaviside(diff, tie), sp.Heaviside(-diff, 1 - tie)


def scalar_maximum(a: Any, b: Any) -> Any:
    """max(a, b) for scalars; a SymPy ``Max`` when the order is symbolic."""
    try:
        return a if a >= b else b
    except TypeError:
        return _sympy().Max(a, b)
