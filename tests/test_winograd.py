"""Winograd's F(m×m, 3×3) (tinygrad_cnn.winograd) against the direct im2col convolution:
exactly on Fractions, within the stated rounding bound in float32, gradients included;
its constants against the spec's Toom–Cook derivation; and the automatic choice."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, winograd

spec_winograd = pytest.importorskip("spec.winograd")


def _fractions(rng, shape, denominator):
    values = rng.integers(-9, 10, shape)
    return np.vectorize(lambda v: Fraction(int(v), denominator), otypes=[object])(values)


def _run(x, w, b, algorithm, seed, **kw):
    """Forward, then backward of a fixed cotangent; returns y, dx, dw (and db)."""
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    bt = None if b is None else Tensor(b, requires_grad=True)
    with winograd.algorithm(algorithm):
        y = F.conv2d(xt, wt, bt, **kw)
    rng = np.random.default_rng(seed)
    if x.dtype == object:
        g = _fractions(rng, y.shape, 3)
    else:
        g = rng.standard_normal(y.shape).astype(x.dtype)
    y.backward(g)
    grads = [xt.grad.numpy(), wt.grad.numpy()] + ([] if b is None else [bt.grad.numpy()])
    return [y.numpy()] + grads


# ------------------------------------------------------------ constants and derivation


@pytest.mark.parametrize("m", [2, 4])
def test_engine_constants_equal_the_spec_derivation_exactly(m):
    at, g, bt = spec_winograd.derive(m)
    constants = winograd.TRANSFORMS[m]
    assert constants.AT == spec_winograd.as_fractions(at)
    assert constants.G == spec_winograd.as_fractions(g)
    assert constants.BT == spec_winograd.as_fractions(bt)
    assert (len(constants.AT), len(constants.BT)) == (m, m + 2)


def test_the_derivation_starts_from_the_chosen_points():
    assert spec_winograd.POINTS[2][:3] == (0, 1, -1)
    v = spec_winograd.evaluation_matrix((0, 1, -1, spec_winograd.sp.oo), 3)
    assert v.tolist() == [[1, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="m must be one of"):
        spec_winograd.derive(3)


@pytest.mark.parametrize("m", [2, 4])
def test_derived_transforms_compute_the_correlation_on_symbols(m):
    sp = spec_winograd.sp
    fast, direct = spec_winograd.correlation_1d(m)
    assert (fast - direct).applyfunc(sp.expand) == sp.zeros(m, 1)
    if m == 2:  # the 2-D check of F(4x4) takes seconds: it runs in checks() below
        fast, direct = spec_winograd.correlation_2d(m)
        assert (fast - direct).applyfunc(sp.expand) == sp.zeros(m, m)


def test_a_wrong_matrix_is_caught_by_the_symbolic_check(monkeypatch):
    at, g, bt = spec_winograd.derive(2)
    broken = bt.copy()
    broken[3, 3] = 2
    monkeypatch.setattr(spec_winograd, "derive", lambda m, r=3: (at, g, broken))
    fast, direct = spec_winograd.correlation_1d(2)
    assert (fast - direct).applyfunc(spec_winograd.sp.expand) != spec_winograd.sp.zeros(2, 1)


def test_evaluation_at_rational_points_is_exact():
    half = spec_winograd.sp.Rational(1, 2)
    v = spec_winograd.evaluation_matrix((0, half, spec_winograd.sp.oo), 3)
    assert v.tolist() == [[1, 0, 0], [1, half, half**2], [0, 0, 1]]


def test_multiplication_counts():
    assert spec_winograd.multiplications(2) == {"direct": 36, "winograd": 16,
                                                "ratio": spec_winograd.sp.Rational(9, 4)}
    assert spec_winograd.multiplications(4)["ratio"] == 4


@pytest.mark.slow
def test_the_spec_items_pass():
    items = spec_winograd.checks()
    assert [it.name for it in items] == ["winograd_f2x2_3x3", "winograd_f4x4_3x3"]
    for it in items:
        assert it.passed, it.details
        assert it.details["2-D exact"] and it.details["1-D exact"]


# ------------------------------------------------------------------- exact: Fractions


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape, padding", [((2, 3, 5, 7), 1), ((1, 2, 6, 6), 0),
                                            ((2, 2, 9, 4), (2, 1)), ((1, 1, 3, 3), 0)])
def test_winograd_on_fractions_equals_direct_exactly(m, shape, padding):
    rng = np.random.default_rng(sum(shape) + m)
    x = _fractions(rng, shape, 5)
    w = _fractions(rng, (4, shape[1], 3, 3), 7)
    b = _fractions(rng, (4,), 11)
    direct = _run(x, w, b, "direct", 1, padding=padding)
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    pads = ((padding, padding),) * 2 if isinstance(padding, int) else \
        tuple((p, p) for p in padding)
    y = winograd.conv2d_3x3(xt, wt, bt, pads, m=m)
    y.backward(_fractions(np.random.default_rng(1), y.shape, 3))
    fast = [y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    for a, e in zip(fast, direct, strict=True):
        assert a.shape == e.shape
        assert a.dtype == object and isinstance(a.flat[0], Fraction)
        assert (a == e).all()


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(3, 9),
       wd=st.integers(3, 9), pad=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       seed=st.integers(0, 2**16))
def test_forced_winograd_through_conv2d_is_exact_on_random_shapes(n, c, o, h, wd, pad, seed):
    rng = np.random.default_rng(seed)
    x = _fractions(rng, (n, c, h, wd), 3)
    w = _fractions(rng, (o, c, 3, 3), 5)
    direct = _run(x, w, None, "direct", seed, padding=pad)
    fast = _run(x, w, None, "winograd", seed, padding=pad)
    for a, e in zip(fast, direct, strict=True):
        assert a.shape == e.shape and (a == e).all()


# --------------------------------------------------------------------- float32 bound


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_float32_error_is_within_the_stated_bound(m, scale):
    rng = np.random.default_rng(m)
    x = (rng.standard_normal((4, 16, 13, 10)) * scale).astype(np.float32)
    w = (rng.standard_normal((8, 16, 3, 3)) / 12).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    pads = ((1, 1), (1, 1))
    y = winograd.conv2d_3x3(Tensor(x), Tensor(w), Tensor(b), pads, m=m).numpy()
    assert y.dtype == np.float32
    exact = F.conv2d(Tensor(x.astype(np.float64)), Tensor(w.astype(np.float64)),
                     Tensor(b.astype(np.float64)), padding=1).numpy()  # direct, float64
    bound = winograd.error_bound(x, w, pads, m, b)
    err = np.abs(y.astype(np.float64) - exact)
    assert (err <= bound).all(), float((err / bound).max())
    # and the bound says something: far below the size of the result, and within a few
    # thousand times the error actually made (a worst case: every rounding one way)
    assert bound.max() < 0.05 * np.abs(exact).max()
    assert 0 < err.max() and bound.max() < 1e4 * err.max()


def test_float32_winograd_and_direct_agree_with_gradients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    w = (rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    fast = _run(x, w, b, "winograd", 3, padding=1)
    direct = _run(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                  "direct", 3, padding=1)
    for a, e in zip(fast, direct, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, e, rtol=0, atol=2e-5 * np.abs(e).max())


def test_error_bound_refuses_exact_arrays():
    x = np.zeros((1, 1, 3, 3), dtype=object)
    with pytest.raises(TypeError, match="float"):
        winograd.error_bound(x, x, ((0, 0), (0, 0)), 2)


# --------------------------------------------------------------------- the choice


def test_auto_chooses_by_shape():
    choose = winograd.choose
    one = (1, 1)
    assert choose((64, 32, 14, 14), (64, 32, 3, 3), one, one, 1, np.float32) == 4
    assert choose((64, 1, 28, 28), (32, 1, 3, 3), one, one, 1, np.float32) is None
    assert choose((64, 8, 14, 14), (16, 8, 3, 3), one, one, 1, np.float32) is None
    assert choose((2, 32, 14, 14), (64, 32, 3, 3), one, one, 1, np.float32) is None
    assert choose((64, 32, 14, 14), (64, 32, 3, 3), (2, 2), one, 1, np.float32) is None
    assert choose((64, 32, 14, 14), (64, 32, 3, 3), one, (2, 2), 1, np.float32) is None
    assert choose((64, 32, 14, 14), (64, 16, 3, 3), one, one, 2, np.float32) is None
    assert choose((64, 32, 14, 14), (64, 32, 5, 5), one, one, 1, np.float32) is None
    assert choose((64, 32, 14, 14), (64, 32, 3, 3), one, one, 1, object) is None
    with winograd.algorithm("winograd"):
        assert choose((1, 1, 5, 5), (1, 1, 3, 3), one, one, 1, object) == 4
        assert choose((1, 1, 5, 5), (1, 1, 3, 3), (2, 2), one, 1, object) is None
    with winograd.algorithm("direct"):
        assert choose((64, 32, 14, 14), (64, 32, 3, 3), one, one, 1, np.float32) is None
    assert winograd.ALGORITHM == "auto"


def test_conv2d_takes_the_winograd_path_when_chosen(monkeypatch):
    calls = []
    real = winograd.conv2d_3x3
    monkeypatch.setattr(winograd, "conv2d_3x3",
                        lambda *a, **k: calls.append(k.get("m")) or real(*a, **k))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 6, 6)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    y = F.conv2d(x, w, padding="same")
    assert calls == [4] and y.shape == (8, 16, 6, 6)
    F.conv2d(x, w, stride=2)  # not eligible: the direct path
    F.conv2d(x[:, :4], w[:, :4])  # 4 input channels: too few
    assert calls == [4]


def test_algorithm_validates_its_argument():
    with pytest.raises(ValueError, match="'auto', 'winograd' or 'direct'"):
        with winograd.algorithm("fast"):
            pass
    with pytest.raises(ValueError, match="m must be one of"):
        winograd.conv2d_3x3(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((1, 1, 3, 3))),
                            None, ((0, 0), (0, 0)), m=3)


def test_the_output_is_laid_out_batch_innermost_and_feeds_the_next_layer():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16, 8, 8)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32) / 12
    y = winograd.conv2d_3x3(Tensor(x), Tensor(w), None, ((1, 1), (1, 1)))
    assert y.numpy().strides[0] == 4  # N innermost: (O, H, W, N) memory
    z = winograd.conv2d_3x3(y, Tensor(w), None, ((1, 1), (1, 1)))
    with winograd.algorithm("direct"):
        expected = F.conv2d(F.conv2d(x, w, padding=1), w, padding=1).numpy()
    np.testing.assert_allclose(z.numpy(), expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_the_engine_does_not_import_sympy_for_winograd():
    code = ("import sys, numpy as np\n"
            "import tinygrad_cnn.nn.functional as F\n"
            "from tinygrad_cnn import winograd\n"
            "F.conv2d(np.ones((8, 16, 6, 6), np.float32), np.ones((16, 16, 3, 3), np.float32))\n"
            "assert 'sympy' not in sys.modules, 'sympy was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("m", [2, 4])
def test_asymmetric_padding_is_exact(m):
    rng = np.random.default_rng(5)
    x = _fractions(rng, (2, 2, 5, 6), 3)
    w = _fractions(rng, (3, 2, 3, 3), 2)
    pads = ((2, 0), (0, 3))
    fast = winograd.conv2d_3x3(Tensor(x), Tensor(w), None, pads, m=m).numpy()
    padded = Tensor(x).pad(((0, 0), (0, 0), *pads))
    direct = F.conv2d(padded, Tensor(w)).numpy()
    assert fast.shape == direct.shape == (2, 3, 5, 7)
    assert (fast == direct).all()


# ------------------------------------------------------------------------ peak memory


def _held_bytes(root: Tensor) -> dict[int, int]:
    """The buffers the graph below ``root`` keeps alive: {id(base): nbytes}."""
    held, stack, seen = {}, [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        a = t._data
        base = a
        while base.base is not None:
            base = base.base
        if 0 not in a.strides or a.size <= 1:  # a forgotten tensor holds a 0-d zero
            held[id(base)] = base.nbytes
        stack.extend(t._parents)
    return held


def test_the_graph_keeps_only_what_a_vjp_reads():
    n, c, o, s = 8, 16, 32, 14
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((n, c, s, s)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((o, c, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.standard_normal(o).astype(np.float32), requires_grad=True)
    with winograd.algorithm("winograd"):
        y = F.conv2d(x, w, b, padding=1)
    tiles = n * 4 * 4  # 16x16 covers 14x14 with 4x4 output tiles
    v_bytes = 36 * c * tiles * 4
    out_bytes = o * 16 * 16 * n * 4  # the output, before its crop
    leaves = sum(t._data.nbytes for t in (x, w, b))
    held = sum(_held_bytes(y).values())
    # V (read by the product's VJP), U and the transformed filter (small), the output
    # and the leaves; not the tiles D, the products M nor the output tiles (each as
    # large as V or larger), which nothing reads in backward
    assert held <= leaves + v_bytes + out_bytes + 2 * 36 * o * c * 4 + 4096, held
    # and backward still gives the direct path's gradients
    y.backward(np.ones(y.shape, np.float32))
    dx, dw = _ones_grad(x, w, b)
    np.testing.assert_allclose(x.grad.numpy(), dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), dw, rtol=1e-4, atol=1e-3)


def _ones_grad(x, w, b):
    xd, wd = Tensor(x.numpy().astype(np.float64), requires_grad=True), \
        Tensor(w.numpy().astype(np.float64), requires_grad=True)
    with winograd.algorithm("direct"):
        y = F.conv2d(xd, wd, Tensor(b.numpy().astype(np.float64)), padding=1)
    y.backward(np.ones(y.shape))
    return xd.grad.numpy(), wd.grad.numpy()


def test_dropping_intermediates_never_touches_the_callers_tensors():
    rng = np.random.default_rng(1)
    x0 = Tensor(rng.standard_normal((8, 16, 6, 6)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), requires_grad=True)
    h = F.relu(x0)  # an intermediate the caller holds, not yet read
    view = h.reshape(8, 16, 36).reshape(8, 16, 6, 6)  # and a view chain of it
    expected = np.maximum(x0.numpy(), 0)
    with winograd.algorithm("winograd"):
        y = F.conv2d(view, w, padding=1)
        y2 = F.conv2d(h, w, padding=1)
    (y.sum() + y2.sum()).backward()
    np.testing.assert_array_equal(h.numpy(), expected)
    np.testing.assert_array_equal(view.numpy(), expected)
    assert x0.grad is not None and np.isfinite(x0.grad.numpy()).all()


def test_forget_keeps_values_a_vjp_or_the_caller_reads():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    e = x.exp()  # exp's VJP reads its output
    h = x * 3.0  # read by the product below
    z = h * x
    shown = x + 1.0
    _ = shown.data  # the caller holds it
    dropped = x + 2.0  # nothing reads it
    for t in (e, h, shown, dropped, x):
        t._forget()
    assert e.numpy().tolist() == np.exp([1.0, 2.0]).tolist()
    assert h.numpy().tolist() == [3.0, 6.0] and shown.numpy().tolist() == [2.0, 3.0]
    assert x.numpy().tolist() == [1.0, 2.0]  # a leaf
    assert dropped._data.strides == (0,) and dropped.shape == (2,)
    (e.sum() + z.sum() + dropped.sum()).backward()
    assert x.grad.numpy().tolist() == pytest.approx(np.exp([1.0, 2.0]) + 6 * np.array(
        [1.0, 2.0]) + 1)
