"""The rules of the layers, value by value: ReLU, tanh', softmax, log-softmax, the loss, pooling.

The gradients topic checks every derivative of the primitive table symbolically; these
items check the *values* and conventions of the composed functions a student writes
(and gets wrong): relu'(0) = 0; tanh' = 1 − tanh²; softmax and log-softmax equal SymPy's
exact values on rational logits and stay finite and correct at logits of ±1e4 (where the
max shift is what keeps exp from overflowing); the cross-entropy loss value; the maximum
and the average of each pooling window, with the average's divisor (k² counting the
padding, or the number of real cells).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, Value

from .core import Item, item
from .gradients import _exact_equal_exp, _windows

TOPIC = "rules"
x_ = sp.Symbol("x", real=True)


def _rat(z: Any) -> sp.Rational:
    if isinstance(z, Fraction):
        return sp.Rational(z.numerator, z.denominator)
    if isinstance(z, (float, np.floating)):
        return sp.Rational(*float(z).as_integer_ratio())
    return sp.Rational(z)


# ------------------------------------------------------------------------------- ReLU


@item(TOPIC)
def relu() -> Item:
    """ReLU(x) = max(0, x); relu'(x) = 1 for x > 0, 0 for x < 0, and 0 at 0 (convention)."""
    # exact in binary, so the float runs compare exactly too
    points = [Fraction(-3), Fraction(-1, 2), Fraction(0), Fraction(1, 4), Fraction(2)]
    forward = [sp.Max(0, _rat(p)) for p in points]
    derivative = sp.diff(sp.Max(0, x_), x_)  # Heaviside(x): x = 0 is left to a convention
    slopes = [derivative.subs(x_, _rat(p)) for p in points]
    convention = [s if p != 0 else sp.Integer(0) for p, s in zip(points, slopes, strict=True)]
    engine: dict[str, Any] = {}
    # Tensor, exact (Fractions), float64 and float32
    for label, data in (("exact", np.array(points, dtype=object)),
                        ("float64", np.array([float(p) for p in points])),
                        ("float32", np.array([float(p) for p in points], dtype=np.float32))):
        t = Tensor(data, requires_grad=True)
        y = F.relu(t)
        ones = np.ones(len(points), dtype=data.dtype) if label != "exact" else \
            np.array([Fraction(1)] * len(points), dtype=object)
        y.backward(ones)
        engine[label] = {"values": [_rat(v) for v in y.numpy()],
                         "slopes": [_rat(g) for g in t.grad.numpy()]}
    # the scalar engine
    vals, grads = [], []
    for p in points:
        v = Value(p)
        out = v.relu()
        out.backward()
        vals.append(_rat(out.data))
        grads.append(_rat(v.grad))
    engine["Value"] = {"values": vals, "slopes": grads}
    sub = {k: e["values"] == forward and e["slopes"] == convention for k, e in engine.items()}
    return Item(
        TOPIC, "relu",
        "ReLU(x) = max(0, x), and its derivative is 1 for x > 0, 0 for x < 0 and, by "
        "convention (PyTorch's), 0 at x = 0.",
        f"sympy.diff(Max(0, x), x) = {derivative}; at {[str(p) for p in points]} it is "
        f"{[str(s) for s in slopes]} (SymPy's Heaviside(0) = 1/2 is why 0 needs a convention: "
        "0). Engine: F.relu / Tensor.relu backward on Fractions, float64, float32, and "
        "Value.relu.",
        {"values": [str(v) for v in forward], "slopes": [str(s) for s in convention]},
        {k: {"values": [str(v) for v in e["values"]], "slopes": [str(s) for s in e["slopes"]]}
         for k, e in engine.items()},
        all(sub.values()),
        source="seed 004 (Step 1(b) - ReLU Layer)",
        details={"agrees": sub})


# ------------------------------------------------------------------------------- tanh


