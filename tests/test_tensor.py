"""`Tensor`: composite ops against central differences, and the autograd core.

Core properties: deep chains without recursion, diamond graphs (a node used twice,
leaf or not), backward twice without ``retain_graph``, leaf accumulation, ``no_grad``,
integer tensors, dtype preservation and broadcasting gradients.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
from conftest import away_from_zero, check_gradients, distinct
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_cnn import Tensor, is_grad_enabled, no_grad

RNG = np.random.default_rng(0)


def _u(*shape):
    return RNG.uniform(-1.5, 1.5, size=shape)


# ----------------------------------------------------------- composites vs differences

WEIGHTS_3X4 = _u(3, 4)  # a fixed constant (the function must be the same on every call)

COMPOSITES = {
    "sub": (lambda a, b: a - b, [_u(2, 3), _u(2, 3)]),
    "rsub": (lambda a: 2.5 - a, [_u(3)]),
    "neg": (lambda a: -a, [_u(2, 2)]),
    "div": (lambda a, b: a / b, [_u(2, 3), away_from_zero((2, 3), RNG, 0.5)]),
    "rtruediv": (lambda a: 3.0 / a, [away_from_zero((4,), RNG, 0.5)]),
    "pow": (lambda a: a**3, [_u(2, 3)]),
    "rpow": (lambda a: 2.0**a, [_u(3, 2)]),
    "exp-log-tanh": (lambda a: (a.exp() + 1).log() * a.tanh(), [_u(2, 3)]),
    "sigmoid": (lambda a: a.sigmoid(), [_u(2, 4) * 3]),
    "relu": (lambda a: a.relu(), [away_from_zero((3, 4), RNG)]),
    "maximum": (lambda a, b: a.maximum(b), [*np.split(distinct(12, RNG), 2)]),
    "mean-all": (lambda a: a.mean(), [_u(2, 3, 4)]),
    "mean-axis": (lambda a: a.mean(axis=1), [_u(2, 3, 4)]),
    "mean-axes-keepdims": (lambda a: a.mean(axis=(0, 2), keepdims=True), [_u(2, 3, 4)]),
    "sum-negative-axis": (lambda a: a.sum(axis=-1), [_u(2, 3, 4)]),
    "max-all": (lambda a: a.max(), [distinct((2, 3, 4), RNG)]),
    "max-axes-0-2": (lambda a: a.max(axis=(0, 2)), [distinct((2, 3, 4), RNG)]),
    "max-axes-1-2-keepdims": (lambda a: a.max(axis=(1, 2), keepdims=True),
                              [distinct((2, 3, 4), RNG)]),
    "max-axes-2-0-3": (lambda a: a.max(axis=(2, 0, 3)), [distinct((2, 3, 2, 2), RNG)]),
    "getitem-int": (lambda a: a[1], [_u(3, 4)]),
    "getitem-negative": (lambda a: a[-1, 1:], [_u(3, 4)]),
    "getitem-steps": (lambda a: a[::2, 1::3], [_u(5, 7)]),
    "getitem-ellipsis": (lambda a: a[..., 2], [_u(2, 3, 4)]),
    "getitem-mixed": (lambda a: a[0, ..., 1:3], [_u(2, 3, 4)]),
    "matmul-2d": (lambda a, b: a @ b, [_u(2, 3), _u(3, 4)]),
    "matmul-1d-1d": (lambda a, b: a @ b, [_u(3), _u(3)]),
    "matmul-1d-2d": (lambda a, b: a @ b, [_u(3), _u(3, 2)]),
    "matmul-2d-1d": (lambda a, b: a @ b, [_u(2, 3), _u(3)]),
    "matmul-batched": (lambda a, b: a @ b, [_u(2, 2, 3), _u(2, 3, 4)]),
    "matmul-broadcast-batch": (lambda a, b: a @ b, [_u(3, 2, 3), _u(3, 4)]),
    "matmul-broadcast-both": (lambda a, b: a @ b, [_u(2, 1, 2, 3), _u(3, 3, 1)]),
    "matmul-1d-batched": (lambda a, b: a @ b, [_u(3), _u(2, 3, 2)]),
    "flatten": (lambda a: a.flatten(1) * Tensor(np.arange(24.0).reshape(2, 12)),
                [_u(2, 3, 4)]),
    "transpose-T": (lambda a: a.T @ a.transpose(-1, 0).T, [_u(2, 3)]),
    "reshape-permute": (lambda a: a.reshape(4, 3).permute(1, 0) * Tensor(WEIGHTS_3X4),
                        [_u(2, 6)]),
    "expand-pad": (lambda a: a.expand(3, 4).pad(((1, 0), (0, 2)), value=5.0), [_u(1, 4)]),
    "broadcast": (lambda a, b, c: a * b + c - a / 3, [_u(3, 1), _u(1, 4), _u(4)]),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_matches_central_differences(name):
    f, arrays = COMPOSITES[name]
    check_gradients(f, *arrays)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast together (some axes 1, some missing)."""
    full = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, len(full)))
        shapes.append(tuple(1 if draw(st.booleans()) else n for n in full[drop:]))
    return shapes


