"""Output sizes of convolution and pooling, derived by counting window positions.

A window of ``k`` taps with dilation ``d`` spans ``d(k-1) + 1`` cells. On an axis of ``n``
cells padded by ``p`` on each side, the window that starts at ``s·i`` covers the cells
``s·i .. s·i + d(k-1)`` and fits while ``s·i + d(k-1) <= n + 2p - 1``. Counting the
positions ``i = 0, 1, ...`` gives the closed form of :func:`output_size`. The items of the
``"shapes"`` topic derive it with SymPy, check it against the engine's output shapes, and
reproduce every size the course documents mention.
"""

from __future__ import annotations

import itertools
import numbers
from typing import Any

import numpy as np

from .core import Erratum, Item, Printed, compare_printed, item, printed
from .documents import SEED_004_QUOTES


def _is_symbolic(*values: Any) -> bool:
    return any(type(v).__module__.startswith("sympy") for v in values)


def output_size(n: Any, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                ceil_mode: bool = False) -> Any:
    """Number of positions of a (dilated) window on a padded axis.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1``: an int for ints, a SymPy expression when any
    argument is a SymPy symbol or expression. With ``ceil_mode`` (pooling's option)
    ``ceil`` replaces ``floor``, so a last window that runs past the padded input (by less
    than a stride) is counted, but only if it starts inside the input or the left
    padding, i.e. before cell ``n + p`` (PyTorch's rule): otherwise one position less.

    Parameters
    ----------
    n : int or SymPy expression
        Size of the input axis (before padding).
    kernel : int or SymPy expression
        Number of taps of the window.
    stride, padding, dilation : int or SymPy expression
        Step between windows, zeros added on each side, spacing between taps.
    ceil_mode : bool, default False
        Round up instead of down (for symbols: a ``Piecewise`` with the start rule).

    Examples
    --------
    >>> output_size(7, 3)
    5
    >>> output_size(6, 3, stride=2)
    2
    >>> output_size(6, 3, stride=2, ceil_mode=True)  # a third window starts at cell 4
    3
    """
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"output_size: ceil_mode must be a bool, got {ceil_mode!r}")
    if _is_symbolic(n, kernel, stride, padding, dilation):
        import sympy

        span = n + 2 * padding - dilation * (kernel - 1) - 1
        if not ceil_mode:
            return sympy.floor(span / stride) + 1
        count = sympy.ceiling(span / stride) + 1
        # the last window starts at (count - 1)·s; it must start before cell n + p
        return sympy.Piecewise((count - 1, (count - 1) * stride >= n + padding),
                               (count, True))
    values = []
    for name, value in (("n", n), ("kernel", kernel), ("stride", stride),
                        ("padding", padding), ("dilation", dilation)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"output_size: {name} must be an int or a SymPy expression, "
                            f"got {value!r}")
        values.append(int(value))  # NumPy integers too; the result is a Python int
    n, kernel, stride, padding, dilation = values
    span = n + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    count = -(-span // stride) + 1
    return count - 1 if (count - 1) * stride >= n + padding else count


def count_positions(n: int, kernel: int, stride: int = 1, padding: int = 0,
                    dilation: int = 1) -> int:
    """Count, one by one, the window starts ``s·i`` whose last tap stays inside the input.

    The literal definition the closed form is derived from: no formula, just a loop.
    """
    last = n + 2 * padding - 1  # index of the last cell of the padded axis
    count = 0
    while stride * count + dilation * (kernel - 1) <= last:
        count += 1
    return count


# ---------------------------------------------------------------------------- helpers


def _symbols():
    import sympy as sp

    n, k, s, d = sp.symbols("n k s d", integer=True, positive=True)
    p = sp.Symbol("p", integer=True, nonnegative=True)
    return sp, n, k, s, p, d


def _zeros(*shape: int) -> Any:
    from tinygrad_cnn import Tensor

    return Tensor(np.zeros(shape, dtype=np.float32))


def _conv_shape(n_hw: tuple[int, int], kernel: int, stride: int = 1, padding: Any = 0,
                dilation: int = 1, in_channels: int = 1, filters: int = 1) -> tuple[int, ...]:
    import tinygrad_cnn.nn.functional as F

    x = _zeros(1, in_channels, *n_hw)
    w = _zeros(filters, in_channels, kernel, kernel)
    return tuple(F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation).shape)