@item(TOPIC)
def tanh_derivative() -> Item:
    """tanh'(x) = 1 − tanh²(x): the engine's gradient, exactly and in float64."""
    derivative = sp.diff(sp.tanh(x_), x_)
    points = [sp.Rational(-3, 2), sp.Integer(0), sp.Rational(1, 2), sp.Integer(2)]
    expected = [derivative.subs(x_, p) for p in points]
    t = Tensor(np.array(points, dtype=object), requires_grad=True)
    t.tanh().backward(np.array([sp.Integer(1)] * len(points), dtype=object))
    exact_ok = all(sp.simplify(sp.sympify(g) - e) == 0 for g, e in
                   zip(t.grad.numpy(), expected, strict=True))
    # float64 against sech²(x) = 1/cosh²(x), a formula the engine does not use
    xf = np.linspace(-4, 4, 17)
    tf = Tensor(xf, requires_grad=True)
    tf.tanh().backward(np.ones_like(xf))
    err = float(np.max(np.abs(tf.grad.numpy() - 1 / np.cosh(xf) ** 2)))
    v = Value(sp.Rational(1, 2))
    v.tanh().backward()
    value_ok = sp.simplify(sp.sympify(v.grad) - expected[2]) == 0
    return Item(
        TOPIC, "tanh_derivative",
        "The derivative of tanh is 1 − tanh².",
        f"sympy.diff(tanh(x), x) = {derivative}; engine: Tensor.tanh backward on SymPy "
        "rationals (simplify(engine − SymPy) = 0), Value.tanh, and float64 against "
        "1/cosh²(x) on 17 points of [−4, 4].",
        [str(e) for e in expected], [str(g) for g in t.grad.numpy()],
        bool(exact_ok and value_ok and err < 1e-15),
        source="LeCun et al. 1998 (LeNet's squashing function; seed 004's reading)",
        details={"float64 max abs error vs 1/cosh²": err, "exact": bool(exact_ok),
                 "Value": bool(value_ok)})


# ------------------------------------------------------------------- softmax and the loss

#: small rational logits (exact checks) and logits of ±1e4 (stability checks)
RATIONAL_LOGITS = [[sp.Integer(1), sp.Rational(1, 2), sp.Integer(-1)],
                   [sp.Integer(0), sp.Integer(2), sp.Rational(1, 3)]]
LARGE_LOGITS = [[1e4, -1e4, 0.0], [1e4, 1e4 - 1, -1e4], [-1e4, -1e4 + 2, -1e4 + 1]]


def _sympy_softmax(row: list[Any]) -> list[Any]:
    total = sp.Add(*[sp.exp(z) for z in row])
    return [sp.exp(z) / total for z in row]


def _sympy_log_softmax(row: list[Any]) -> list[Any]:
    total = sp.log(sp.Add(*[sp.exp(z) for z in row]))
    return [z - total for z in row]


def _sympy_log_softmax_shifted(row: list[Any]) -> list[Any]:
    """The same exact values, written z − m − log Σ e^(z−m) so that sympy.N needs no
    cancellation of 10^4-sized terms (SymPy's N loses the tiny values otherwise)."""
    m = max(row)
    total = sp.log(sp.Add(*[sp.exp(z - m) for z in row]))
    return [z - m - total for z in row]


def _high_precision(fn: Any, logits: list[list[float]]) -> np.ndarray:
    """``fn`` on the exact (binary) values of float logits, evaluated to 40 digits."""
    rows = [fn([_rat(z) for z in row]) for row in logits]
    return np.array([[float(sp.N(v, 40)) for v in row] for row in rows])