@given(shapes=broadcast_pair(), seed=st.integers(0, 2**16))
def test_broadcasting_gradients_are_summed_back(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(0.5, 1.5, size=s) for s in shapes)
    check_gradients(lambda x, y: x * y + x / y - y, a, b)
    # the gradient of a broadcast add is the upstream gradient summed over the copies
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = ta + tb
    out.sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    assert ta.grad.numpy().sum() == out.size and tb.grad.numpy().sum() == out.size


# ---------------------------------------------------------------------- autograd core


def test_chain_of_100000_tensor_ops_needs_no_recursion():
    limit = sys.getrecursionlimit()
    x = Tensor(np.array(0.5), requires_grad=True)
    one = Tensor(np.array(1.0))
    y = x
    for _ in range(100_000):
        y = y * one
    y.backward()
    assert x.grad.item() == 1.0
    assert sys.getrecursionlimit() == limit


def test_diamond_graph_accumulates_through_non_leaf_nodes():
    x = Tensor(np.array([3.0, -2.0]), requires_grad=True)
    y = x * x  # a non-leaf used three times below
    z = y + y * y
    z.sum().backward()
    assert x.grad.numpy().tolist() == (2 * x.numpy() + 4 * x.numpy() ** 3).tolist()
    # deeper: two paths of different lengths meeting again
    x = Tensor(np.array([0.5]), requires_grad=True)
    a = x.exp()
    b = a * 2
    c = (a + b).log() + b * a
    c.backward(np.ones(1))
    # c = log(3 e^x) + 2 e^{2x}  =>  dc/dx = 1 + 4 e^{2x}
    np.testing.assert_allclose(x.grad.numpy(), 1 + 4 * np.exp(2 * 0.5), rtol=1e-15)


def test_backward_twice_without_retain_graph_raises():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_and_leaf_grads_accumulate():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.numpy().tolist() == [4.0, 8.0]
    (x * 3).sum().backward()  # a new graph: still accumulates into the leaf
    assert x.grad.numpy().tolist() == [7.0, 11.0]
    x.zero_grad()
    assert x.grad is None