# ------------------------------------------------------------------------------ items


@item("shapes")
def output_size_by_counting() -> Item:
    """The closed form floor((n + 2p − d(k−1) − 1)/s) + 1, derived by counting positions."""
    sp, n, k, s, p, d = _symbols()
    i = sp.Symbol("i", integer=True, nonnegative=True)
    fits = s * i + d * (k - 1) <= n + 2 * p - 1  # last tap of window i inside the axis
    solved = sp.solve(fits, i)  # i <= (n + 2p - d(k-1) - 1)/s
    bound = solved.rhs if solved.lhs == i else solved.lhs
    i_max = sp.floor(bound)  # i is an integer: the largest valid i
    count = i_max + 1  # i = 0, 1, ..., i_max
    closed = output_size(n, k, s, p, d)
    symbolic_equal = sp.expand(count - closed, deep=True) == 0

    # the loop, against the formula, over a grid (including windows that do not fit)
    mismatches = []
    checked = 0
    for nn, kk, ss, pp, dd in itertools.product(range(1, 13), range(1, 6), range(1, 5),
                                                range(0, 3), range(1, 4)):
        counted = count_positions(nn, kk, ss, pp, dd)
        formula = output_size(nn, kk, ss, pp, dd)
        values = {n: nn, k: kk, s: ss, p: pp, d: dd}
        from_expr = int(count.xreplace({key: sp.Integer(v) for key, v in values.items()}))
        checked += 1
        if counted != max(0, formula) or from_expr != formula:
            mismatches.append((nn, kk, ss, pp, dd, counted, formula))
    fits_cases = [c for c in itertools.product(range(1, 13), range(1, 6), range(1, 5),
                                               range(0, 3), range(1, 4))
                  if c[0] + 2 * c[3] >= c[4] * (c[1] - 1) + 1]
    return Item(
        topic="shapes", name="output_size_by_counting",
        statement="A window of k taps (dilation d) slid with stride s over n cells padded by "
                  "p on each side has floor((n + 2p − d(k−1) − 1)/s) + 1 positions.",
        derivation=(
            "The window starting at s·i covers s·i .. s·i + d(k−1); it is valid while "
            f"${sp.latex(fits)}$. SymPy solves this for i: ${sp.latex(solved)}$; i is an "
            f"integer, so the largest valid i is ${sp.latex(i_max)}$ and the count of "
            f"i = 0..i_max is ${sp.latex(count)}$. expand(count − closed form) "
            f"{'= 0' if symbolic_equal else '≠ 0'}. A literal loop counting positions agrees "
            "with the formula on "
            f"{checked} grid points (n ≤ 12, k ≤ 5, s ≤ 4, p ≤ 2, d ≤ 3); when the window "
            "does not fit (n + 2p < d(k−1) + 1) the count is 0 = max(0, formula)."),
        result=count,
        engine=closed,
        passed=bool(symbolic_equal and not mismatches),
        details={"grid_points": checked, "grid_points_where_window_fits": len(fits_cases),
                 "mismatches": mismatches[:10], "largest_valid_i": str(i_max)},
    )


def _grid() -> list[tuple[int, int, int, int, int]]:
    """(n, k, s, p, d) with a window that fits; small enough to run in well under a second."""
    cases = []
    for n, k, s, p, d in itertools.product((1, 2, 5, 8), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2),
                                           (1, 2)):
        if n + 2 * p >= d * (k - 1) + 1:
            cases.append((n, k, s, p, d))
    return cases