def _stable(fn: Any, reference: np.ndarray, rtol64: float, rtol32: float,
            atol: float = 0.0) -> dict[str, Any]:
    """``fn`` at logits of ±1e4 in float64 and float32 against the 40-digit reference.

    ``atol`` (float64; float32 uses 1e6 times it) covers the values ~0 next to values of
    size 1; a lost max shift gives inf or NaN, far outside any tolerance.
    """
    out = {}
    for dtype, rtol in ((np.float64, rtol64), (np.float32, rtol32)):
        atol = atol if dtype == np.float64 else atol * 1e6
        got = fn(Tensor(np.array(LARGE_LOGITS, dtype=dtype))).numpy().astype(np.float64)
        finite = bool(np.isfinite(got).all())
        err = float(np.max(np.abs(got - reference))) if finite else float("inf")
        out[np.dtype(dtype).name] = {"finite": finite, "max_abs_error": err,
                                     "ok": finite and bool(np.allclose(got, reference,
                                                                       rtol=rtol, atol=atol))}
    return out


@item(TOPIC)
def softmax_values() -> Item:
    """softmax(z)_i = e^{z_i}/Σ_j e^{z_j}: exact on rational logits, correct at ±1e4."""
    x = Tensor(np.array(RATIONAL_LOGITS, dtype=object))
    got = F.softmax(x, axis=1).numpy()
    expected = [_sympy_softmax(row) for row in RATIONAL_LOGITS]
    exact_ok = all(_exact_equal_exp(sp.sympify(g), e) for g_row, e_row in
                   zip(got, expected, strict=True) for g, e in zip(g_row, e_row, strict=True))
    sums_ok = all(_exact_equal_exp(sp.Add(*[sp.sympify(g) for g in row]), sp.Integer(1))
                  for row in got)
    reference = _high_precision(_sympy_softmax, LARGE_LOGITS)
    stable = _stable(lambda t: F.softmax(t, axis=1), reference, 1e-12, 1e-5, atol=1e-15)
    return Item(
        TOPIC, "softmax_values",
        "softmax(z)_i = e^{z_i} / Σ_j e^{z_j}: the engine's values are SymPy's exactly on "
        "rational logits, each row sums to 1, and logits of ±1e4 give the right finite "
        "probabilities (0, 1 and e^{−1}/(1 + e^{−1}), not NaN).",
        "SymPy: exp(z_i)/Σ exp(z_j) on the logits "
        f"{[[str(z) for z in r] for r in RATIONAL_LOGITS]}; F.softmax on the same SymPy "
        "numbers, compared exactly (exp(r) = t^(rD), the difference cancels as a rational "
        f"function of t). At {LARGE_LOGITS}: SymPy to 40 digits vs F.softmax in float64 "
        "(rtol 1e-12) and float32 (rtol 1e-5).",
        [[str(v) for v in row] for row in expected],
        {"exact": [[str(v) for v in row] for row in got], "at ±1e4": stable},
        bool(exact_ok and sums_ok and all(s["ok"] for s in stable.values())),
        source="seed 004 (Softmax & Cross-Entropy)",
        details={"exact equal": bool(exact_ok), "rows sum to 1": bool(sums_ok),
                 "reference at ±1e4": reference.tolist()})


@item(TOPIC)
def log_softmax_value() -> Item:
    """log_softmax(z)_i = z_i − log Σ_j e^{z_j}: exact, and finite and correct at ±1e4."""
    x = Tensor(np.array(RATIONAL_LOGITS, dtype=object))
    got = F.log_softmax(x, axis=1).numpy()
    expected = [_sympy_log_softmax(row) for row in RATIONAL_LOGITS]
    # exact: equal logarithms have equal exponentials, which are rational functions of e^(1/D)
    exact_ok = all(_exact_equal_exp(sp.exp(sp.sympify(g)), sp.exp(e)) for g_row, e_row in
                   zip(got, expected, strict=True) for g, e in zip(g_row, e_row, strict=True))
    reference = _high_precision(_sympy_log_softmax_shifted, LARGE_LOGITS)
    stable = _stable(lambda t: F.log_softmax(t, axis=1), reference, 1e-12, 1e-6, atol=1e-12)
    return Item(
        TOPIC, "log_softmax_value",
        "log_softmax(z)_i = z_i − log Σ_j e^{z_j}: exact on rational logits; at logits of "
        "±1e4 it is finite and correct (computed as z − m − log Σ e^{z−m} with m = max z; "
        "without the shift e^{1e4} overflows to inf and the value is −inf or NaN).",
        "SymPy: z_i − log Σ exp(z_j). Exactly: exp(engine) and exp(SymPy) are rational "
        "functions of t = e^(1/D) and their difference cancels. At ±1e4: SymPy to 40 digits "
        "vs F.log_softmax in float64 (rtol 1e-12) and float32 (rtol 1e-6).",
        [[str(v) for v in row] for row in expected],
        {"exact": [[str(v) for v in row] for row in got], "at ±1e4": stable},
        bool(exact_ok and all(s["ok"] for s in stable.values())),
        source="seed 004 (Softmax & Cross-Entropy)",
        details={"exact equal": bool(exact_ok), "reference at ±1e4": reference.tolist()})


