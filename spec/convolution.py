"""Convolution, from the integral of seed 004 to the layer a CNN computes.

Seed 004 defines ``(f * g)(t) = ∫ f(τ) g(t − τ) dτ``. The items below compute that
integral with SymPy for a box with a box (a triangle), two Gaussians (the variances add)
and two one-sided exponentials; show commutativity and the shift property by a change of
variables; obtain the discrete sum ``(f * g)[n] = Σ_k f[k] g[n − k]`` by integrating
against Dirac deltas; and then check the engine: a CNN layer (``F.conv2d``) computes a
cross-correlation, so it equals the true convolution only once the kernel is flipped, and
seed 000's Gaussian linear filter (symmetric) comes out the same either way.

The helpers :func:`sympy_correlate2d` and :func:`sympy_convolve2d` are SymPy's exact sums
(``IndexedBase`` sums expanded with ``doit()`` and evaluated on exact numbers); the
documents' worked examples reuse them.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor

from .core import Item, item

TOPIC = "convolution"

t, tau, u, v = sp.symbols("t tau u v", real=True)


# ------------------------------------------------------------------ exact sums (SymPy)


@functools.cache
def _window_sum(kh: int, kw: int, flip: bool) -> tuple[sp.Expr, sp.IndexedBase,
                                                      sp.IndexedBase, sp.Symbol, sp.Symbol]:
    """Σ_{p,q} X[i ± p, j ± q]·K[p, q] as an explicit SymPy sum in the output index (i, j)."""
    x, k = sp.IndexedBase("X"), sp.IndexedBase("K")
    i, j, p, q = sp.symbols("i j p q", integer=True)
    term = x[i - p, j - q] * k[p, q] if flip else x[i + p, j + q] * k[p, q]
    expr = sp.Sum(term, (p, 0, kh - 1), (q, 0, kw - 1)).doit()
    return expr, x, k, i, j


def _sympy_sum2d(x: Any, k: Any, stride: int, flip: bool) -> sp.Matrix:
    x, k = np.asarray(x, dtype=object), np.asarray(k, dtype=object)
    (h, w), (kh, kw) = x.shape, k.shape
    expr, xb, kb, i, j = _window_sum(kh, kw, flip)
    values = {kb[a, b]: sp.nsimplify(k[a, b]) if isinstance(k[a, b], float)
              else sp.sympify(k[a, b]) for a in range(kh) for b in range(kw)}
    values.update({xb[a, b]: sp.sympify(x[a, b]) for a in range(h) for b in range(w)})
    if flip:  # true convolution, "valid" part: output index runs over [kh-1, h-1]
        rows = range(kh - 1, h, stride)
        cols = range(kw - 1, w, stride)
    else:
        rows = range(0, h - kh + 1, stride)
        cols = range(0, w - kw + 1, stride)
    return sp.Matrix([[expr.subs({i: r, j: c}).xreplace(values) for c in cols] for r in rows])


def sympy_correlate2d(x: Any, k: Any, stride: int = 1) -> sp.Matrix:
    """SymPy's exact cross-correlation ``Y[i, j] = Σ_{p,q} X[i·s + p, j·s + q]·K[p, q]``.

    Parameters
    ----------
    x, k : 2-D array-like of exact numbers (ints, Fractions, SymPy numbers)
    stride : int

    Returns
    -------
    sympy.Matrix, the "valid" output (no padding).
    """
    return _sympy_sum2d(x, k, stride, flip=False)


def sympy_convolve2d(x: Any, k: Any) -> sp.Matrix:
    """SymPy's exact true convolution ``Y[i, j] = Σ_{p,q} X[i − p, j − q]·K[p, q]`` (valid part).

    The output index runs over ``i ∈ [KH − 1, H − 1]``, ``j ∈ [KW − 1, W − 1]``, where every
    term of the sum exists (no padding); it is returned re-indexed from 0.
    """
    return _sympy_sum2d(x, k, 1, flip=True)


def as_fractions(a: Any) -> np.ndarray:
    """An object array of ``fractions.Fraction`` (exact input for the engine)."""
    a = np.asarray(a)
    return np.vectorize(lambda z: Fraction(str(z)) if isinstance(z, float) else Fraction(z),
                        otypes=[object])(a)


def engine_conv2d(x: Any, k: Any, stride: int = 1, padding: int = 0) -> np.ndarray:
    """``F.conv2d`` on one 2-D image and one 2-D kernel (N = C = O = 1); returns a 2-D array."""
    x, k = np.asarray(x), np.asarray(k)
    out = F.conv2d(Tensor(x.reshape(1, 1, *x.shape)), Tensor(k.reshape(1, 1, *k.shape)),
                   stride=stride, padding=padding)
    return out.numpy()[0, 0]


def engine_full_convolve1d(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The full discrete convolution ``Σ_k f[k] g[n − k]`` computed by ``F.conv1d``.

    ``conv1d`` is a cross-correlation, so the kernel ``g`` is flipped and the input is
    padded by ``len(g) − 1`` on both sides.
    """
    out = F.conv1d(Tensor(np.asarray(f).reshape(1, 1, -1)),
                   Tensor(np.ascontiguousarray(np.asarray(g)[::-1]).reshape(1, 1, -1)),
                   padding=len(g) - 1)
    return out.numpy()[0, 0]