def test_no_grad_stops_recording_and_restores_the_flag():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = w * 2 + 1
    assert is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()
    with pytest.raises(ZeroDivisionError), no_grad():
        raise ZeroDivisionError
    assert is_grad_enabled()
    # a branch computed under no_grad is a constant for the rest of the graph
    with no_grad():
        c = w * 10
    (w * c).sum().backward()
    assert w.grad.numpy().tolist() == [10.0, 20.0]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_tensors_cannot_require_grad(dtype):
    with pytest.raises(TypeError, match="can require gradients, got dtype"):
        Tensor(np.zeros(3, dtype=dtype), requires_grad=True)
    assert not Tensor(np.zeros(3, dtype=dtype)).requires_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_in_outputs_and_gradients(dtype):
    import tinygrad_cnn.nn.functional as F

    rng = np.random.default_rng(1)
    x = Tensor(rng.normal(size=(2, 2, 5, 5)).astype(dtype), requires_grad=True)
    w = Tensor(rng.normal(size=(3, 2, 3, 3)).astype(dtype), requires_grad=True)
    b = Tensor(rng.normal(size=(3,)).astype(dtype), requires_grad=True)
    h = F.relu(F.conv2d(x, w, b, padding=1))
    h = F.max_pool2d(h, 2) + F.avg_pool2d(h, 2)
    logits = F.linear(F.flatten(h, 1), Tensor(rng.normal(size=(4, 12)).astype(dtype)))
    loss = F.cross_entropy(logits.sigmoid() * 2 - logits.tanh() / 3 + logits.mean() ** 2,
                           np.array([0, 3]))
    assert loss.dtype == dtype
    loss.backward()
    for t in (x, w, b):
        assert t.grad.dtype == dtype


def test_lists_and_numbers_become_float32_ndarrays_keep_their_dtype():
    assert Tensor([[1, 2], [3, 4]]).dtype == np.float32
    assert Tensor(2.5).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.int64
    assert Tensor(np.ones(2, dtype=np.float64)).dtype == np.float64
    assert (Tensor(np.ones(2, dtype=np.float32)) * 2.5 + 1).dtype == np.float32
    fr = Tensor([Fraction(1, 3), Fraction(2, 3)])
    assert fr.dtype == object


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_integer_tensor_arithmetic_follows_numpy(dtype):
    """An integer tensor (labels, counts) with an int stays integer; with a float, or
    divided, it becomes float64 with NumPy's values (no float32 rounding of 1/3)."""
    data = np.array([1, 2, 3], dtype=dtype)
    t = Tensor(data)
    cases = [(t + 1, data + 1), (t * 2, data * 2), (t / 3, data / 3), (2 / t, 2 / data),
             (t * 0.1, data * 0.1), (t ** -1, 1 / data.astype(np.float64)),
             (t ** 0.5, np.sqrt(data.astype(np.float64))), (t.mean(), np.mean(data))]
    for got, expected in cases:
        assert got.dtype == np.asarray(expected).dtype, (got, expected)
        assert got.numpy().tolist() == np.asarray(expected).tolist()
    assert (t + 1).dtype == dtype


def test_tensor_max_ties_as_pytorch():
    x = Tensor(np.array([1.0, 5.0, 5.0, 5.0]), requires_grad=True)
    x.max().backward()  # the full reduction splits evenly among the maxima (torch.max(x))
    assert x.grad.numpy().tolist() == [0.0, 1 / 3, 1 / 3, 1 / 3]
    x = Tensor(np.array([[2.0, 1.0], [2.0, 2.0]]), requires_grad=True)
    x.max(axis=(0, 1)).backward()  # given axes: row-major first (max-pooling's rule)
    assert x.grad.numpy().tolist() == [[1.0, 0.0], [0.0, 0.0]]
    x = Tensor(np.array([[3.0, 3.0], [1.0, 3.0]]), requires_grad=True)
    x.max(axis=0).sum().backward()
    assert x.grad.numpy().tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_exact_arithmetic_on_fraction_object_arrays():
    a = Tensor(np.array([[Fraction(1, 2), Fraction(-1, 3)], [Fraction(2), Fraction(1, 5)]],
                        dtype=object), requires_grad=True)
    b = Tensor(np.array([Fraction(3, 7), Fraction(1, 4)], dtype=object), requires_grad=True)
    loss = ((a @ b) * (a @ b)).mean() + (a / 3).sum() - a.max()
    loss.backward()
    an, bn = a.numpy(), b.numpy()
    v = an @ bn
    expected = (v[0] ** 2 + v[1] ** 2) / 2 + an.sum() / 3 - 2
    assert loss.item() == expected and isinstance(loss.item(), Fraction)
    ga = np.outer(v, bn) + Fraction(1, 3)
    ga[1, 0] -= 1  # the max is a[1, 0] = 2
    gb = an.T @ v
    assert a.grad.numpy().tolist() == ga.tolist()
    assert b.grad.numpy().tolist() == gb.tolist()