@item("shapes")
def conv_output_size_engine() -> Item:
    """F.conv2d's output shape equals the formula over a grid of n, k, s, p, d."""
    import tinygrad_cnn.nn.functional as F

    cases = _grid()
    mismatches = []
    for n, k, s, p, d in cases:
        # a non-square input with different settings per axis exercises both axes
        m, k2, s2, p2, d2 = n + 1, max(1, k - 1), (s % 3) + 1, (p + 1) % 3, d
        if m + 2 * p2 < d2 * (k2 - 1) + 1:
            continue
        x = _zeros(1, 2, n, m)
        w = _zeros(3, 2, k, k2)
        out = F.conv2d(x, w, stride=(s, s2), padding=(p, p2), dilation=(d, d2)).shape
        want = (1, 3, output_size(n, k, s, p, d), output_size(m, k2, s2, p2, d2))
        if tuple(out) != want:
            mismatches.append({"case": (n, k, s, p, d), "engine": tuple(out), "formula": want})
        out1 = F.conv1d(_zeros(1, 2, n), _zeros(3, 2, k), stride=s, padding=p, dilation=d).shape
        if tuple(out1) != (1, 3, want[2]):
            mismatches.append({"case": (n, k, s, p, d), "conv1d": tuple(out1),
                               "formula": want[2]})
    return Item(
        topic="shapes", name="conv_output_size_engine",
        statement="The engine's conv2d output has floor((n + 2p − d(k−1) − 1)/s) + 1 rows "
                  "and columns (conv1d that many positions), for every stride, padding and "
                  "dilation.",
        derivation=f"conv2d on zero inputs of every (n, k, s, p, d) in a grid of {len(cases)} "
                   "cases (height and width with different settings), and conv1d on the "
                   "height's settings; shapes compared with output_size.",
        result=f"{len(cases)} shapes from the formula",
        engine=f"{len(cases) - len(mismatches)} equal",
        passed=not mismatches,
        details={"cases": len(cases), "mismatches": mismatches[:10]},
    )


@item("shapes")
def pool_output_size_engine() -> Item:
    """max_pool2d / avg_pool2d shapes: the same formula, stride defaulting to the kernel."""
    import tinygrad_cnn.nn.functional as F

    sp, n, k, s, p, d = _symbols()
    default = output_size(n, k, k, p, d)  # stride = kernel
    m = sp.Symbol("m", integer=True, positive=True)
    no_overlap = sp.simplify(output_size(k * m, k, k, 0, 1))  # k·m cells -> m windows
    mismatches = []
    checked = 0
    for nn, kk, ss, pp, dd in itertools.product((2, 5, 7, 8), (1, 2, 3), (None, 1, 2, 3),
                                                (0, 1), (1, 2)):
        if 2 * pp > kk or nn + 2 * pp < dd * (kk - 1) + 1:
            continue  # PyTorch's rule: padding at most half the kernel
        stride = kk if ss is None else ss
        want = output_size(nn, kk, stride, pp, dd)
        x = _zeros(1, 1, nn, nn)
        got_max = F.max_pool2d(x, kk, stride=ss, padding=pp, dilation=dd).shape[2:]
        got_avg = F.avg_pool2d(x, kk, stride=ss, padding=pp).shape[2:] if dd == 1 else None
        checked += 1
        if tuple(got_max) != (want, want) or (got_avg is not None
                                              and tuple(got_avg) != (want, want)):
            mismatches.append({"case": (nn, kk, ss, pp, dd), "formula": want,
                               "max_pool2d": tuple(got_max),
                               "avg_pool2d": None if got_avg is None else tuple(got_avg)})
    return Item(
        topic="shapes", name="pool_output_size_engine",
        statement="Pooling windows obey the same count; with the default stride = kernel a "
                  "k·m-cell axis gives m windows.",
        derivation=(f"With s = k the formula is ${sp.latex(default)}$; for n = k·m, p = 0, "
                    f"d = 1 SymPy simplifies it to ${sp.latex(no_overlap)}$ (asserted equal "
                    "to m). Checked against "
                    f"max_pool2d and avg_pool2d on {checked} cases (stride None, 1, 2, 3)."),
        result=no_overlap,
        engine=f"{checked - len(mismatches)} of {checked} shapes equal",
        passed=not mismatches and sp.expand(no_overlap - m) == 0,
        details={"cases": checked, "mismatches": mismatches[:10]},
    )


