"""The derivative table, entry by entry.

- every entry of ``TABLE`` gets a float64 central-difference check of its VJP on each of
  its own ``examples`` (a new primitive without an input recipe here fails);
- hypothesis draws shapes and parameters for the movement, reduction and contraction
  entries (window: strides above the kernel, windows that do not tile the input);
- every linear entry (and matmul in each argument) passes the adjoint identity
  ``<A x, u> == <x, Aᵀ u>`` exactly, on Fraction object arrays.
"""

from __future__ import annotations

import zlib
from fractions import Fraction

import numpy as np
import pytest
from conftest import check_gradients, distinct
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_cnn import Tensor
from tinygrad_cnn import primitives as P

TABLE = P.TABLE


# Inputs for a float64 gradient check, per primitive: (rng, shapes, params) -> arrays.
def _uniform(rng, shapes, params):
    return [rng.uniform(-1.5, 1.5, size=s) for s in shapes]


def _positive(rng, shapes, params):
    return [rng.uniform(0.5, 2.0, size=s) for s in shapes]


def _tie_free(rng, shapes, params):
    # one spread of distinct values shared by all inputs: no tie within or across inputs
    total = sum(int(np.prod(s)) for s in shapes)
    flat = distinct(total, rng)
    out, start = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(flat[start:start + n].reshape(s))
        start += n
    return out


INPUTS = {
    "add": _uniform, "mul": _uniform, "pow": _positive, "exp": _uniform, "log": _positive,
    "tanh": _uniform, "maximum": _tie_free, "sum": _uniform, "max": _tie_free,
    "reshape": _uniform, "permute": _uniform, "expand": _uniform, "pad": _uniform,
    "slice": _uniform, "window": _uniform, "matmul": _uniform, "power": _positive,
    "gather": _uniform,
}

CASES = [(name, shapes, params) for name, cls in TABLE.items()
         for shapes, params in cls.examples]


def _apply(name: str, params: dict):
    """f(*tensors) applying a fresh instance of the primitive (entries may keep state)."""
    def f(*tensors: Tensor) -> Tensor:
        return Tensor._apply(TABLE[name](**params), *tensors)
    return f


def test_every_primitive_has_a_gradient_recipe_and_examples():
    assert set(TABLE) == set(INPUTS), "a primitive without a gradient test (or a stale one)"
    for name, cls in TABLE.items():
        assert cls.name == name
        assert cls.examples, f"{name}: no examples for the checks"
        assert cls.formula and cls.vjp_formula, f"{name}: formula missing"
        assert cls.kind in ("elementwise", "reduction", "movement", "contraction")
        for shapes, _ in cls.examples:
            assert len(shapes) == cls.arity