@item(TOPIC)
def cross_entropy_value() -> Item:
    """The loss value −(1/N) Σ_n log softmax(z_n)_{t_n}: exact, and correct at ±1e4."""
    labels = np.array([0, 2])
    n = len(labels)
    x = Tensor(np.array(RATIONAL_LOGITS, dtype=object))
    loss = sp.sympify(F.cross_entropy(x, labels).numpy()[()])
    # exp(−N·L) = Π_n p_{n, t_n}: a rational function of e^(1/D)
    product = sp.Mul(*[_sympy_softmax(row)[t] for row, t in zip(RATIONAL_LOGITS, labels,
                                                                 strict=True)])
    exact_ok = _exact_equal_exp(sp.exp(-n * loss), product)
    symbolic = -sp.Rational(1, n) * sp.Add(*[_sympy_log_softmax(row)[t] for row, t in
                                             zip(RATIONAL_LOGITS, labels, strict=True)])
    digits_ok = abs(sp.N(loss - symbolic, 50)) < sp.Float("1e-45")
    # probability targets and both reductions at ±1e4, float64 and float32
    big_labels = np.array([0, 1, 1])
    probs = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.125, 0.375, 0.5]])
    ref_rows = [_sympy_log_softmax_shifted([_rat(z) for z in row]) for row in LARGE_LOGITS]
    ref_index = float(sp.N(-sp.Add(*[r[t] for r, t in zip(ref_rows, big_labels, strict=True)])
                           / 3, 40))
    ref_probs = float(sp.N(-sp.Add(*[_rat(p) * v for pr, r in zip(probs, ref_rows, strict=True)
                                     for p, v in zip(pr, r, strict=True)]), 40))
    stable = {}
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        z = np.array(LARGE_LOGITS, dtype=dtype)
        a = float(F.cross_entropy(Tensor(z), big_labels).numpy())
        b = float(F.cross_entropy(Tensor(z), probs.astype(dtype), reduction="sum").numpy())
        stable[np.dtype(dtype).name] = {"indices, mean": a, "probabilities, sum": b,
                                        "ok": bool(np.isclose(a, ref_index, rtol=rtol, atol=0)
                                                   and np.isclose(b, ref_probs, rtol=rtol,
                                                                  atol=0))}
    return Item(
        TOPIC, "cross_entropy_value",
        "The cross-entropy loss is L = −(1/N) Σ_n log softmax(z_n)_{t_n} (and −Σ y·log p "
        "for probability targets): the engine's value is SymPy's exactly on rational "
        "logits, and correct at logits of ±1e4.",
        f"SymPy: {symbolic}. Exactly: exp(−N·L_engine) equals Π_n p_(n, t_n), a rational "
        "function of e^(1/D) (and the difference is < 1e−45 at 50 digits). At ±1e4: SymPy "
        f"to 40 digits ({ref_index:.12g} for targets {big_labels.tolist()}, mean; "
        f"{ref_probs:.12g} for probability targets, sum) vs F.cross_entropy in float64 and "
        "float32.",
        symbolic, {"exact": str(loss), "at ±1e4": stable},
        bool(exact_ok and digits_ok and all(s["ok"] for s in stable.values())),
        source="seed 004 (Softmax & Cross-Entropy)",
        details={"exact equal": bool(exact_ok), "50 digits equal": bool(digits_ok)})