@item("shapes")
def same_padding() -> Item:
    """'same' padding: total d(k−1) at stride 1, split left = total//2, right = the rest."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    _, n, k, _, _, d = _symbols()
    total = sp.Symbol("P", integer=True, nonnegative=True)
    # output size with total padding P (both sides together) at stride 1
    size = sp.floor((n + total - d * (k - 1) - 1) / 1) + 1
    solutions = sp.solve(sp.Eq(size, n), total)
    derived_total = solutions[0] if len(solutions) == 1 else None

    rows = []
    ok = derived_total is not None and sp.expand(derived_total - d * (k - 1)) == 0
    for kk, dd in itertools.product(range(1, 7), (1, 2, 3)):
        t = int(derived_total.subs({k: kk, d: dd}))
        left, right = t // 2, t - t // 2
        nn = 9  # more rows than the largest left padding (7, for k = 6, d = 3)
        x = Tensor(np.ones((1, 1, nn, nn + 2), dtype=np.float32))
        w = np.zeros((1, 1, kk, kk), dtype=np.float32)
        w[0, 0, 0, 0] = 1.0  # a delta at the first tap: out[i] = x_pad[i]
        out = F.conv2d(x, Tensor(w), padding="same", dilation=dd).numpy()[0, 0]
        # leading zero rows / columns of the output = padding added before
        left_rows = int(np.argmax(out[:, -1] != 0)) if out[:, -1].any() else -1
        left_cols = int(np.argmax(out[-1, :] != 0)) if out[-1, :].any() else -1
        good = out.shape == (nn, nn + 2) and left_rows == left and left_cols == left
        ok = ok and good
        rows.append({"k": kk, "d": dd, "total": t, "left": left, "right": right,
                     "engine_shape": out.shape, "engine_left": (left_rows, left_cols),
                     "ok": good})
    return Item(
        topic="shapes", name="same_padding",
        statement="'same' padding at stride 1 adds d(k−1) zeros in total; PyTorch puts "
                  "total//2 before and the rest after (the extra one after, for even k).",
        derivation=(f"Solve ${sp.latex(sp.Eq(size, n))}$ for the total padding P: "
                    f"P = ${sp.latex(derived_total)}$. Split: left = P//2, right = P − left. "
                    "The engine's conv2d(padding='same') keeps a 9x11 input at 9x11 for "
                    "k = 1..6, d = 1..3, and a delta kernel shows the number of zero rows "
                    "and columns it put before the input."),
        result=derived_total,
        engine=[(r["k"], r["d"], r["engine_left"]) for r in rows],
        passed=bool(ok),
        details={"rows": rows},
    )


#: (description, document, input (C, H, W), filters, kernel, stride, what is printed of the
#: output (H, W[, C]) with its quote, or None when the document prints no output size)
_DOCUMENT_SIZES: tuple[tuple[str, str, tuple[int, int, int], int, int, int,
                             Printed | None], ...] = (
    ("5x5 input, 3x3 filter", "seed 001", (1, 5, 5), 1, 3, 1, None),
    ("7x7 input, 3x3 filter, stride 2", "seed 001", (1, 7, 7), 1, 3, 2,
     printed((3, 3), "seed 001", "Strides Stride=2 3×3 3 × 3 7 × 7",
             "'Strides' (7 × 7 input, 3×3 filter, stride 2: a 3 × 3 output)")),
    ("6x6 image, 3x3 filter, stride 1", "seed 003", (1, 6, 6), 1, 3, 1,
     printed((4, 4), "seed 003", "Two 4 x 4 images Forming 2 x 4 x 4 matrix",
             "'Repeat this for each filter' (one 4 x 4 image per filter)")),
    ("6x6 image, 3x3 filter, stride 2", "seed 003", (1, 6, 6), 1, 3, 2, None),
    ("7x7 image, 3x3 feature detector", "seed 004", (1, 7, 7), 1, 3, 1,
     SEED_004_QUOTES[-1]),  # the printed feature map: its size is counted, 5 rows of 5
    ("32x32x3 image, one 5x5x3 filter", "seed 002", (3, 32, 32), 1, 5, 1, None),
    ("32x32x3 image, six 5x5x3 filters", "seed 002", (3, 32, 32), 6, 5, 1,
     printed((28, 28, 6), "seed 002", "we'll get 6 separate activation maps: We stack these "
             "up to get a “new image” of size 28x28x6!", "'Convolutional Layer'")),
    ("6x6x3 volume, one 3x3x3 filter", "seed 001", (3, 6, 6), 1, 3, 1,
     printed((4, 4, 1), "seed 001", "6x6x3 ng: # of -filters = 2 4×4×1",
             "'Conv over volume' (each filter's map)")),
    ("6x6x3 volume, two 3x3x3 filters", "seed 001", (3, 6, 6), 2, 3, 1, None),
)


@item("shapes")
def document_sizes() -> Item:
    """Every input/filter/output size the course documents mention, through the engine."""
    rows, derived_rows = [], []
    ok = True
    errata: list[Erratum] = []
    quotes = []
    for desc, seed, (c, h, w), filters, kernel, stride, shown in _DOCUMENT_SIZES:
        derived = (output_size(h, kernel, stride), output_size(w, kernel, stride), filters)
        shape = _conv_shape((h, w), kernel, stride, in_channels=c, filters=filters)
        engine = (shape[2], shape[3], shape[1])
        good = derived == engine
        ok = ok and good
        row = {"case": desc, "source": seed, "derived": derived, "engine": engine, "ok": good}
        if shown is None:
            derived_rows.append(row | {"label": "derived: the document prints no output "
                                                "size for this case"})
            continue
        quotes.append(shown)
        size = shown.value if isinstance(shown.value, tuple) else np.shape(shown.value)
        size = tuple(int(v) for v in size)  # a printed map gives its size by its rows
        compare_printed(errata, Printed(size, shown.document, shown.quote), derived[:len(size)],
                        f"output size, {desc}")
        rows.append(row | {"printed": size, "derived": derived[:len(size)],
                           "engine": engine[:len(size)],
                           "quote": " ".join(shown.quote.split()), "label": "printed"})
    return Item(
        topic="shapes", name="document_sizes",
        statement="The sizes the documents print: 7x7 with a 3x3 filter at stride 2 -> 3x3 "
                  "(seed 001); 6x6 with a 3x3 filter -> 4x4 (seed 003); 7x7 with a 3x3 "
                  "feature detector -> 5x5 (seed 004); 32x32x3 with six 5x5x3 filters -> "
                  "28x28x6 (seed 002); 6x6x3 with a 3x3x3 filter -> 4x4x1 (seed 001). "
                  "Derived, not printed: 5x5*3x3 -> 3x3 (seed 001's worked example); 6x6*3x3 "
                  "at stride 2 -> 2x2; one 5x5x3 filter -> 28x28x1; two 3x3x3 filters -> 4x4x2.",
        derivation="Height and width from output_size(n, k, s); depth = number of filters "
                   "(each filter spans every input channel and gives one map). Each printed "
                   "size is compared with the derived one (a difference fails unless it is a "
                   "known erratum); the engine runs conv2d on each input.",
        result=[r["derived"] for r in rows + derived_rows],
        engine=[r["engine"] for r in rows + derived_rows],
        passed=ok,
        source="seeds 001-004",
        errata=errata, quotes=quotes,
        details={"rows": rows, "derived rows": derived_rows},
    )


#: seed 001's volume formula, as printed (the extraction keeps it legible but garbled)
SEED001_VOLUME = printed(r"n_{-}(f-1) \times n_{-}(f-1) \times n_{f}", "seed 001",
                         r"$f \times f \times n_{\iota} \rightarrow n_{-}(f-1) \times "
                         r"n_{-}(f-1) \times n_{f}$", "'Conv over volume'")


@item("shapes")
def volume_formula() -> Item:
    """Seed 001: n×n×n_c * f×f×n_c -> (n−f+1)×(n−f+1)×n_f."""
    import sympy as sp

    n, f, nc, nf = sp.symbols("n f n_c n_f", integer=True, positive=True)
    side = output_size(n, f)  # stride 1, no padding: the floor of an integer vanishes
    derived = sp.simplify(side)
    as_printed = n - (f - 1)  # "n_{-}(f-1)": n − (f − 1)
    ok = sp.expand(derived - as_printed) == 0
    checks = []
    for nn, ff, cc, kk in ((6, 3, 3, 2), (5, 1, 2, 4), (8, 5, 1, 3), (4, 4, 3, 1)):
        shape = _conv_shape((nn, nn), ff, in_channels=cc, filters=kk)
        want = tuple(int(v) for v in (derived.subs({n: nn, f: ff}),
                                      derived.subs({n: nn, f: ff}), kk))
        got = (shape[2], shape[3], shape[1])
        checks.append({"n": nn, "f": ff, "n_c": cc, "n_f": kk, "formula": want, "engine": got})
        ok = ok and got == want
    side_text = f"({sp.latex(derived)})"
    return Item(
        topic="shapes", name="volume_formula",
        statement="An n×n×n_c volume convolved with n_f filters of f×f×n_c (stride 1, no "
                  "padding) gives (n−f+1)×(n−f+1)×n_f; seed 001 prints the side as n − (f−1).",
        derivation=f"output_size(n, f) at stride 1, no padding: for integers n and f the "
                   f"floor of an integer is itself, and SymPy gives ${sp.latex(derived)}$, "
                   f"which expands to the printed n − (f − 1); each filter sums over all n_c "
                   f"channels into one map, so the volume is ${side_text} \\times {side_text}"
                   f" \\times n_{{f}}$. The engine's conv2d shapes on four volumes are "
                   "compared with the formula evaluated there.",
        result=(derived, derived, nf),
        engine=checks,
        passed=bool(ok),
        source="seed 001",
        quotes=[SEED001_VOLUME],
        details={"checks": checks, "printed": SEED001_VOLUME.value,
                 "volume (latex)": f"{side_text} \\times {side_text} \\times n_{{f}}"},
    )


#: seed 003's Keras example, what it prints: the input, the first layer, the flatten size
KERAS_INPUT = printed((28, 28, 1), "seed 003", r"Input\_shape = (28, 28, 1)", "'CNN in Keras'")
KERAS_FILTERS_1 = printed((25, 3, 3), "seed 003", "25 3x3", "'There are 25 3x3 filters.'")
KERAS_MAPS_1 = printed((25, 26, 26), "seed 003", "Convolution 25 × 26 x 26", "'CNN in Keras'")
KERAS_FLATTEN = printed(1250, "seed 003", "feedforward network 1250", "'CNN in Keras'")


@item("shapes")
def keras_chain() -> Item:
    """Seed 003: 28 -> conv 3x3 (25) -> 26 -> pool 2 -> 13 -> conv 3x3 -> 11 -> pool -> 5."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    n = sp.Symbol("n", integer=True, positive=True)
    k1 = KERAS_FILTERS_1.value[1]  # printed: 3x3
    k2 = 3  # reconstructed: not printed in seed 003 (the original lecture's 3x3)
    a = output_size(n, k1)  # conv 3x3
    b = output_size(a, 2, 2)  # max-pool 2
    c = output_size(b, k2)  # conv 3x3
    e = output_size(c, 2, 2)  # max-pool 2
    chain = [sp.simplify(expr) for expr in (n, a, b, c, e)]
    derived = [int(expr.subs(n, KERAS_INPUT.value[0])) for expr in chain]
    # the second layer's number of filters is not printed: solve n_f·5·5 = the printed 1250
    nf = sp.Symbol("n_f", integer=True, positive=True)
    solved = sp.solve(sp.Eq(nf * derived[-1] ** 2, KERAS_FLATTEN.value), nf)
    filters2 = int(solved[0]) if len(solved) == 1 else None
    errata: list[Erratum] = []
    compare_printed(errata, KERAS_MAPS_1, (KERAS_FILTERS_1.value[0], derived[1], derived[1]),
                    "first convolution's maps")

    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((1, 1, 28, 28)).astype(np.float32))
    w1 = Tensor(rng.standard_normal((KERAS_FILTERS_1.value[0], 1, k1, k1)).astype(np.float32))
    w2 = Tensor(rng.standard_normal((filters2 or 1, KERAS_FILTERS_1.value[0], k2, k2))
                .astype(np.float32))
    shapes = [x.shape]
    y = F.conv2d(x, w1)
    shapes.append(y.shape)
    y = F.max_pool2d(y, 2)
    shapes.append(y.shape)
    y = F.conv2d(y, w2)
    shapes.append(y.shape)
    y = F.max_pool2d(y, 2)
    shapes.append(y.shape)
    flat_engine = F.flatten(y, 1).shape
    engine = [s[-1] for s in shapes]
    # the spatial sizes and the flatten length are the engine's; the channel counts are the
    # weights' own shapes (set here), so they are not compared
    ok = (derived == engine and filters2 == 50 and flat_engine == (1, KERAS_FLATTEN.value))
    return Item(
        topic="shapes", name="keras_chain",
        statement="1x28x28 -> conv 25 filters 3x3 -> 25x26x26 -> max-pool 2 -> 25x13x13 -> "
                  "conv 3x3 -> 11x11 -> max-pool 2 -> 5x5 -> flatten 1250, so the second "
                  "convolution has 1250/(5·5) = 50 filters. Printed in seed 003: the 28x28x1 "
                  "input, 25 filters of 3x3, 25 x 26 x 26 and 1250; derived: 13, 11, 5 and the "
                  "50 filters; reconstructed (not printed): the second kernel's 3x3.",
        derivation="Composing output_size: " + " -> ".join(f"${sp.latex(x)}$" for x in chain)
                   + f"; at n = 28: {derived}. Solving n_f·{derived[-1]}² = 1250 gives n_f = "
                   f"{filters2}. The engine runs the chain (random weights, float32).",
        result={"sizes": derived, "flatten": KERAS_FLATTEN.value, "filters_2": filters2},
        engine={"shapes": [tuple(s) for s in shapes], "flatten": tuple(flat_engine)},
        passed=bool(ok),
        source="seed 003 (CNN in Keras)",
        errata=errata,
        quotes=[KERAS_INPUT, KERAS_FILTERS_1, KERAS_MAPS_1, KERAS_FLATTEN],
        details={"printed": {"input": KERAS_INPUT.value, "conv1 filters": KERAS_FILTERS_1.value,
                             "conv1 maps": KERAS_MAPS_1.value, "flatten": KERAS_FLATTEN.value},
                 "printed_flatten": KERAS_FLATTEN.value,
                 "derived": {"sizes 13, 11, 5": derived[2:], "filters_2": filters2},
                 "reconstructed": {"second kernel": "3x3 (not printed in seed 003)"}},
    )


