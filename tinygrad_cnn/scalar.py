"""CNN ops written out one number at a time, on nested lists of `Value`.

The tensor versions in :mod:`tinygrad_cnn.nn.functional` are fast and opaque; these are
slow and transparent: every multiply-add of a convolution is one `Value` node, so a 3x3
convolution can be written out, drawn (``tinygrad-cnn graph``) and differentiated exactly
with ``fractions.Fraction`` or SymPy symbols. Both follow the same conventions
(PyTorch's): cross-correlation (no kernel flip), zero padding for convolution, -inf
padding for max pooling, max-pool ties to the first maximum, relu'(0) = 0, and the output
size ``floor((n + 2p - d(k-1) - 1) / s) + 1``.

Nested lists may hold `Value` objects or plain numbers; a number is treated as a
constant. Use :func:`values` to turn numbers into labelled `Value` leaves and
:func:`to_data` / :func:`to_grad` to read results back.

Examples
--------
>>> from fractions import Fraction
>>> x = values([[1, 2, 0], [0, 1, 3], [2, 1, 1]], "x")
>>> w = values([[1, 0], [0, -1]], "w")
>>> y = conv2d(x, w)
>>> to_data(y)
[[0, -1], [-1, 0]]
>>> loss = y[0][0] + y[0][1] + y[1][0] + y[1][1]
>>> loss.backward()
>>> to_grad(w)
[[4, 6], [4, 6]]
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from functools import reduce
from typing import Any

from . import primitives as P
from .value import Value

__all__ = ["values", "to_data", "to_grad", "conv2d", "max_pool2d", "relu", "softmax",
           "log_softmax", "cross_entropy"]

Nested = Any  # a number, a Value, or a (nested) list of them


# ------------------------------------------------------------------------------ helpers


def values(nested: Nested, label_prefix: str = "x") -> Nested:
    """Turn a nested list of numbers into the same nested list of labelled `Value` leaves.

    The label of ``nested[i][j]`` is ``"{label_prefix}[i,j]"`` (a bare number gets
    ``label_prefix`` itself); existing `Value` objects are kept as they are.

    Examples
    --------
    >>> w = values([[1, 2], [3, 4]], "w")
    >>> w[1][0].label, w[1][0].data
    ('w[1,0]', 3)
    >>> values(5, "b").label
    'b'
    """

    def build(item: Any, index: tuple[int, ...]) -> Any:
        if isinstance(item, (list, tuple)):
            return [build(sub, (*index, i)) for i, sub in enumerate(item)]
        if isinstance(item, Value):
            return item
        label = label_prefix if not index else f"{label_prefix}[{','.join(map(str, index))}]"
        return Value(item, label=label)

    return build(nested, ())


def to_data(nested: Nested) -> Nested:
    """The same nested list with each `Value` replaced by its ``.data``.

    >>> to_data([[Value(1), 2]])
    [[1, 2]]
    """
    if isinstance(nested, (list, tuple)):
        return [to_data(item) for item in nested]
    return nested.data if isinstance(nested, Value) else nested


def to_grad(nested: Nested) -> Nested:
    """The same nested list with each `Value` replaced by its ``.grad`` (0 for constants).

    >>> x = Value(3)
    >>> (x * x).backward()
    >>> to_grad([x, 7])
    [6, 0]
    """
    if isinstance(nested, (list, tuple)):
        return [to_grad(item) for item in nested]
    return nested.grad if isinstance(nested, Value) else 0


def _shape(nested: Nested, name: str, fn: str) -> tuple[int, ...]:
    """The shape of a rectangular nested list; ValueError if it is ragged."""
    if not isinstance(nested, (list, tuple)):
        return ()
    if len(nested) == 0:
        raise ValueError(f"{fn}: {name} has an empty axis")
    shapes = {_shape(item, name, fn) for item in nested}
    if len(shapes) != 1:
        raise ValueError(f"{fn}: {name} is ragged: its rows have shapes {sorted(shapes)}")
    return (len(nested), *shapes.pop())


def _pair(value: Any, name: str, fn: str, minimum: int) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{fn}: {name} must be an int or 2 ints, got {value!r}")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{fn}: {name} must be an int, got {v!r} ({type(v).__name__})")
        if v < minimum:
            raise ValueError(f"{fn}: {name} must be >= {minimum}, got {v}")
    return items  # type: ignore[return-value]


def _out_size(fn: str, n: int, k: int, s: int, p: int, d: int) -> int:
    out = (n + 2 * p - d * (k - 1) - 1) // s + 1
    if out < 1:
        raise ValueError(f"{fn}: the kernel (size {k}, dilation {d}) is larger than the padded "
                         f"input (size {n} + 2*{p}); output size floor(({n} + 2*{p} - {d}*({k}"
                         f"-1) - 1)/{s}) + 1 = {out}, expected at least 1")
    return out


def _sum(terms: Sequence[Any]) -> Any:
    """Chained additions, left to right (no leading 0 node)."""
    return reduce(lambda a, b: a + b, terms) if terms else 0


# ---------------------------------------------------------------------------- convolution


def conv2d(x: Nested, w: Nested, b: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1) -> Nested:
    """2-D cross-correlation, written out term by term.

    ``y[o][i][j] = b[o] + Σ_{c,p,q} w[o][c][p][q] · x_pad[c][i·s + p·d][j·s + q·d]``

    Padding is zero padding; terms that fall on the padding are left out (they are 0), so
    the graph holds only the products that matter.

    Parameters
    ----------
    x : nested list, [C][H][W] or [H][W]
    w : nested list, [O][C][KH][KW] (with a [C][H][W] input) or [KH][KW] (with [H][W])
    b : optional; a list of O numbers / Values, or one number / Value for [KH][KW] weights
    stride, padding, dilation : int or (int, int)

    Returns
    -------
    nested list, [O][OH][OW] (or [OH][OW] for a single-channel input and kernel)

    Examples
    --------
    >>> from fractions import Fraction
    >>> x = values([[Fraction(1, 2), 1], [2, 3]], "x")
    >>> w = values([[1, -1], [2, 0]], "w")
    >>> y = conv2d(x, w, b=Value(1, "b"), padding=0)
    >>> y[0][0].data
    Fraction(9, 2)
    >>> y[0][0].backward()
    >>> to_grad(w)
    [[Fraction(1, 2), 1], [2, 3]]
    """
    fn = "conv2d"
    xs, ws = _shape(x, "x", fn), _shape(w, "w", fn)
    single = len(xs) == 2
    if single:
        if len(ws) != 2:
            raise ValueError(f"{fn}: with an [H][W] input, w must be [KH][KW], got shape {ws}")
        x, w, xs, ws = [x], [[w]], (1, *xs), (1, 1, *ws)
        b = None if b is None else [b]
    elif len(xs) != 3 or len(ws) != 4:
        raise ValueError(f"{fn}: expected x [C][H][W] with w [O][C][KH][KW] (or [H][W] with "
                         f"[KH][KW]), got shapes {xs} and {ws}")
    c, h, wd = xs
    o, cw, kh, kw = ws
    if cw != c:
        raise ValueError(f"{fn}: w expects {cw} input channels (shape {ws}), x has {c} "
                         f"(shape {xs})")
    if b is not None and (not isinstance(b, (list, tuple)) or len(b) != o):
        raise ValueError(f"{fn}: b must hold one value per output channel ({o}), got {b!r}")
    (sh, sw), (ph, pw) = _pair(stride, "stride", fn, 1), _pair(padding, "padding", fn, 0)
    dh, dw = _pair(dilation, "dilation", fn, 1)
    oh, ow = _out_size(fn, h, kh, sh, ph, dh), _out_size(fn, wd, kw, sw, pw, dw)

    out = []
    for oc in range(o):
        plane = []
        for i in range(oh):
            row = []
            for j in range(ow):
                terms = []
                for ci in range(c):
                    for p in range(kh):
                        r = i * sh + p * dh - ph
                        if not 0 <= r < h:
                            continue
                        for q in range(kw):
                            col = j * sw + q * dw - pw
                            if 0 <= col < wd:
                                terms.append(w[oc][ci][p][q] * x[ci][r][col])
                if b is not None:
                    terms.append(b[oc])
                row.append(_sum(terms))
            plane.append(row)
        out.append(plane)
    return out[0] if single else out


# -------------------------------------------------------------------------------- pooling


def max_pool2d(x: Nested, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Nested:
    """Max pooling: ``y[c][i][j] = max_{p,q} x_pad[c][i·s + p][j·s + q]`` (-inf padding).

    Each window's maximum is a chain ``((v0 ∨ v1) ∨ v2) ∨ …`` of the ``maximum`` entry with
    ``tie=1`` (a tie's gradient goes to the first argument), which sends the gradient of a
    tied window to its first maximal element in row-major order, as PyTorch does.
    ``stride`` defaults to ``kernel_size``; padded positions are left out of the chain
    (they never win).

    Parameters
    ----------
    x : nested list, [C][H][W] or [H][W]
    kernel_size, stride, padding : int or (int, int); padding at most half the kernel

    Examples
    --------
    >>> x = values([[1, 3], [3, 2]], "x")
    >>> y = max_pool2d(x, 2)
    >>> y[0][0].backward()
    >>> to_data(y), to_grad(x)
    ([[3]], [[0, 1], [0, 0]])
    """
    fn = "max_pool2d"
    xs = _shape(x, "x", fn)
    single = len(xs) == 2
    if single:
        x, xs = [x], (1, *xs)
    elif len(xs) != 3:
        raise ValueError(f"{fn}: x must be [C][H][W] or [H][W], got shape {xs}")
    c, h, wd = xs
    kh, kw = _pair(kernel_size, "kernel_size", fn, 1)
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride", fn, 1)
    ph, pw = _pair(padding, "padding", fn, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{fn}: padding must be at most half the kernel size, got padding "
                         f"{(ph, pw)} for kernel_size {(kh, kw)}")
    oh, ow = _out_size(fn, h, kh, sh, ph, 1), _out_size(fn, wd, kw, sw, pw, 1)
    out = []
    for ci in range(c):
        plane = []
        for i in range(oh):
            row = []
            for j in range(ow):
                window = [x[ci][r][col]
                          for r in range(i * sh - ph, i * sh - ph + kh) if 0 <= r < h
                          for col in range(j * sw - pw, j * sw - pw + kw) if 0 <= col < wd]
                row.append(reduce(_maximum, window))
            plane.append(row)
        out.append(plane)
    return out[0] if single else out


def _maximum(a: Any, b: Any) -> Any:
    """max(a, b) with a tie's gradient to ``a`` (max-pooling's rule, not `Value.maximum`'s
    even split)."""
    if isinstance(a, Value) or isinstance(b, Value):
        return Value._make(P.MAXIMUM_FIRST, Value._wrap(a), Value._wrap(b))
    return a if a >= b else b


# -------------------------------------------------------------- activations and the loss


def relu(x: Nested) -> Nested:
    """``max(0, v)`` for every element of a nested list; relu'(0) = 0.

    >>> to_data(relu([[Value(-1), Value(2)]]))
    [[0, 2]]
    """
    if isinstance(x, (list, tuple)):
        return [relu(item) for item in x]
    return x.relu() if isinstance(x, Value) else Value(x).relu()


def _shift(logits: Sequence[Any]) -> list[Any]:
    """``z - max(z)`` when the logits' data are comparable numbers, else ``z`` (symbolic).

    Subtracting a constant leaves softmax unchanged and keeps exp from overflowing; with
    SymPy symbols there is no order, so no shift.
    """
    data = [v.data if isinstance(v, Value) else v for v in logits]
    wrapped = [v if isinstance(v, Value) else Value(v) for v in logits]
    try:
        m = max(data)
    except TypeError:  # SymPy relations with free symbols have no truth value
        return wrapped
    return [v - m for v in wrapped]


def _check_logits(logits: Any, fn: str) -> list[Any]:
    if not isinstance(logits, (list, tuple)) or len(logits) == 0 or \
            any(isinstance(v, (list, tuple)) for v in logits):
        raise ValueError(f"{fn}: logits must be a non-empty flat list of numbers / Values, "
                         f"got {logits!r}")
    return list(logits)


def log_softmax(logits: Sequence[Any]) -> list[Any]:
    """``z_i - m - log Σ_j exp(z_j - m)`` with ``m = max z`` (0 when symbolic).

    >>> [round(v.data, 6) for v in log_softmax([Value(0.0), Value(0.0)])]
    [-0.693147, -0.693147]
    """
    logits = _check_logits(logits, "log_softmax")
    shifted = _shift(logits)
    log_total = _sum([v.exp() for v in shifted]).log()
    return [v - log_total for v in shifted]


def softmax(logits: Sequence[Any]) -> list[Any]:
    """``exp(z_i - m) / Σ_j exp(z_j - m)`` with ``m = max z`` (0 when symbolic).

    >>> [v.data for v in softmax([Value(1.0), Value(1.0)])]
    [0.5, 0.5]
    """
    logits = _check_logits(logits, "softmax")
    e = [v.exp() for v in _shift(logits)]
    total = _sum(e)
    return [v / total for v in e]


def cross_entropy(logits: Sequence[Any], target: int) -> Value:
    """Softmax cross-entropy of one example: ``-log softmax(z)[t] = log Σ_j e^(z_j-m) - (z_t-m)``.

    Its gradient with respect to ``z`` is ``softmax(z) - onehot(t)``.

    Parameters
    ----------
    logits : list of numbers / Values, one per class
    target : int, the class index in ``[0, len(logits))``

    Examples
    --------
    >>> import sympy
    >>> a, b = sympy.symbols("a b")
    >>> z = values([a, b], "z")
    >>> loss = cross_entropy(z, 1)
    >>> loss.backward()
    >>> sympy.simplify(z[1].grad - (sympy.exp(b) / (sympy.exp(a) + sympy.exp(b)) - 1))
    0
    """
    fn = "cross_entropy"
    logits = _check_logits(logits, fn)
    if isinstance(target, bool) or not isinstance(target, numbers.Integral):
        raise TypeError(f"{fn}: target must be an int class index, got {target!r} "
                        f"({type(target).__name__})")
    if not 0 <= target < len(logits):
        raise ValueError(f"{fn}: target class index must be in [0, {len(logits)}), "
                         f"got {target}")
    target = int(target)
    shifted = _shift(logits)
    return _sum([v.exp() for v in shifted]).log() - shifted[target]