def _convolve(fexpr: sp.Expr, gexpr: sp.Expr, var: sp.Symbol = t) -> sp.Expr:
    """∫ f(τ) g(t − τ) dτ over the real line, by ``sympy.integrate``."""
    return sp.integrate(fexpr.subs(var, tau) * gexpr.subs(var, t - tau), (tau, -sp.oo, sp.oo))


def _str_matrix(m: Any) -> list[list[str]]:
    return [[str(z) for z in row] for row in np.asarray(m, dtype=object).tolist()]


# ------------------------------------------------------------------ continuous convolution


def box(x: sp.Expr) -> sp.Piecewise:
    """The unit box: 1 on [0, 1], 0 elsewhere."""
    return sp.Piecewise((1, (x >= 0) & (x <= 1)), (0, True))


@item(TOPIC)
def box_with_box_is_a_triangle() -> Item:
    """box * box, integrated by SymPy, is the triangle on [0, 2] with its peak 1 at t = 1."""
    conv = _convolve(box(t), box(t))
    triangle = sp.Piecewise((0, t < 0), (t, t <= 1), (2 - t, t <= 2), (0, True))
    # the same function: equal at every multiple of 1/8 in [-1, 3] (each piece included)
    probes = [sp.Rational(n, 8) for n in range(-8, 25)]
    same_everywhere = all(sp.simplify(conv.subs(t, p) - triangle.subs(t, p)) == 0
                          for p in probes)
    pieces = {"t<0": -1, "0<=t<=1": sp.Rational(1, 3), "1<t<=2": sp.Rational(5, 3), "t>2": 3}
    piece_values = {f"t = {p} (on {name})": str(conv.subs(t, p)) for name, p in pieces.items()}
    # engine: box sampled as N steps of width h; the step functions' convolution at t = m·h is
    # exactly h·Σ_k f[k] g[m−1−k] (two width-h steps convolve to a hat of height h at t = h),
    # so the engine's discrete convolution gives the triangle exactly, with no tolerance.
    n = 8
    h = Fraction(1, n)
    ones = as_fractions(np.ones(n, dtype=np.int64))
    discrete = engine_full_convolve1d(ones, ones) * h  # values at t = m·h, m = 1..2n-1
    exact_at = [triangle.subs(t, sp.Rational(m, n)) for m in range(1, 2 * n)]
    exact_ok = all(sp.Rational(d.numerator, d.denominator) == e
                   for d, e in zip(discrete, exact_at, strict=True))
    discrete64 = engine_full_convolve1d(np.ones(n), np.ones(n)) / n
    f64_ok = bool(np.allclose(discrete64, [float(e) for e in exact_at], rtol=0, atol=1e-15))
    return Item(
        TOPIC, "box_with_box_is_a_triangle",
        "The convolution of the unit box with itself is the triangle: t on [0, 1], 2 − t on "
        "[1, 2], 0 elsewhere.",
        f"sympy.integrate(box(τ)·box(t − τ), (τ, −∞, ∞)) = {conv}; compared with the "
        "triangle at every multiple of 1/8 in [−1, 3]. Engine: the box as 8 steps of width "
        "h = 1/8; two steps convolve to a hat of height h, so (f*g)(m·h) = h·Σ_k f[k]g[m−1−k] "
        "exactly, computed by F.conv1d with the kernel flipped, on Fractions and in float64.",
        conv, [str(d) for d in discrete],
        bool(same_everywhere and exact_ok and f64_ok),
        source="seed 004 (definition of (f*g)(t))",
        details={"triangle": str(triangle), "the integral at one point of each piece": piece_values,
                 "at t = m/8, m = 1..15": [str(e) for e in exact_at],
                 "exact (Fractions) equal": exact_ok, "float64 equal": f64_ok})