@item("shapes")
def alphago_padding() -> Item:
    """Seed 003: AlphaGo's policy network keeps the 19x19 board with zero padding."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    p = sp.Symbol("p", integer=True, nonnegative=True)
    pads = {}
    for kernel in (5, 3):
        sol = sp.solve(sp.Eq(output_size(19, kernel, 1, p), 19), p)
        pads[kernel] = int(sol[0]) if len(sol) == 1 else None
    ok = pads == {5: 2, 3: 1}
    # Silver et al. 2016: 48 input planes, k = 192 filters; layer 1 is 5x5, layers 2-12 3x3.
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((1, 48, 19, 19)).astype(np.float32))
    shapes = []
    y = F.relu(F.conv2d(x, Tensor(rng.standard_normal((192, 48, 5, 5)).astype(np.float32)),
                        padding=pads[5] or 0))
    shapes.append(tuple(y.shape))
    w3 = Tensor(rng.standard_normal((192, 192, 3, 3)).astype(np.float32))
    for _ in range(2):  # two of the eleven 3x3 layers are enough to show the size holds
        y = F.relu(F.conv2d(y, w3, padding=pads[3] or 0))
        shapes.append(tuple(y.shape))
    ok = ok and all(s[2:] == (19, 19) for s in shapes)
    padded = {k: 19 + 2 * v for k, v in pads.items() if v is not None}
    return Item(
        topic="shapes", name="alphago_padding",
        statement="Zero padding 2 for 5x5 filters and 1 for 3x3 filters keeps the 19x19 board "
                  "at 19x19 (padded to 23x23 and 21x21).",
        derivation="Solve output_size(19, k, 1, p) = 19 for p: "
                    + ", ".join(f"k = {k}: p = {v}" for k, v in pads.items())
                    + f"; padded sizes {padded}.",
        result=pads,
        engine=shapes,
        passed=bool(ok),
        source="seed 003 (AlphaGo's policy network, Silver et al. 2016)",
        details={"padded": padded},
    )