def test_backward_gradient_argument():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="one element"):
        y.backward(retain_graph=True)
    with pytest.raises(ValueError, match=r"expected shape \(3,\)"):
        y.backward(np.ones(2), retain_graph=True)
    y.backward(np.array([1.0, 0.0, 2.0]))
    assert x.grad.numpy().tolist() == [2.0, 0.0, 12.0]


def test_detach_cuts_the_graph():
    x = Tensor(np.array([2.0]), requires_grad=True)
    y = x * x.detach()
    y.backward(np.ones(1))
    assert x.grad.numpy().tolist() == [2.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_finite_with_finite_gradients_for_huge_inputs(dtype):
    x = np.array([-1000.0, -100.0, -40.0, -1.0, 0.0, 2.0, 100.0, 1000.0], dtype=dtype)
    t = Tensor(x, requires_grad=True)
    y = t.sigmoid()
    y.sum().backward()
    x64 = x.astype(np.float64)
    def sigma(v):
        with np.errstate(over="ignore", invalid="ignore"):  # the branch np.where drops
            return np.where(v >= 0, 1 / (1 + np.exp(-v)), np.exp(v) / (1 + np.exp(v)))

    expected = sigma(x64)
    # float32 results below ~1e-38 are subnormal: only absolute accuracy there
    rtol, atol = (1e-6, 1e-43) if dtype == np.float32 else (1e-14, 1e-300)
    assert y.dtype == dtype and t.grad.dtype == dtype
    assert np.isfinite(t.grad.numpy()).all()
    np.testing.assert_allclose(y.numpy(), expected, rtol=rtol, atol=atol)
    # σ' = σ(x)·σ(-x), without the cancellation of 1 - σ(x)
    np.testing.assert_allclose(t.grad.numpy(), expected * sigma(-x64), rtol=rtol, atol=atol)
    assert t.grad.numpy()[4] == 0.25  # at 0, where the two branches meet


def test_lists_of_numpy_scalars_become_float32():
    assert Tensor([np.float64(1.5), 2.0]).dtype == np.float32
    assert Tensor([[np.int64(1)], [np.float32(2)]]).dtype == np.float32


def test_a_zero_d_result_of_object_arrays_stays_an_object_array():
    # NumPy gives 0-d object arithmetic back as the element itself (here a float, from
    # exp of a Fraction): the engine keeps the object dtype, as for every other shape
    from fractions import Fraction

    x = Tensor(np.array(Fraction(1, 2), dtype=object), requires_grad=True)
    y = x.exp() + x.exp()
    assert y.dtype == object and isinstance(y.numpy()[()], float)
    y.backward()
    assert x.grad.dtype == object
    z = Tensor(np.array(Fraction(1, 3), dtype=object)) * 3
    assert z.dtype == object and z.numpy()[()] == 1


@given(st.lists(st.integers(0, 3), max_size=4), st.lists(st.integers(0, 3), max_size=4))
def test_broadcast_shapes_agrees_with_numpy(x, y):
    from tinygrad_cnn.tensor import _broadcast_shapes

    try:
        expected = np.broadcast_shapes(tuple(x), tuple(y))
    except ValueError:
        expected = None
    assert _broadcast_shapes(tuple(x), tuple(y)) == expected


def test_matmul_fast_path_keeps_the_checks_and_the_gradients():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    x, w = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (x @ w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones((3, 2)) @ b.T, rtol=1e-15)
    np.testing.assert_allclose(w.grad.numpy(), a.T @ np.ones((3, 2)), rtol=1e-15)
    with pytest.raises(ValueError, match="inner sizes differ"):
        Tensor(a) @ Tensor(a)
    with pytest.raises(TypeError, match="overflow|exactly"):  # integers: exact or refused
        Tensor(np.full((2, 2), 2**62, dtype=np.int64)) @ Tensor(np.full((2, 2), 4))


@pytest.mark.parametrize("shape", [(6,), (2, 3), (3, 2), (1, 6, 1), (-1,), (2, -1), (0,),
                                   (4,), (2, 2), (-1, -1), (-2, -3), (6, 0), (2.0, 3)])
def test_reshape_front_end_agrees_with_numpy(shape):
    # the fully-given fast path and the general rule: NumPy's shapes, or a ValueError
    a = np.arange(6.0).reshape(2, 3)
    try:
        expected = a.reshape(shape).shape
    except (ValueError, TypeError):
        expected = None
    if expected is None:
        with pytest.raises((ValueError, TypeError)):
            Tensor(a).reshape(shape)
    else:
        t = Tensor(a, requires_grad=True)
        out = t.reshape(shape)
        assert out.shape == expected
        out.sum().backward()
        assert t.grad.shape == (2, 3)


@pytest.mark.parametrize("axes", [(0, 1, 2), (2, 0, 1), (-1, 0, 1), (1, 1, 0), (0, 1),
                                  (0, 1, 3), (True, 0, 2), (np.int64(2), 1, 0)])
def test_permute_front_end_agrees_with_numpy(axes):
    a = np.arange(24.0).reshape(2, 3, 4)
    valid = len(axes) == 3 and sorted(int(x) % 3 for x in axes if -3 <= int(x) < 3) == [0, 1, 2]
    if not valid:
        with pytest.raises(ValueError, match="not a permutation"):
            Tensor(a).permute(axes)
        return
    out = Tensor(a).permute(axes)
    assert out.numpy().tolist() == np.transpose(a, [int(x) for x in axes]).tolist()


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "permuted", "strided",
                                    "zero-d", "bool", "float16"])