def gaussian(x: sp.Expr, sigma: sp.Expr) -> sp.Expr:
    """The centred normal density with standard deviation sigma."""
    return sp.exp(-x ** 2 / (2 * sigma ** 2)) / (sp.sqrt(2 * sp.pi) * sigma)


@item(TOPIC)
def gaussians_variances_add() -> Item:
    """N(0, σ1²) * N(0, σ2²) = N(0, σ1² + σ2²): derived by integrating, then compared."""
    s1, s2 = sp.symbols("sigma1 sigma2", positive=True)
    conv = _convolve(gaussian(t, s1), gaussian(t, s2))
    conv = sp.simplify(conv)
    variance = sp.simplify(sp.integrate(t ** 2 * conv, (t, -sp.oo, sp.oo)))
    mass = sp.simplify(sp.integrate(conv, (t, -sp.oo, sp.oo)))
    equals_gaussian = sp.simplify(conv - gaussian(t, sp.sqrt(s1 ** 2 + s2 ** 2))) == 0
    # engine: the sampled densities convolved by F.conv1d (float64), times the step h, is a
    # Riemann sum of the integral; for smooth, fast-decaying integrands it converges faster
    # than any power of h (the trapezoid rule's error is ~exp(-2π²σ²/h²)), so at h = 1/20
    # it matches to rounding error.
    v1, v2 = 1.0, 0.5
    h, half = 0.05, 400  # grid -20..20
    grid = np.arange(-half, half + 1) * h
    f1 = sp.lambdify(t, gaussian(t, sp.Float(v1)), "numpy")(grid)
    f2 = sp.lambdify(t, gaussian(t, sp.Float(v2)), "numpy")(grid)
    discrete = engine_full_convolve1d(f1, f2) * h  # at t = (m - 2·half)·h
    out_grid = (np.arange(len(discrete)) - 2 * half) * h
    expected = sp.lambdify(t, conv.subs({s1: v1, s2: v2}), "numpy")(out_grid)
    max_err = float(np.max(np.abs(discrete - expected)))
    engine_ok = max_err < 1e-12
    return Item(
        TOPIC, "gaussians_variances_add",
        "The convolution of two centred Gaussians N(0, σ1²) and N(0, σ2²) is the Gaussian "
        "N(0, σ1² + σ2²): variances add.",
        "sympy.integrate(g_σ1(τ)·g_σ2(t − τ), (τ, −∞, ∞)) then simplify gives "
        f"{conv}; its total mass is {mass} and its variance ∫t²(f*g)dt = {variance}; "
        "simplify(result − g_{sqrt(σ1²+σ2²)}(t)) = 0. Engine: F.conv1d of the densities "
        f"sampled at h = {h} (σ1 = {v1}, σ2 = {v2}) times h, float64.",
        variance, {"max |Riemann sum − exact|": max_err},
        bool(equals_gaussian and mass == 1 and variance == s1 ** 2 + s2 ** 2 and engine_ok),
        source="seed 004 (definition); seed 000 (Gaussian linear filter)",
        details={"convolution": str(conv), "latex": sp.latex(conv), "mass": str(mass),
                 "equals N(0, σ1²+σ2²)": bool(equals_gaussian),
                 "engine max abs error": max_err})