@pytest.mark.parametrize(("name", "shapes", "params"), CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_vjp_matches_central_differences(name, shapes, params):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = INPUTS[name](rng, shapes, params)
    check_gradients(_apply(name, params), *arrays)


def test_pow_with_a_fractional_exponent():
    rng = np.random.default_rng(0)
    check_gradients(_apply("pow", {"exponent": 0.5}), rng.uniform(0.5, 2, size=(3, 2)))
    check_gradients(_apply("pow", {"exponent": -2.5}), rng.uniform(0.5, 2, size=(4,)))


# ------------------------------------------------------------------ hypothesis: shapes

shape_st = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@given(shape=shape_st, data=st.data())
def test_sum_and_max_over_drawn_axes(shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    keepdims = data.draw(st.booleans())
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    check_gradients(_apply("sum", {"axis": axes, "keepdims": keepdims}),
                    rng.uniform(-1, 1, size=shape))
    check_gradients(_apply("max", {"axis": axis, "keepdims": keepdims}),
                    distinct(shape, rng))


@given(shape=st.lists(st.integers(0, 4), max_size=4), data=st.data(),
       dtype=st.sampled_from([np.float32, np.float64, object]))
def test_sum_forward_and_vjp_equal_numpy(shape, data, dtype):
    # Sum sums all axes with ndarray.sum and builds its VJP's broadcast view directly
    # (strides 0 on the summed axes): the same values as np.sum / np.broadcast_to, a
    # read-only view, for every shape (empty ones included), also of a transposed gradient
    shape = tuple(shape)
    axis = tuple(sorted(data.draw(st.sets(st.integers(0, max(len(shape) - 1, 0)),
                                          max_size=len(shape)))))
    axis = axis if shape else ()
    keepdims = data.draw(st.booleans())
    rng = np.random.default_rng(0)
    a = rng.uniform(-2, 2, size=shape)
    if dtype is object:
        a = np.array([Fraction(v).limit_denominator(64) for v in a.ravel()] + [None],
                     dtype=object)[:-1].reshape(shape)
    else:
        a = a.astype(dtype)
    op = P.Sum(axis, keepdims)
    out = op.forward(a)
    expected = np.asarray(np.sum(a, axis=axis, keepdims=keepdims))
    assert out.shape == expected.shape and out.dtype == a.dtype
    if dtype is object:
        assert out.tolist() == np.asarray(expected).tolist()
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    g = rng.uniform(-1, 1, size=out.shape).astype(out.dtype)
    if g.ndim == 2:  # a transposed (non-contiguous) gradient takes NumPy's path
        g = np.ascontiguousarray(g.T).T
    (grad,) = op.vjp(g, out, a)
    kept = tuple(1 if i in axis else n for i, n in enumerate(shape))
    assert grad.shape == a.shape and not grad.flags.writeable
    assert np.array_equal(grad, np.broadcast_to(np.reshape(g, kept), shape))


@pytest.mark.parametrize("shape, axis", [((64, 8, 8, 8), (0, 2, 3)), ((64, 16, 4, 4), (0, 2, 3)),
                                         ((64, 10), (0,)), ((3, 4, 5), (0, 2)),
                                         ((2, 3, 4, 5), (0, 1, 3)), ((2, 3, 4, 5), (2, 3)),
                                         ((2, 3, 4, 5), (0, 2)), ((1, 7, 1), (0, 2)),
                                         ((2, 100, 3), (0, 2)), ((100, 3, 2), (0, 2)),
                                         ((8, 4096), (1,)), ((4, 3 * 2**16), (1,))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_over_leading_and_trailing_axes_equal_numpy(shape, axis, dtype):
    # the products with ones (a bias gradient: N, H, W summed) against np.sum in float64,
    # through Sum and through Expand's VJP, with and without keepdims
    a = np.random.default_rng(1).uniform(-1, 1, size=shape).astype(dtype)
    exact = np.sum(a.astype(np.float64), axis=axis, keepdims=True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for keepdims in (True, False):
        out = P.Sum(axis, keepdims).forward(a)
        assert out.dtype == dtype and out.shape == np.sum(a, axis=axis, keepdims=keepdims).shape
        np.testing.assert_allclose(out.reshape(exact.shape), exact, rtol=tol, atol=tol)
    (back,) = P.Expand(shape).vjp(a, a, np.zeros(exact.shape, dtype))
    np.testing.assert_allclose(back, exact, rtol=tol, atol=tol)


@given(shape=shape_st, data=st.data())
def test_movement_entries_on_drawn_shapes(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.uniform(-1, 1, size=shape)
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    check_gradients(_apply("permute", {"axes": axes}), x)
    check_gradients(_apply("reshape", {"shape": (x.size,)}), x)
    pads = tuple(data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2))) for _ in shape)
    check_gradients(_apply("pad", {"pad_width": pads, "value": 0}), x)
    index = []
    for n in shape:
        start = data.draw(st.integers(0, n - 1))
        stop = data.draw(st.integers(start + 1, n))
        index.append(slice(start, stop, data.draw(st.integers(1, 3))))
    check_gradients(_apply("slice", {"index": tuple(index)}), x)
    ones = tuple(1 if data.draw(st.booleans()) else n for n in shape)
    big = tuple(data.draw(st.integers(1, 3)) if m == 1 else m for m in ones)
    check_gradients(_apply("expand", {"shape": big}), rng.uniform(-1, 1, size=ones))


@st.composite
def window_case(draw):
    """A window that fits; often stride > kernel and windows that do not tile the input."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = tuple(d * (k - 1) + 1 + draw(st.integers(0, 4))
               for k, d in zip(kernel, dilation, strict=True))
    lead = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    return (*lead, *hw), {"kernel": kernel, "stride": stride, "dilation": dilation}


@given(case=window_case(), seed=st.integers(0, 2**16))
def test_window_on_drawn_shapes(case, seed):
    shape, params = case
    x = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    out = check_gradients(_apply("window", params), x)
    # the view is what the formula says: z[..., i, j, p, q] = x[..., i·sh + p·dh, j·sw + q·dw]
    (sh, sw), (dh, dw) = params["stride"], params["dilation"]
    for i, j, p, q in np.ndindex(out.shape[-4:]):
        assert np.array_equal(out.numpy()[..., i, j, p, q], x[..., i * sh + p * dh,
                                                                 j * sw + q * dw])


@given(m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4),
       batch=st.lists(st.integers(1, 3), max_size=2), seed=st.integers(0, 2**16))
def test_matmul_on_drawn_shapes(m, k, n, batch, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, size=(*batch, m, k))
    b = rng.uniform(-1, 1, size=(*batch, k, n))
    check_gradients(_apply("matmul", {}), a, b)


# ------------------------------------------------------------------- tie conventions


def test_maximum_tie_splits_evenly_and_relus_goes_to_the_first_argument():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0])
    ga, gb = P.MAXIMUM.vjp(np.ones(3), np.maximum(a, b), a, b)
    assert ga.tolist() == [0.5, 1.0, 0.0]  # torch.maximum splits a tie
    assert gb.tolist() == [0.5, 0.0, 1.0]
    assert P.MAXIMUM.vjp(5, 2, 2, 2) == (Fraction(5, 2), Fraction(5, 2))  # the Value path
    ga, gb = P.MAXIMUM_FIRST.vjp(np.ones(3), np.maximum(a, b), a, b)  # relu / max-pool
    assert ga.tolist() == [1.0, 1.0, 0.0]
    assert gb.tolist() == [0.0, 0.0, 1.0]
    assert P.MAXIMUM_FIRST.vjp(5, 2, 2, 2) == (5, 0)


def test_max_reduction_tie_goes_to_the_first_maximum():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    op = P.Max(axis=1)
    out = op.forward(x)
    (grad,) = op.vjp(np.array([10.0, 20.0]), out, x)
    assert grad.tolist() == [[0.0, 10.0, 0.0], [20.0, 0.0, 0.0]]


# --------------------------------------------------------------- adjoint pairs, exact


def _fractions(shape, rng) -> np.ndarray:
    """An object array of random Fractions (small numerators and denominators)."""
    num = rng.integers(-9, 10, size=shape)
    den = rng.integers(1, 8, size=shape)
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Fraction(int(num[index]), int(den[index]))
    return out


def _inner(a, b) -> Fraction:
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    assert a.shape == b.shape
    return sum((x * y for x, y in zip(a.ravel(), b.ravel(), strict=True)), Fraction(0))


LINEAR = [name for name, cls in TABLE.items() if cls.linear]
ADJOINT_CASES = [(name, shapes, params) for name in LINEAR
                 for shapes, params in TABLE[name].examples]
ADJOINT_CASES += [("matmul@0", shapes, params) for shapes, params in TABLE["matmul"].examples]
ADJOINT_CASES += [("matmul@1", shapes, params) for shapes, params in TABLE["matmul"].examples]


def test_linear_entries_are_the_movement_ops_sum_and_add():
    assert set(LINEAR) == {"add", "sum", "reshape", "permute", "expand", "pad", "slice",
                           "gather", "window"}
    assert not TABLE["matmul"].linear  # bilinear: checked one argument at a time


@pytest.mark.parametrize(("name", "shapes", "params"), ADJOINT_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(ADJOINT_CASES)])
def test_adjoint_identity_exact(name, shapes, params):
    """<A x, u> == <x, Aᵀ u> with zero tolerance, Aᵀ being the entry's VJP."""
    rng = np.random.default_rng(7)
    xs = [_fractions(s, rng) for s in shapes]
    if name.startswith("matmul@"):
        k = int(name[-1])
        fixed = xs[1 - k]
        op = P.MatMul()

        def forward(x):
            return op.forward(*((x, fixed) if k == 0 else (fixed, x)))

        def transpose(u, out, x):
            args = (x, fixed) if k == 0 else (fixed, x)
            return (op.vjp(u, out, *args)[k],)

        xs = [xs[k]]
    else:
        op = TABLE[name](**params)

        def forward(*x):
            return op.forward(*x)

        def transpose(u, out, *x):
            return op.vjp(u, out, *x)

    out = np.asarray(forward(*xs))
    assert out.dtype == object, "exact arithmetic was lost"
    u = _fractions(out.shape, rng)
    grads = transpose(u, out, *xs)
    lhs = _inner(out, u)
    rhs = sum((_inner(x, g) for x, g in zip(xs, grads, strict=True)), Fraction(0))
    assert isinstance(lhs, Fraction) and isinstance(rhs, Fraction)
    assert lhs == rhs


@given(case=window_case(), seed=st.integers(0, 2**16))
def test_window_adjoint_exact_on_drawn_shapes(case, seed):
    shape, params = case
    rng = np.random.default_rng(seed)
    x = _fractions(shape, rng)
    op = P.Window(**params)
    out = op.forward(x)
    u = _fractions(out.shape, rng)
    (back,) = op.vjp(u, out, x)
    assert _inner(out, u) == _inner(x, back)


# ------------------------------------------------------- saves: what a VJP may read


def _needs_cases(cls) -> list[tuple[bool, ...]]:
    if cls.arity == 2:
        return [(True, True), (True, False), (False, True)]
    return [(True,) * cls.arity]


@pytest.mark.parametrize(("name", "shapes", "params"), CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_a_vjp_reads_no_values_but_the_ones_it_saves(name, shapes, params):
    """The engine fingerprints only the arrays in ``saves`` and may drop the others' values
    (`Tensor._forget`): a VJP given NaN for every array it does not save (for a crossed
    entry: an operand whose partner needs no gradient) must return the same gradients."""
    cls = TABLE[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()) + 1)
    arrays = INPUTS[name](rng, shapes, params)
    op = cls(**params)
    out = np.asarray(op.forward(*arrays))
    g = rng.uniform(-1, 1, size=out.shape)
    for needs in _needs_cases(cls):
        saves = set(cls.saves)
        if cls.crossed:
            saves = {i for i in (0, 1) if needs[1 - i]}
        blank = [a if i in saves else np.full(np.shape(a), np.nan) for i, a in
                 enumerate(arrays)]
        blank_out = out if "out" in saves else np.full(out.shape, np.nan)
        kwargs = {"needs": needs} if cls.arity == 2 else {}
        # (the instance that ran forward: max keeps its arg-max from there)
        want = op.vjp(g, out, *arrays, **kwargs)
        got = op.vjp(g, blank_out, *blank, **kwargs)
        for i, need in enumerate(needs):
            if need:
                np.testing.assert_array_equal(got[i], want[i], err_msg=f"{name}, input {i}, "
                                              f"needs={needs}: the VJP read an unsaved array")
