"""`tinygrad_cnn.scalar`: the written-out ops agree with the tensor engine (exactly on
Fractions) and differentiate symbolically on SymPy symbols."""

from __future__ import annotations

import doctest
import math
from fractions import Fraction

import numpy as np
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygrad_cnn.nn.functional as F
import tinygrad_cnn.scalar as S
from tinygrad_cnn import Tensor, Value


def test_docstring_examples_run():
    result = doctest.testmod(S, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


def _fractions(shape, rng):
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Fraction(int(rng.integers(-5, 6)), int(rng.integers(1, 4)))
    return out


@st.composite
def conv_case(draw):
    c, o = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 3))
    w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 3))
    return (c, h, w), (o, c, kh, kw), stride, padding, dilation, draw(st.booleans())


@given(case=conv_case(), seed=st.integers(0, 2**16))
def test_conv2d_agrees_with_the_tensor_engine_exactly(case, seed):
    xs, ws, stride, padding, dilation, bias = case
    rng = np.random.default_rng(seed)
    x, w, b = _fractions(xs, rng), _fractions(ws, rng), _fractions(ws[:1], rng)
    vx, vw = S.values(x.tolist(), "x"), S.values(w.tolist(), "w")
    vb = S.values(b.tolist(), "b") if bias else None
    y = S.conv2d(vx, vw, vb, stride=stride, padding=padding, dilation=dilation)
    r = _fractions(np.shape(S.to_data(y)), rng)
    loss = sum((yv * rv for yv, rv in zip(_flat(y), r.ravel(), strict=True)), Value(0))
    loss.backward()

    tx, tw = Tensor(x[None], requires_grad=True), Tensor(w, requires_grad=True)
    tb = Tensor(b, requires_grad=True) if bias else None
    ty = F.conv2d(tx, tw, tb, stride=stride, padding=padding, dilation=dilation)
    (ty * Tensor(r[None])).sum().backward()
    assert S.to_data(y) == ty.numpy()[0].tolist()
    assert S.to_grad(vx) == tx.grad.numpy()[0].tolist()
    assert S.to_grad(vw) == tw.grad.numpy().tolist()
    if bias:
        assert S.to_grad(vb) == tb.grad.numpy().tolist()


def _flat(nested):
    if isinstance(nested, list):
        return [v for item in nested for v in _flat(item)]
    return [nested]


@given(c=st.integers(1, 2), h=st.integers(1, 6), w=st.integers(1, 6), k=st.integers(1, 3),
       stride=st.one_of(st.none(), st.integers(1, 3)), pad=st.integers(0, 1),
       seed=st.integers(0, 2**16))