@item(TOPIC)
def one_sided_exponentials() -> Item:
    """e^{−at}u(t) * e^{−bt}u(t) = (e^{−bt} − e^{−at})/(a − b)·u(t), and t·e^{−at} when a = b."""
    a, b = sp.symbols("a b", positive=True)
    tp = sp.Symbol("t", positive=True)
    # u(τ)·u(t − τ) is 1 exactly for 0 < τ < t, so for t > 0 the integral runs over [0, t];
    # for t < 0 the product of the two steps is 0 for every τ, and so is the convolution.
    integrand = sp.exp(-a * tau) * sp.exp(-b * (tp - tau))
    conv = sp.integrate(integrand, (tau, 0, tp))  # Piecewise: a ≠ b, and a = b
    general = sp.simplify(conv.args[0][0])
    claimed = (sp.exp(-b * tp) - sp.exp(-a * tp)) / (a - b)
    general_ok = sp.simplify(general - claimed) == 0
    equal_case = sp.simplify(sp.integrate(integrand.subs(b, a), (tau, 0, tp)))
    equal_ok = sp.simplify(equal_case - tp * sp.exp(-a * tp)) == 0
    limit_ok = sp.simplify(sp.limit(claimed, b, a) - tp * sp.exp(-a * tp)) == 0
    steps_vanish = all(
        sp.Heaviside(x0) * sp.Heaviside(t0 - x0) == 0
        for t0 in (-2, -1, sp.Rational(-1, 3)) for x0 in (-3, -1, sp.Rational(-1, 2), 0, 1))
    # engine: F.conv1d of the samples times h, a Riemann sum with a jump at 0; its error is at
    # most 2h here (integrand monotone in τ and bounded by 1), and halves with h.
    av, bv = 2.0, 1.0
    exact = sp.lambdify(tp, claimed.subs({a: av, b: bv}), "numpy")
    errors = []
    for n in (100, 200):
        h = 1.0 / n
        grid = np.arange(0, 4 * n + 1) * h
        d = engine_full_convolve1d(np.exp(-av * grid), np.exp(-bv * grid))[: len(grid)] * h
        errors.append(float(np.max(np.abs(d[1:] - exact(grid[1:])))))
    engine_ok = errors[0] <= 2 / 100 and errors[1] <= 2 / 200 and errors[1] < errors[0]
    return Item(
        TOPIC, "one_sided_exponentials",
        "e^{−at}u(t) * e^{−bt}u(t) = (e^{−bt} − e^{−at})/(a − b)·u(t) for a ≠ b, and "
        "t·e^{−at}·u(t) for a = b.",
        "The steps restrict τ to [0, t] (empty for t < 0); sympy.integrate over [0, t] gives "
        f"{conv}; the a ≠ b branch simplifies to {general}; the a = b integral is "
        f"{equal_case}, also the limit b → a of the general form. Engine: F.conv1d of the "
        "samples (a = 2, b = 1) times h, float64, at h = 1/100 and 1/200.",
        claimed, {"max error h=1/100": errors[0], "max error h=1/200": errors[1]},
        bool(general_ok and equal_ok and limit_ok and steps_vanish and engine_ok),
        source="seed 004 (definition of (f*g)(t))",
        details={"a = b": str(equal_case), "limit b→a agrees": bool(limit_ok),
                 "zero for t < 0": bool(steps_vanish)})


@item(TOPIC)
def commutativity() -> Item:
    """f * g = g * f, by the change of variables u = t − τ."""
    f, g = sp.Function("f"), sp.Function("g")
    lhs = sp.Integral(f(tau) * g(t - tau), (tau, -sp.oo, sp.oo))
    moved = lhs.transform(tau, (t - u, u))  # τ = t − u; limits flip, dτ = −du
    rhs = sp.Integral(g(u) * f(t - u), (u, -sp.oo, sp.oo))
    symbolic_ok = moved == rhs
    # a concrete pair, integrated both ways: box and a one-sided exponential
    e = sp.exp(-t) * sp.Heaviside(t)
    fg, gf = _convolve(box(t), e), _convolve(e, box(t))
    probes = [sp.Rational(n, 4) for n in range(-4, 13)]
    concrete_ok = all(sp.simplify(fg.subs(t, p) - gf.subs(t, p)) == 0 for p in probes)
    # engine: discrete f*g and g*f on Fractions, exactly equal
    fd = as_fractions([1, Fraction(1, 2), -3, 2])
    gd = as_fractions([Fraction(2, 3), 5, -1])
    a, b = engine_full_convolve1d(fd, gd), engine_full_convolve1d(gd, fd)
    engine_ok = bool(np.array_equal(a, b))
    return Item(
        TOPIC, "commutativity",
        "Convolution is commutative: (f * g)(t) = (g * f)(t).",
        f"Integral(f(τ)g(t − τ), (τ, −∞, ∞)).transform(τ, t − u) = {moved}, which is "
        "(g * f)(t). Checked also by integrating box * e^{−t}u(t) both ways. Engine: "
        "F.conv1d (kernel flipped) computes f*g and g*f on Fractions.",
        moved, [str(z) for z in a],
        bool(symbolic_ok and concrete_ok and engine_ok),
        source="seed 004 (definition of (f*g)(t))",
        details={"f*g (engine)": [str(z) for z in a], "g*f (engine)": [str(z) for z in b],
                 "box*exp = exp*box at 17 points": bool(concrete_ok)})


