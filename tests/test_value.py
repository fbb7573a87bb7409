"""`Value`, the scalar engine: exact on Fractions, symbolic on SymPy, deep and diamond graphs."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_cnn import Tensor, Value


def test_every_op_matches_sympy_diff():
    a, b, c = sp.symbols("a b c", positive=True)
    va, vb, vc = Value(a), Value(b), Value(c)
    # every Value op: + - * / ** neg exp log relu tanh, with Values and plain numbers
    e = (va * vb + (vc / va).exp()).log() - vb.tanh() ** 2 / (1 + va) + (-vc) ** 3
    e = e + 2 * va - vb / 3 + 4 - vc + (1 - va) * (va - vb).tanh() + va ** Fraction(1, 2)
    e = e + (va * vb).relu() + 5 / (vb + vc)
    e.backward()
    expr = e.data
    assert expr.free_symbols == {a, b, c}
    for sym, v in ((a, va), (b, vb), (c, vc)):
        assert sp.simplify(v.grad - sp.diff(expr, sym)) == 0, sym


def test_relu_and_maximum_on_symbols_are_heaviside_steps():
    x, y = sp.symbols("x y", real=True)
    vx, vy = Value(x), Value(y)
    r = vx.relu() + vx.maximum(vy) * 3
    r.backward()
    expected_x = sp.diff(sp.Max(0, x) + 3 * sp.Max(x, y), x)
    expected_y = sp.diff(sp.Max(0, x) + 3 * sp.Max(x, y), y)
    # compare away from the kinks, where sympy.diff is defined
    for xv, yv in [(2, 1), (-1, 3), (Fraction(1, 2), Fraction(-1, 3)), (-2, -5)]:
        subs = {x: xv, y: yv}
        assert sp.simplify(vx.grad.subs(subs) - expected_x.subs(subs)) == 0
        assert sp.simplify(vy.grad.subs(subs) - expected_y.subs(subs)) == 0
    # at the kink relu'(0) = 0 and a tie of maximum splits evenly, as on numbers
    assert vx.grad.subs({x: 0, y: 1}) == 0
    assert vx.grad.subs({x: 1, y: 1}) == 1 + sp.Rational(3, 2)
    assert vy.grad.subs({x: 1, y: 1}) == sp.Rational(3, 2)


def test_exp_and_log_of_sympy_values_stay_symbolic():
    half = Value(sp.Rational(1, 2))
    y = half.exp() * half.log()
    y.backward()
    assert y.data == sp.exp(sp.Rational(1, 2)) * sp.log(sp.Rational(1, 2))
    assert sp.simplify(half.grad - (sp.exp(sp.Rational(1, 2)) * (sp.log(sp.Rational(1, 2))
                                                                   + 2))) == 0


def test_fractions_are_exact():
    x, y = Value(Fraction(1, 3)), Value(Fraction(-2, 5))
    z = x * y / (x - y) + x**3 - 2 / y + (-x) * 7
    z.backward()
    xd, yd = Fraction(1, 3), Fraction(-2, 5)
    assert z.data == xd * yd / (xd - yd) + xd**3 - 2 / yd - 7 * xd
    # d/dx [xy/(x-y)] = -y²/(x-y)², d/dy = x²/(x-y)²
    assert x.grad == -(yd**2) / (xd - yd) ** 2 + 3 * xd**2 - 7
    assert y.grad == xd**2 / (xd - yd) ** 2 + 2 / yd**2
    for v in (z.data, x.grad, y.grad):
        assert isinstance(v, Fraction)


def test_integer_data_stays_exact_under_division():
    x = Value(2)
    y = x**-1 + 1 / x
    y.backward()
    assert y.data == 1 and x.grad == Fraction(-1, 2)
    assert isinstance(x.grad, Fraction)


def test_chain_of_100000_ops_needs_no_recursion():
    limit = sys.getrecursionlimit()
    x = Value(Fraction(1, 2))
    y = x
    for _ in range(100_000):
        y = y + 1
    y.backward()
    assert x.grad == 1 and y.data == Fraction(200_001, 2)
    assert sys.getrecursionlimit() == limit


def test_diamond_graphs_accumulate_through_non_leaf_nodes():
    x = Value(Fraction(3))
    y = x * x  # non-leaf used three times
    z = y + y * y
    z.backward()
    assert x.grad == 2 * 3 + 4 * 3**3
    assert y.grad == 1 + 2 * 9
    x = Value(2.0)
    z = x + x + x * x  # a leaf used four times
    z.backward()
    assert x.grad == 6.0


def test_leaf_grads_accumulate_and_inner_grads_are_reset():
    x = Value(Fraction(2))
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad == 8  # accumulated, as in PyTorch
    assert y.grad == 1  # reset before each backward


def test_relu_prime_at_zero_is_zero_and_maximum_ties_split():
    x = Value(0.0)
    x.relu().backward()
    assert x.grad == 0
    a, b = Value(Fraction(1)), Value(Fraction(1))
    a.maximum(b).backward()
    assert (a.grad, b.grad) == (Fraction(1, 2), Fraction(1, 2))
    a, b = Value(1), Value(2)
    a.maximum(b).backward()
    assert (a.grad, b.grad) == (0, 1)


def test_bad_inputs_raise_type_errors():
    with pytest.raises(TypeError, match="already a Value"):
        Value(Value(1))
    with pytest.raises(TypeError, match=r"Value \*\* Value"):
        Value(2) ** Value(3)
    with pytest.raises(ValueError, match="non-positive"):
        Value(-1.0).log()


def test_float_exp_past_the_float_range_is_inf_as_in_numpy():
    big = Value(1000.0)
    y = big.exp()
    with np.errstate(over="ignore"):
        assert y.data == math.inf == float(np.exp(np.float64(1000.0)))
    y.backward()
    assert big.grad == math.inf
    assert Value(-1000.0).exp().data == 0.0


def _expression(x, y):
    """One expression written once for floats-as-Value and 0-d Tensors (minitorch's idea)."""
    return (x * y + x.exp() - (y * y + 1).log() / 2 + x.tanh() ** 2 + (-x).relu() / (y * y + 1)
            + (x - y).maximum(y * 0.5) * 3 - 1 / (x * x + 2))


@given(x=st.floats(-2, 2), y=st.floats(-2, 2))
def test_scalar_and_tensor_engines_agree(x, y):
    vx, vy = Value(x), Value(y)
    v = _expression(vx, vy)
    v.backward()
    tx = Tensor(np.array(x), requires_grad=True)
    ty = Tensor(np.array(y), requires_grad=True)
    t = _expression(tx, ty)
    t.backward()
    assert math.isclose(v.data, t.item(), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(vx.grad, tx.grad.item(), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(vy.grad, ty.grad.item(), rel_tol=1e-12, abs_tol=1e-12)
