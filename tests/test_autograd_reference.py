"""autograd._drain (the backward loop with its fast paths) against _drain_reference (the
same loop written plainly): the same gradients, bit for bit, on graphs that take every
fast path (two parents, a constant operand, a node used twice, one and three parents)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, Value, autograd


def _conv_net(rng):
    x = Tensor(rng.standard_normal((2, 3, 7, 7)))  # a constant input: needs=(…, False)
    w1 = Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b1 = Tensor(rng.standard_normal(4), requires_grad=True)
    w2 = Tensor(rng.standard_normal((5, 4, 3, 3)), requires_grad=True)
    h = F.conv2d(x, w1, b1, padding=1).relu()
    h = h + h * 0.5  # h used twice (a diamond)
    y = F.max_pool2d(F.conv2d(h, w2, stride=2), 2)
    loss = F.cross_entropy(y.reshape(2, -1), np.array([1, 3]))
    return loss, (w1, b1, w2)


def _exact_graph(rng):
    x = Tensor(np.array([[Fraction(int(v), 7) for v in row] for row in
                         rng.integers(-9, 9, (3, 4))], dtype=object), requires_grad=True)
    c = Tensor(np.array([[Fraction(int(v), 3)] for v in rng.integers(-5, 5, 4)],
                        dtype=object))
    y = (x @ c) * x.sum(axis=1, keepdims=True) + x.max(axis=1, keepdims=True)
    return y.sum(), (x,)


def _grads(build, monkeypatch, reference: bool):
    if reference:
        monkeypatch.setattr(autograd, "_drain", autograd._drain_reference)
    loss, leaves = build(np.random.default_rng(0))
    loss.backward()
    monkeypatch.undo()
    return [leaf.grad.numpy() for leaf in leaves]


@pytest.mark.parametrize("build", [_conv_net, _exact_graph])
def test_fast_and_reference_backward_agree_bit_for_bit(build, monkeypatch):
    fast = _grads(build, monkeypatch, reference=False)
    plain = _grads(build, monkeypatch, reference=True)
    for f, p in zip(fast, plain, strict=True):
        assert f.dtype == p.dtype
        assert np.array_equal(f, p)  # exact: same products, same order of accumulation


def test_fast_and_reference_agree_on_the_scalar_engine(monkeypatch):
    def build():
        a, b = Value(1.5), Value(-0.4)
        c = a * b + a
        d = (c * c).relu() + (b * a).tanh() * 0 + c.exp().log()
        return d, (a, b)

    results = []
    for reference in (False, True):
        if reference:
            monkeypatch.setattr(autograd, "_drain", autograd._drain_reference)
        d, leaves = build()
        d.backward()
        results.append([v.grad for v in leaves])
        monkeypatch.undo()
    assert results[0] == results[1]
    assert results[0][0] != 0  # something flowed


def test_the_reference_frees_the_graph_like_the_fast_loop(monkeypatch):
    monkeypatch.setattr(autograd, "_drain", autograd._drain_reference)
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    y = (w * w).sum()
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), 2 * np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()