@item(TOPIC)
def shift_property() -> Item:
    """Shifting f by s shifts f * g by s: (f(· − s) * g)(t) = (f * g)(t − s)."""
    f, g = sp.Function("f"), sp.Function("g")
    s = sp.Symbol("s", real=True)
    lhs = sp.Integral(f(tau - s) * g(t - tau), (tau, -sp.oo, sp.oo))
    moved = lhs.transform(tau, (v + s, v))  # τ = v + s
    target = sp.Integral(f(tau) * g(t - tau), (tau, -sp.oo, sp.oo)).subs(t, t - s)
    symbolic_ok = sp.simplify(moved.function.subs(v, tau) - target.function) == 0 and \
        moved.limits[0][1:] == target.limits[0][1:]
    # concrete: the box moved to [3, 4], convolved with the box, is the triangle moved by 3
    shifted = _convolve(box(t - 3), box(t))
    tri = _convolve(box(t), box(t))
    probes = [sp.Rational(n, 4) for n in range(0, 24)]
    concrete_ok = all(sp.simplify(shifted.subs(t, p) - tri.subs(t, p - 3)) == 0
                      for p in probes)
    # engine: delaying the input sequence by 3 samples delays the output by 3, exactly
    fd = as_fractions([2, -1, Fraction(1, 3)])
    gd = as_fractions([1, 4, Fraction(-1, 2), 3])
    base = engine_full_convolve1d(fd, gd)
    delayed = engine_full_convolve1d(np.concatenate([as_fractions([0, 0, 0]), fd]), gd)
    engine_ok = bool(np.array_equal(delayed[3:], base)) and all(z == 0 for z in delayed[:3])
    return Item(
        TOPIC, "shift_property",
        "Convolution commutes with shifts: (f(· − s) * g)(t) = (f * g)(t − s).",
        f"Integral(f(τ − s)g(t − τ), (τ, −∞, ∞)).transform(τ, v + s) = {moved}, the "
        "convolution integral evaluated at t − s. Checked also on box(t − 3) * box. Engine: "
        "a 3-sample delay of the input delays F.conv1d's output by 3 (Fractions).",
        moved, [str(z) for z in delayed],
        bool(symbolic_ok and concrete_ok and engine_ok),
        source="seed 004 (definition of (f*g)(t))",
        details={"box(t−3)*box at 24 points": bool(concrete_ok)})


# ------------------------------------------------------------------------- discrete


@item(TOPIC)
def discrete_sum_from_the_integral() -> Item:
    """Integrating against Dirac deltas turns ∫ f(τ)g(t − τ)dτ into Σ_k f[k] g[n − k]."""
    g = sp.Function("g")
    k = sp.Symbol("k", integer=True)
    sifted = sp.integrate(sp.DiracDelta(tau - k) * g(t - tau), (tau, -sp.oo, sp.oo))
    sift_ok = sifted == g(t - k)
    # f = Σ_k f[k] δ(t − k) with finitely many terms; at t = n the integral becomes the sum
    fvals = [1, 2, -3, Fraction(1, 2)]
    gvals = [Fraction(1, 2), -1, 4, Fraction(1, 3)]
    fs, gs = sp.IndexedBase("f"), sp.IndexedBase("g")
    n = sp.Symbol("n", integer=True)
    nf, ng = len(fvals), len(gvals)
    summed = []
    for n0 in range(nf + ng - 1):
        expr = sp.Sum(fs[k] * gs[n - k], (k, max(0, n0 - ng + 1), min(nf - 1, n0)))
        values = {fs[i]: sp.Rational(str(z)) for i, z in enumerate(fvals)}
        values.update({gs[i]: sp.Rational(str(z)) for i, z in enumerate(gvals)})
        summed.append(expr.subs(n, n0).doit().xreplace(values))
    # and the same numbers by integrating the delta train itself against g, then t = n
    train = sum(sp.Rational(str(fk)) * sp.DiracDelta(tau - kk) for kk, fk in enumerate(fvals))
    integral = sp.integrate(train * g(t - tau), (tau, -sp.oo, sp.oo))
    gvalue = {g(m): (sp.Rational(str(gvals[m])) if 0 <= m < ng else 0)
              for m in range(-nf, nf + ng)}
    by_integral = [integral.subs(t, n0).xreplace(gvalue) for n0 in range(nf + ng - 1)]
    engine = engine_full_convolve1d(as_fractions(fvals), as_fractions(gvals))
    engine_ok = [sp.Rational(z.numerator, z.denominator) for z in engine] == summed
    return Item(
        TOPIC, "discrete_sum_from_the_integral",
        "For f = Σ_k f[k]·δ(t − k), (f * g)(n) = Σ_k f[k]·g[n − k]: the discrete convolution "
        "sum.",
        f"sympy.integrate(δ(τ − k)·g(t − τ), (τ, −∞, ∞)) = {sifted} (sifting), so the "
        "integral of the delta train is Σ_k f[k]·g(t − k); at t = n it is the sum, evaluated "
        "by sympy.Sum(f[k]·g[n − k]).doit() for f = [1, 2, −3, 1/2], g = [1/2, −1, 4, 1/3]. "
        "Engine: F.conv1d with g flipped and padding len(g) − 1, on Fractions.",
        summed, [str(z) for z in engine],
        bool(sift_ok and engine_ok and by_integral == summed),
        source="seed 004 (definition of (f*g)(t))",
        details={"sum": [str(z) for z in summed]})


