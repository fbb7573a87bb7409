"""The pooling output size with ``ceil_mode``, derived by counting window positions.

With ``ceil_mode=True`` a pooling layer keeps a last window that runs past the padded
input, so that the cells the floor count leaves out are pooled too. Counting the window
starts ``s·i`` (i = 0, 1, ...) that obey both rules

- the window overruns the padded input by less than a stride:
  ``s·i + d(k−1) ≤ n + 2p − 1 + (s − 1)``, and
- it starts inside the input or the left padding (PyTorch's rule): ``s·i < n + p``,

gives ``min(ceil((n + 2p − d(k−1) − 1)/s) + 1, ceil((n + p)/s))``, which is
:func:`spec.output_size` with ``ceil_mode=True`` (the ceiling formula, one less when the
last start is ``≥ n + p``). :func:`ceil_mode_output_size` derives it with SymPy and checks
it against a literal count, ``spec.output_size`` and the engine's pooling shapes. It
returns an :class:`spec.core.Item` and is not registered here (the report decides where
it is listed).
"""

from __future__ import annotations

import itertools

import numpy as np

from .core import Item, item
from .shapes import output_size


def count_ceil_positions(n: int, kernel: int, stride: int = 1, padding: int = 0,
                         dilation: int = 1) -> int:
    """Count, one by one, the window starts ``s·i`` that ``ceil_mode`` keeps (no formula)."""
    last = n + 2 * padding - 1  # the last cell of the padded input
    count = 0
    while (stride * count + dilation * (kernel - 1) <= last + stride - 1
           and stride * count < n + padding):
        count += 1
    return count


@item("shapes")
def ceil_mode_output_size() -> Item:
    """ceil_mode's output size: min(ceil(span/s) + 1, ceil((n + p)/s)), by counting."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    n, k, s, d = sp.symbols("n k s d", integer=True, positive=True)
    p = sp.Symbol("p", integer=True, nonnegative=True)
    i = sp.Symbol("i", integer=True, nonnegative=True)
    overrun = sp.solve(s * i + d * (k - 1) <= n + 2 * p - 1 + s - 1, i)
    starts = sp.solve(s * i < n + p, i)
    bound_overrun = overrun.rhs if overrun.lhs == i else overrun.lhs
    bound_start = starts.rhs if starts.lhs == i else starts.lhs
    # i ≤ (span + s − 1)/s: i_max = floor of it = ceil(span/s); i < (n + p)/s: ceil − 1
    count = sp.Min(sp.floor(bound_overrun) + 1, sp.ceiling(bound_start))
    closed = output_size(n, k, s, p, d, ceil_mode=True)

    # evaluated as Python functions of the five integers (subs on 700 points is slow)
    count_at = sp.lambdify((n, k, s, p, d), count, modules="math")
    closed_at = sp.lambdify((n, k, s, p, d), closed, modules="math")
    mismatches, checked = [], 0
    for nn, kk, ss, pp, dd in itertools.product(range(1, 12), range(1, 5), range(1, 5),
                                                range(0, 3), range(1, 3)):
        if 2 * pp > kk:  # pooling's padding is at most half the kernel
            continue
        counted = count_ceil_positions(nn, kk, ss, pp, dd)
        formula = output_size(nn, kk, ss, pp, dd, ceil_mode=True)
        derived = int(count_at(nn, kk, ss, pp, dd))
        from_closed = int(closed_at(nn, kk, ss, pp, dd))
        engine = None
        if counted >= 1:
            x = Tensor(np.zeros((1, 1, nn, 1)))
            engine = F.max_pool2d(x, (kk, 1), (ss, 1), (pp, 0), (dd, 1),
                                  ceil_mode=True).shape[2]
        checked += 1
        if not (counted == max(formula, 0) == max(derived, 0) == max(from_closed, 0)) or \
                (engine is not None and engine != counted):
            mismatches.append((nn, kk, ss, pp, dd, counted, formula, derived, engine))
    example = {"n": 5, "k": 2, "s": 2, "p": 1}
    return Item(
        topic="shapes", name="ceil_mode_output_size",
        statement="With ceil_mode a window of k taps (dilation d), stride s, padding p on n "
                  "cells has min(ceil((n + 2p − d(k−1) − 1)/s) + 1, ceil((n + p)/s)) "
                  "positions: the ceiling count, less a last window starting in the right "
                  "padding.",
        derivation=(
            "Window i starts at s·i. It may overrun the padded input by less than a stride: "
            f"SymPy solves ${sp.latex(s * i + d * (k - 1) <= n + 2 * p - 1 + s - 1)}$ to "
            f"${sp.latex(overrun)}$; it must start inside the input or the left padding: "
            f"${sp.latex(s * i < n + p)}$ gives ${sp.latex(starts)}$. Counting i = 0, 1, … "
            f"under both: ${sp.latex(count)}$. On {checked} grid points (n ≤ 11, k ≤ 4, "
            "s ≤ 4, p ≤ k/2, d ≤ 2) a literal count, this expression, spec.output_size("
            "ceil_mode=True) and the engine's max_pool2d shapes agree. Example: n = 5, k = 2, "
            "s = 2, p = 1: the ceiling gives 4, but the 4th window would start at 6 = n + p, "
            "in the right padding, so 3."),
        result=count,
        engine=closed,
        passed=not mismatches,
        details={"grid_points": checked, "mismatches": mismatches[:10],
                 "example": {**example, "count": output_size(5, 2, 2, 1, ceil_mode=True)}},
    )
