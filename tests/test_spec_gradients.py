"""Tests of spec.gradients: the derivative table, p − y, the conv backward and pooling."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import spec.gradients as grads
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, primitives


def test_derivative_table_checks_every_primitive() -> None:
    it = grads.derivative_table()
    assert it.passed, it.details["failed"]
    assert set(it.engine) == set(primitives.TABLE)
    assert all(it.engine.values())
    rows = {r["primitive"]: r for r in it.details["rows"]}
    assert rows["max"]["examples"][0]["tie_to_first_max"]
    assert rows["max"]["examples"][0]["float64_float32"]
    assert rows["maximum"]["examples"][0]["tie -> 1/2 to the first"]  # torch.maximum
    assert rows["maximum"]["examples"][1]["tie -> 1 to the first"]  # relu
    assert rows["maximum"]["examples"][0]["float32"]
    assert all(e["constant_jacobian"] for e in rows["window"]["examples"])


def test_a_primitive_without_a_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    class Cube(primitives.Primitive):
        name, kind = "cube", "elementwise"
        examples = ((((2,),), {}),)

        def forward(self, a):
            return a * a * a

        def vjp(self, g, out, a):
            return (g * 3 * a * a,)

    monkeypatch.setitem(primitives.TABLE, "cube", Cube)
    it = grads.derivative_table()
    assert not it.passed
    assert it.details["failed"] == ["cube"]


def test_a_wrong_rule_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    class WrongTanh(primitives.Tanh):
        def vjp(self, g, out, a):
            return (g * (1 - out),)  # should be 1 - out²

    class WrongWindow(primitives.Window):
        def vjp(self, g, out, a):
            (grad,) = super().vjp(g, out, a)
            grad = grad.copy()
            grad[..., 0, 0] = 0  # forgets one scatter-add
            return (grad,)

    class WrongMax(primitives.Max):
        def vjp(self, g, out, a):  # last arg-max instead of the first on ties
            flipped = np.flip(a, axis=self.axis)
            index = a.shape[self.axis] - 1 - np.argmax(flipped, axis=self.axis, keepdims=True)
            grad = np.zeros(a.shape, dtype=object)
            grad[...] = 0
            g = g if self.keepdims else np.expand_dims(g, self.axis)
            np.put_along_axis(grad, index, g, axis=self.axis)
            return (grad,)

    monkeypatch.setitem(primitives.TABLE, "tanh", WrongTanh)
    monkeypatch.setitem(primitives.TABLE, "window", WrongWindow)
    monkeypatch.setitem(primitives.TABLE, "max", WrongMax)
    it = grads.derivative_table()
    assert sorted(it.details["failed"]) == ["max", "tanh", "window"]
    rows = {r["primitive"]: r for r in it.details["rows"]}
    wrong_max = rows["max"]["examples"][0]
    assert wrong_max["distinct_rationals"] and not wrong_max["tie_to_first_max"]


def test_max_partial() -> None:
    values = [sp.Rational(1, 3), sp.Integer(2), sp.Rational(-1, 2)]
    assert [grads.max_partial(values, i) for i in range(3)] == [0, 1, 0]


def test_softmax_cross_entropy_item() -> None:
    it = grads.softmax_cross_entropy()
    assert it.passed
    assert it.engine["exact"]
    assert all(err < 1e-14 for err in it.engine["float64_max_error"].values())


def test_cross_entropy_gradient_is_p_minus_y_in_fractions_of_exp() -> None:
    # an independent exact check: logits 0 and log-free structure, p = (1/2, 1/2)
    x = Tensor(np.array([[sp.Integer(0), sp.Integer(0)]], dtype=object), requires_grad=True)
    F.cross_entropy(x, np.array([1]), reduction="sum").backward()
    assert [sp.simplify(v) for v in x.grad.numpy()[0]] == [sp.Rational(1, 2),
                                                            sp.Rational(-1, 2)]


def test_exact_equal_exp_rejects_a_wrong_value() -> None:
    e = sp.exp
    assert grads._exact_equal_exp(e(1) / (e(1) + e(sp.Rational(1, 2))),
                                  1 / (1 + e(sp.Rational(-1, 2))))
    assert not grads._exact_equal_exp(e(1) / (e(1) + e(sp.Rational(1, 2))),
                                      1 / (1 + e(sp.Rational(-1, 3))))


def test_conv_backward_item() -> None:
    it = grads.conv_backward()
    assert it.passed
    first = it.details["rows"][0]
    assert first["identities"]["dX = full_corr(dY, rot180(W))"]
    assert first["config"]["C"] == 2 and first["config"]["O"] == 2
    assert all(all(r["engine"].values()) for r in it.details["rows"])


def test_im2col_col2im_are_adjoint() -> None:
    # <im2col(x), c> = <x, col2im(c)> on integers, stride 2 and padding 1
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(1, 2, 5, 5)).astype(object)
    cols = grads.im2col(x, 3, stride=2, padding=1)
    c = rng.integers(-3, 4, size=cols.shape).astype(object)
    back = grads.col2im(c, x.shape, 3, stride=2, padding=1)
    assert (cols * c).sum() == (x * back).sum()


def test_conv_input_gradient_is_full_correlation_with_flipped_kernel() -> None:
    # independent of the spec: Fractions through the engine, the rule written out by hand
    rng = np.random.default_rng(1)
    x = np.vectorize(Fraction, otypes=[object])(rng.integers(-4, 5, (1, 1, 4, 4)))
    w = np.vectorize(Fraction, otypes=[object])(rng.integers(-4, 5, (1, 1, 2, 2)))
    g = np.vectorize(Fraction, otypes=[object])(rng.integers(-4, 5, (1, 1, 3, 3)))
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    F.conv2d(xt, wt).backward(g)
    gp = np.pad(g[0, 0], 1, constant_values=Fraction(0))
    rot = w[0, 0, ::-1, ::-1]
    want = np.array([[sum(gp[i + p, j + q] * rot[p, q] for p in range(2) for q in range(2))
                      for j in range(4)] for i in range(4)], dtype=object)
    assert (xt.grad.numpy()[0, 0] == want).all()


def test_pooling_backward_item() -> None:
    it = grads.pooling_backward()
    assert it.passed
    assert len(it.engine) == 15 and all(it.engine.values())
    assert it.engine["max_pool ties -> first max, k=2 s=1, float32"]
    assert it.details["avg_counts_4x4_k3_s1"][0] == ["1/9", "2/9", "2/9", "1/9"]
    assert it.details["avg_counts_4x4_k3_s1"][1][1] == "4/9"