#: the image and the asymmetric kernel of the cross-correlation item
XCORR_IMAGE = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3], [5, 8, 9, 7, 9], [3, 2, 3, 8, 4],
               [6, 2, 6, 4, 3]]
XCORR_KERNEL = [[1, Fraction(1, 2), 0], [0, -1, 2], [Fraction(-1, 3), 0, 0]]


@item(TOPIC)
def cnn_layer_is_cross_correlation() -> Item:
    """F.conv2d with a flipped kernel is the true convolution; unflipped it is not."""
    x, k = as_fractions(XCORR_IMAGE), as_fractions(XCORR_KERNEL)
    true_conv = sympy_convolve2d(x, k)
    xcorr = sympy_correlate2d(x, k)
    flipped = np.ascontiguousarray(k[::-1, ::-1])
    results, ok = {}, True
    for name, xx, kk in (("float32", x.astype(np.float32), flipped.astype(np.float32)),
                         ("float64", x.astype(np.float64), flipped.astype(np.float64)),
                         ("exact", x, flipped)):
        out = engine_conv2d(xx, kk)
        exact = np.array(true_conv.tolist(), dtype=object)
        if name == "exact":
            same = all(sp.Rational(a.numerator, a.denominator) == b
                       for a, b in zip(out.ravel(), exact.ravel(), strict=True))
        else:
            tol = 1e-5 if name == "float32" else 1e-12
            same = bool(np.allclose(out, exact.astype(np.float64), rtol=tol, atol=tol))
        results[name] = same
        ok = ok and same
    unflipped = engine_conv2d(x, k)
    differs = [(i, j) for i in range(3) for j in range(3)
               if sp.Rational(str(unflipped[i, j])) != true_conv[i, j]]
    unflipped_is_xcorr = all(sp.Rational(str(unflipped[i, j])) == xcorr[i, j]
                             for i in range(3) for j in range(3))
    flip_sym = sp.Matrix(k.tolist()) != sp.Matrix(flipped.tolist())
    return Item(
        TOPIC, "cnn_layer_is_cross_correlation",
        "A CNN layer computes a cross-correlation, Σ X[i + p, j + q]·K[p, q] (no kernel flip): "
        "F.conv2d equals the true convolution Σ X[i − p, j − q]·K[p, q] only with the kernel "
        "flipped, and differs with an asymmetric kernel left as is.",
        "Reindex the true convolution's valid part with p' = KH − 1 − p, q' = KW − 1 − q: "
        "Σ X[i − KH + 1 + p', …]·K[KH − 1 − p', …], a cross-correlation with K flipped. "
        "SymPy's exact sum (Sum(X[i−p, j−q]·K[p, q]).doit() on rationals) vs F.conv2d(X, "
        "flip(K)) in float32, float64 and Fractions, for a 5x5 image and an asymmetric 3x3 "
        "kernel.",
        true_conv, _str_matrix(engine_conv2d(x, flipped)),
        bool(ok and differs and unflipped_is_xcorr and flip_sym),
        source="seed 004 (definition); seeds 001, 003 (CNN filters)",
        details={"agrees with true convolution": results,
                 "unflipped conv2d differs at (0-based)": differs,
                 "unflipped conv2d equals the exact cross-correlation": unflipped_is_xcorr,
                 "true convolution": _str_matrix(true_conv),
                 "cross-correlation": _str_matrix(xcorr)})