def test_max_pool2d_agrees_exactly_including_ties(c, h, w, k, stride, pad, seed):
    pad = min(pad, k // 2)
    assume(h + 2 * pad >= k and w + 2 * pad >= k)
    rng = np.random.default_rng(seed)
    # few distinct values: many ties, which both engines must send to the first maximum
    x = np.vectorize(Fraction, otypes=[object])(rng.integers(-2, 3, size=(c, h, w)))
    vx = S.values(x.tolist(), "x")
    y = S.max_pool2d(vx, k, stride, pad)
    r = _fractions(np.shape(S.to_data(y)), rng)
    sum((yv * rv for yv, rv in zip(_flat(y), r.ravel(), strict=True)), Value(0)).backward()
    tx = Tensor(x[None], requires_grad=True)
    ty = F.max_pool2d(tx, k, stride, pad)
    (ty * Tensor(r[None])).sum().backward()
    assert S.to_data(y) == ty.numpy()[0].tolist()
    assert S.to_grad(vx) == tx.grad.numpy()[0].tolist()


def test_max_pool2d_tie_goes_to_the_first_max_in_row_major_order():
    x = S.values([[1, 7, 7], [7, 2, 7]], "x")
    y = S.max_pool2d(x, (2, 3))
    y[0][0].backward()
    assert S.to_grad(x) == [[0, 1, 0], [0, 0, 0]]


@given(n_classes=st.integers(1, 5), scale=st.sampled_from([1.0, 50.0, 1e4]),
       seed=st.integers(0, 2**16))
def test_softmax_log_softmax_cross_entropy_agree_with_the_tensor_engine(n_classes, scale,
                                                                        seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=n_classes) * scale
    target = int(rng.integers(0, n_classes))
    z = S.values(logits.tolist(), "z")
    loss = S.cross_entropy(z, target)
    loss.backward()
    tz = Tensor(logits[None], requires_grad=True)
    tloss = F.cross_entropy(tz, np.array([target]))
    tloss.backward()
    assert math.isclose(loss.data, tloss.item(), rel_tol=1e-12, abs_tol=1e-12)
    np.testing.assert_allclose(S.to_grad(z), tz.grad.numpy()[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(S.to_data(S.softmax(z)), F.softmax(logits[None]).numpy()[0],
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(S.to_data(S.log_softmax(z)),
                               F.log_softmax(logits[None]).numpy()[0], rtol=1e-12, atol=1e-12)


def test_relu_agrees_and_has_zero_slope_at_zero():
    x = S.values([[-1, 0], [Fraction(1, 2), 3]], "x")
    y = S.relu(x)
    sum(_flat(y), Value(0)).backward()
    tx = Tensor(np.array([[-1.0, 0.0], [0.5, 3.0]]), requires_grad=True)
    F.relu(tx).sum().backward()
    assert S.to_data(y) == tx.relu().numpy().tolist()
    assert S.to_grad(x) == tx.grad.numpy().tolist() == [[0, 0], [1, 1]]


def test_a_symbolic_3x3_convolution():
    """The teacher's example: every derivative of a written-out 3x3 convolution, exactly."""
    xs = sp.Matrix(4, 4, lambda i, j: sp.Symbol(f"x{i}{j}"))
    ws = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"w{i}{j}"))
    bias = sp.Symbol("b")
    x, w = S.values(xs.tolist(), "x"), S.values(ws.tolist(), "w")
    y = S.conv2d(x, w, b=Value(bias, "b"))
    assert np.shape(S.to_data(y)) == (2, 2)
    loss = y[0][0] * y[1][1]
    loss.backward()
    expr = loss.data
    for i in range(3):
        for j in range(3):
            assert sp.expand(w[i][j].grad - sp.diff(expr, ws[i, j])) == 0
    for i in range(4):
        for j in range(4):
            assert sp.expand(x[i][j].grad - sp.diff(expr, xs[i, j])) == 0
    # y[0][0] is the cross-correlation (no kernel flip)
    expected = sum(ws[p, q] * xs[p, q] for p in range(3) for q in range(3)) + bias
    assert sp.expand(y[0][0].data - expected) == 0
    assert x[0][1].label == "x[0,1]"


def test_symbolic_cross_entropy_gradient_is_softmax_minus_one_hot():
    a, b, c = sp.symbols("a b c", real=True)
    z = S.values([a, b, c], "z")
    loss = S.cross_entropy(z, 2)
    loss.backward()
    total = sp.exp(a) + sp.exp(b) + sp.exp(c)
    expected = [sp.exp(a) / total, sp.exp(b) / total, sp.exp(c) / total - 1]
    for v, e in zip(z, expected, strict=True):
        assert sp.simplify(v.grad - e) == 0
    assert sp.simplify(loss.data - (sp.log(total) - c)) == 0


def test_symbolic_max_pool_is_a_max_with_heaviside_gradients():
    p, q = sp.symbols("p q", real=True)
    x = S.values([[p, q]], "x")
    y = S.max_pool2d(x, (1, 2))
    y[0][0].backward()
    assert y[0][0].data == sp.Max(p, q)
    assert x[0][0].grad.subs({p: 2, q: 1}) == 1 and x[0][1].grad.subs({p: 2, q: 1}) == 0
    assert x[0][0].grad.subs({p: 1, q: 1}) == 1  # a tie goes to the first


def test_values_labels_and_readback():
    v = S.values([[1, 2], [3, 4]], "k")
    assert [[e.label for e in row] for row in v] == [["k[0,0]", "k[0,1]"], ["k[1,0]", "k[1,1]"]]
    assert S.to_data(v) == [[1, 2], [3, 4]]
    assert S.values(v, "other")[0][0] is v[0][0]
    assert S.values(7, "b").label == "b"


def test_multichannel_conv_with_plain_number_weights():
    """Plain numbers in the nested lists are constants; only Values get gradients."""
    x = S.values([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], "x")
    w = [[[[1]], [[-1]]]]  # (O=1, C=2, 1, 1), constants
    y = S.conv2d(x, w, b=[10], padding=1, stride=2)
    assert S.to_data(y) == [[[10, 10], [10, 6]]]
    y[0][1][1].backward()
    assert S.to_grad(x) == [[[0, 0], [0, 1]], [[0, 0], [0, -1]]]
