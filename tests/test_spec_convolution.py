"""spec.convolution: each item's derived result, checked against values worked out here."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import spec.convolution as C
from spec.report import run_all


@pytest.fixture(scope="module")
def items():
    return {it.name: it for it in run_all(["convolution"])}


def correlate_valid(x, k):
    """Plain-loop cross-correlation, valid part (the reference for the helpers)."""
    x, k = np.asarray(x, dtype=object), np.asarray(k, dtype=object)
    (h, w), (kh, kw) = x.shape, k.shape
    return [[sum(x[i + p, j + q] * k[p, q] for p in range(kh) for q in range(kw))
             for j in range(w - kw + 1)] for i in range(h - kh + 1)]


def test_every_item_passes(items):
    # the convolution topic's own items, and the transposed-convolution adjoint items of
    # spec/adjoint.py registered under the same topic
    assert {"conv_transpose_is_the_adjoint",
            "conv_input_gradient_is_a_transposed_conv"} <= set(items)
    assert len(items) == 10
    failed = [name for name, it in items.items() if not it.passed]
    assert failed == []
    assert all(it.topic == "convolution" and it.statement and it.derivation
               for it in items.values())


def test_box_with_box_is_the_triangle(items):
    it = items["box_with_box_is_a_triangle"]
    t = C.t
    expected = {-1: 0, 0: 0, sp.Rational(1, 4): sp.Rational(1, 4), sp.Rational(1, 2):
                sp.Rational(1, 2), 1: 1, sp.Rational(3, 2): sp.Rational(1, 2),
                sp.Rational(7, 4): sp.Rational(1, 4), 2: 0, 3: 0}
    for at, value in expected.items():
        assert it.result.subs(t, at) == value, at
    # the engine's exact discrete convolution: h·min(m, 16 − m) at t = m/8
    assert it.engine == [str(Fraction(min(m, 16 - m), 8)) for m in range(1, 16)]


def test_gaussian_variances_add(items):
    it = items["gaussians_variances_add"]
    s1, s2 = sp.symbols("sigma1 sigma2", positive=True)
    assert it.result == s1 ** 2 + s2 ** 2
    conv = sp.sympify(it.details["convolution"], locals={"sigma1": s1, "sigma2": s2})
    t = sp.Symbol("t", real=True)
    conv = conv.subs(sp.Symbol("t"), t)
    # N(0, 1) * N(0, 1) at t = 0 is the N(0, 2) density at 0: 1/sqrt(4π)
    assert sp.simplify(conv.subs({s1: 1, s2: 1, t: 0}) - 1 / sp.sqrt(4 * sp.pi)) == 0
    assert it.details["mass"] == "1"
    assert it.engine["max |Riemann sum − exact|"] < 1e-12


def test_one_sided_exponentials(items):
    it = items["one_sided_exponentials"]
    a, b = sp.symbols("a b", positive=True)
    tp = sp.Symbol("t", positive=True)
    # a = 2, b = 1 at t = 1: ∫_0^1 e^{-2τ} e^{-(1-τ)} dτ = e^{-1} − e^{-2}
    assert sp.simplify(it.result.subs({a: 2, b: 1, tp: 1}) - (sp.exp(-1) - sp.exp(-2))) == 0
    assert it.details["a = b"] == "t*exp(-a*t)"
    assert it.details["zero for t < 0"] is True
    err100, err200 = it.engine.values()
    assert err200 < err100 <= 0.02  # a first-order Riemann sum: the error halves with h


def test_commutativity_and_shift(items):
    f, g = sp.Function("f"), sp.Function("g")
    t, u = C.t, C.u
    assert items["commutativity"].result == sp.Integral(f(t - u) * g(u), (u, -sp.oo, sp.oo))
    fd, gd = [1, 0.5, -3, 2], [2 / 3, 5, -1]
    engine = [float(Fraction(z)) for z in items["commutativity"].engine]
    assert np.allclose(engine, np.convolve(fd, gd), rtol=0, atol=1e-12)
    delayed = [Fraction(z) for z in items["shift_property"].engine]
    base = np.convolve([Fraction(2), Fraction(-1), Fraction(1, 3)],
                       [Fraction(1), Fraction(4), Fraction(-1, 2), Fraction(3)])
    assert delayed == [0, 0, 0, *base]


def test_discrete_sum(items):
    it = items["discrete_sum_from_the_integral"]
    f = [Fraction(1), Fraction(2), Fraction(-3), Fraction(1, 2)]
    g = [Fraction(1, 2), Fraction(-1), Fraction(4), Fraction(1, 3)]
    expected = list(np.convolve(np.array(f, dtype=object), np.array(g, dtype=object)))
    assert [Fraction(str(z)) for z in it.result] == expected
    assert [Fraction(z) for z in it.engine] == expected


def test_cross_correlation_item(items):
    it = items["cnn_layer_is_cross_correlation"]
    x = np.array(C.XCORR_IMAGE, dtype=object) * Fraction(1)
    k = np.array(C.XCORR_KERNEL, dtype=object)
    true_conv = correlate_valid(x, k[::-1, ::-1])
    assert [[Fraction(str(z)) for z in row] for row in it.result.tolist()] == true_conv
    assert [[Fraction(z) for z in row] for row in it.engine] == true_conv
    assert it.details["agrees with true convolution"] == {"float32": True, "float64": True,
                                                          "exact": True}
    assert len(it.details["unflipped conv2d differs at (0-based)"]) > 0


def test_gaussian_filter_item(items):
    it = items["gaussian_linear_filter"]
    r = np.arange(-2, 3)
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 2.0)
    g /= g.sum()
    expected = np.array(correlate_valid(np.array(C.GAUSS_IMAGE, dtype=float), g), dtype=float)
    assert np.allclose(it.result, expected, rtol=0, atol=1e-12)
    assert np.allclose(it.engine, expected, rtol=0, atol=1e-12)
    centre = 1 / sum(math.exp(-k * k / 2) for k in range(-2, 3)) ** 2
    assert it.details["kernel centre ≈"] == pytest.approx(centre, rel=1e-14)
    assert it.details["sums to 1"] and it.details["symmetric"]


def test_sympy_sums_match_plain_loops():
    rng = np.random.default_rng(0)
    x = [[Fraction(int(v), 3) for v in row] for row in rng.integers(-9, 10, (6, 7))]
    k = [[Fraction(int(v), 2) for v in row] for row in rng.integers(-4, 5, (3, 2))]
    got = C.sympy_correlate2d(x, k)
    assert [[Fraction(str(z)) for z in row] for row in got.tolist()] == correlate_valid(x, k)
    flipped = np.array(k, dtype=object)[::-1, ::-1]
    conv = C.sympy_convolve2d(x, k)
    assert [[Fraction(str(z)) for z in row] for row in conv.tolist()] == \
        correlate_valid(x, flipped)
    strided = C.sympy_correlate2d(x, k, stride=2)
    assert [[Fraction(str(z)) for z in row] for row in strided.tolist()] == \
        [row[::2] for row in correlate_valid(x, k)[::2]]


def test_item_fails_when_the_engine_is_wrong(monkeypatch):
    """A conv2d that flips the kernel itself (a true convolution) must fail the item."""
    real = C.F.conv2d

    def flipping(x, w, *args, **kwargs):
        from tinygrad_cnn import Tensor
        return real(x, Tensor(np.ascontiguousarray(w.numpy()[:, :, ::-1, ::-1])), *args,
                    **kwargs)

    monkeypatch.setattr(C.F, "conv2d", flipping)
    assert C.cnn_layer_is_cross_correlation().passed is False