GAUSS_IMAGE = [[0, 1, 2, 3, 2, 1, 0], [1, 4, 2, 0, 2, 4, 1], [3, 0, 9, 9, 9, 0, 3],
               [2, 5, 9, 1, 9, 5, 2], [0, 0, 9, 9, 9, 0, 0], [7, 1, 2, 3, 4, 5, 6],
               [1, 1, 1, 8, 1, 1, 1]]


def gaussian_kernel(size: int = 5, sigma: Any = 1) -> sp.Matrix:
    """The sampled Gaussian ``exp(−(p² + q²)/(2σ²))`` on a centred grid, normalised to sum 1."""
    c = (size - 1) // 2
    sigma = sp.sympify(sigma)
    raw = sp.Matrix(size, size, lambda p, q: sp.exp(-((p - c) ** 2 + (q - c) ** 2)
                                                     / (2 * sigma ** 2)))
    total = sum(raw)
    return raw.applyfunc(lambda z: z / total)


@item(TOPIC)
def gaussian_linear_filter() -> Item:
    """Seed 000's Gaussian linear filter: the engine's conv2d equals SymPy's exact sum."""
    kern = gaussian_kernel(5, 1)
    sums_to_one = sp.simplify(sum(kern) - 1) == 0
    as_array = np.array(kern.tolist(), dtype=object)
    symmetric = all(kern[i, j] == kern[4 - i, 4 - j] == kern[j, i]
                    for i in range(5) for j in range(5))
    exact = sympy_correlate2d(GAUSS_IMAGE, as_array)  # exact: sums of exp(-r/2)/S
    exact_flipped = sympy_convolve2d(GAUSS_IMAGE, as_array)
    flip_free = all(sp.simplify(a - b) == 0 for a, b in zip(exact, exact_flipped, strict=True))
    exact_n = np.array([[float(sp.N(z, 30)) for z in row] for row in exact.tolist()])
    k64 = np.array([[float(sp.N(z, 30)) for z in row] for row in kern.tolist()])
    x64 = np.asarray(GAUSS_IMAGE, dtype=np.float64)
    out64 = engine_conv2d(x64, k64)
    out64_flipped = engine_conv2d(x64, np.ascontiguousarray(k64[::-1, ::-1]))
    err = float(np.max(np.abs(out64 - exact_n)))
    # exact in the engine too: an object array of SymPy numbers (products and sums only)
    out_sym = engine_conv2d(np.vectorize(sp.Integer, otypes=[object])(GAUSS_IMAGE), as_array)
    sym_ok = all(sp.simplify(a - b) == 0 for a, b in zip(out_sym.ravel(), exact, strict=True))
    ok = sums_to_one and symmetric and flip_free and err < 1e-12 and sym_ok and \
        bool(np.array_equal(out64, out64_flipped))
    return Item(
        TOPIC, "gaussian_linear_filter",
        "A linear filter with a sampled Gaussian kernel (5x5, σ = 1, normalised) is a "
        "convolution; the kernel is symmetric, so the CNN layer's missing flip does not "
        "matter, and F.conv2d gives SymPy's exact weighted sums.",
        "K[p, q] = exp(−((p−2)² + (q−2)²)/2) / S with S = (Σ_{k=−2..2} e^{−k²/2})², exact; "
        "Σ K = 1 by simplify; K = flip(K) = Kᵀ; SymPy's exact sum on a 7x7 integer image "
        "(valid, 3x3 out) vs F.conv2d in float64 (kernel rounded from 30 digits) and on an "
        "object array of SymPy numbers.",
        exact_n, out64, bool(ok),
        source="seed 000 (Linear filter (Gaussian))",
        details={"kernel centre": str(kern[2, 2]), "kernel centre ≈": float(sp.N(kern[2, 2])),
                 "sums to 1": bool(sums_to_one), "symmetric": bool(symmetric),
                 "float64 max abs error": err, "exact engine (SymPy objects) equal": sym_ok,
                 "flip makes no difference (float64, bitwise)":
                     bool(np.array_equal(out64, out64_flipped))})