# ---------------------------------------------------------------------------- pooling


@item(TOPIC)
def pooling_forward() -> Item:
    """Max pooling takes each window's maximum; average pooling divides its sum by k²."""
    sub: dict[str, bool] = {}
    rng = np.random.default_rng(7)
    for h, k, s, pad in ((4, 2, 2, 0), (5, 3, 1, 0), (5, 3, 2, 1), (6, 2, 1, 1)):
        values = [[Fraction(int(v), 4) for v in row] for row in rng.integers(-9, 10, (h, h))]
        windows = _windows(h, k, s, pad)
        oh = int(round(len(windows) ** 0.5))
        exact = np.array(values, dtype=object).reshape(1, 1, h, h)
        # SymPy: Max over the window (padding is −inf for max: only real cells compete)
        want_max = [sp.Max(*[_rat(values[a][b]) for a, b in cells]) for cells in windows]
        # average: the sum over the real cells (padding adds 0) divided by k² ...
        want_avg = [sp.Add(*[_rat(values[a][b]) for a, b in cells]) / (k * k)
                    for cells in windows]
        # ... or, with count_include_pad=False, by the number of real cells
        want_avg_real = [sp.Add(*[_rat(values[a][b]) for a, b in cells]) / len(cells)
                         for cells in windows]
        label = f"k={k} s={s} p={pad} on {h}x{h}"
        for dtype in ("exact", "float64"):
            xx = exact if dtype == "exact" else exact.astype(np.float64)
            got_max = F.max_pool2d(Tensor(xx), k, stride=s, padding=pad).numpy().ravel()
            got_avg = F.avg_pool2d(Tensor(xx), k, stride=s, padding=pad).numpy().ravel()
            got_real = F.avg_pool2d(Tensor(xx), k, stride=s, padding=pad,
                                    count_include_pad=False).numpy().ravel()
            if dtype == "exact":
                same = [list(map(_rat, g)) == w for g, w in ((got_max, want_max),
                                                             (got_avg, want_avg),
                                                             (got_real, want_avg_real))]
            else:
                same = [bool(np.allclose(g, [float(v) for v in w], rtol=1e-14, atol=0))
                        for g, w in ((got_max, want_max), (got_avg, want_avg),
                                     (got_real, want_avg_real))]
            sub[f"max {label}, {dtype}"] = same[0] and len(got_max) == oh * oh
            sub[f"avg (divisor k²) {label}, {dtype}"] = same[1]
            sub[f"avg (divisor = real cells) {label}, {dtype}"] = same[2]
    # the divisor itself: a window of ones averages to exactly 1 (no padding)
    ones = F.avg_pool2d(Tensor(np.ones((1, 1, 6, 6))), 3).numpy()
    sub["avg of ones is 1 (divisor k² = 9)"] = bool(np.array_equal(ones, np.ones((1, 1, 2, 2))))
    return Item(
        TOPIC, "pooling_forward",
        "Max pooling outputs each window's maximum (padding never wins: it is −inf); "
        "average pooling outputs the window's sum divided by k² (padding counted as zeros, "
        "PyTorch's default) or by the number of real cells (count_include_pad=False).",
        "Windows listed by index (stride, padding); SymPy's Max and exact sums over them on "
        "random quarters in [−9/4, 9/4], against F.max_pool2d / F.avg_pool2d on Fractions (exact) "
        "and float64, for non-overlapping, overlapping and padded windows.",
        {"max": "Max(window)", "avg": "Σ window / k²", "avg, count_include_pad=False":
         "Σ window / #real cells"},
        sub, all(sub.values()),
        source="seed 001, seed 003 (Max Pooling); seed 002 (Weighted average)",
        details={"cases": len(sub)})