def test_fingerprint_sees_every_edit_in_every_layout(layout):
    # the CRC-32 fingerprint of saved arrays (contiguous buffers read as they are, a
    # transposed matrix through its transpose, other views walked in memory order)
    from tinygrad_cnn.tensor import _checksum

    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    view = {"contiguous": base, "transposed": base[0].T, "permuted": base.transpose(2, 0, 1),
            "strided": base[:, ::2, 1:], "zero-d": base[1, 2, 3, ...],
            "bool": base > 5, "float16": base.astype(np.float16).T}[layout]
    before = _checksum(view)
    assert _checksum(view) == before  # (per array: a copy in another order may differ)
    flat = np.unravel_index(0, view.shape) if view.ndim else ()
    old = view[flat]
    view[flat] = not old if view.dtype == bool else old + 1
    assert _checksum(view) != before
    view[flat] = old
    assert _checksum(view) == before
    if view.size > 1:  # a swap of two elements changes it too
        second = np.unravel_index(view.size - 1, view.shape)
        view[flat], view[second] = view[second].copy(), view[flat].copy()
        assert _checksum(view) != before


def test_an_edit_of_a_transposed_weight_is_caught_at_backward():
    rng = np.random.default_rng(0)
    w = Tensor(rng.normal(size=(3, 4)).astype(np.float32), requires_grad=True)
    x = Tensor(rng.normal(size=(2, 4)).astype(np.float32), requires_grad=True)
    y = (x @ w.T).sum()
    w.data[1, 2] += 1  # the weight that x's gradient reads, edited in place
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()
