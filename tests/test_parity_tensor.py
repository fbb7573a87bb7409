"""The Tensor surface against PyTorch in float64: values and every gradient.

``Tensor ** Tensor`` (zeros, negative bases), ``None`` / integer-array / mask indexing
(repeated indices accumulate), the tie rules (maximum / minimum split, the full max / min
split among all extrema, max over an axis and pooling keep the first maximum, relu'(0) = 0),
and the 0-d / empty-axis cases of sum, mean, max, softmax and log_softmax. Hypothesis draws
the shapes; small integer values make ties common. Skipped when PyTorch is not installed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import optional
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor

torch = optional("torch", "the Tensor parity checks against PyTorch")
TF = torch.nn.functional

pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-12, 1e-12


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def compare(ours, theirs, *arrays, seed: int = 0, exact_forward: bool = True):
    """Forward of both on float64 copies, then backward of one random upstream gradient;
    NaN must sit where PyTorch's NaN sits."""
    mine = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    ref = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning from the engine
        out = ours(*mine)
    expected = theirs(*ref)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.float64
    if exact_forward:
        np.testing.assert_array_equal(out.numpy(), expected.detach().numpy(), "forward")
    else:
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), RTOL, ATOL,
                                   err_msg="forward")
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (m, r) in enumerate(zip(mine, ref, strict=True)):
        want = np.zeros(m.shape) if r.grad is None else r.grad.numpy()
        got = np.zeros(m.shape) if m.grad is None else m.grad.numpy()
        np.testing.assert_allclose(got, want, RTOL, ATOL, err_msg=f"gradient of input {i}")


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def small_ints(shape, seed, low=-2, high=2):
    """Few distinct values: many ties (and zeros)."""
    return np.random.default_rng(seed).integers(low, high, size=shape, endpoint=True) * 1.0


# ------------------------------------------------------------------ Tensor ** Tensor


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_power_with_zeros_and_negative_bases(shape, seed):
    base = small_ints(shape, seed)  # zeros, negatives: 0**0, 0**-1, (-2)**2, (-1)**0.5
    exponent = small_ints(shape, seed + 1) / np.random.default_rng(seed).choice([1, 2],
                                                                                 size=shape)
    # (NumPy's and PyTorch's pow may differ in the last bit: 2**-0.5)
    compare(lambda a, b: a**b, torch.pow, base, exponent, seed=seed, exact_forward=False)


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_power_on_positive_bases_broadcast(shape, seed):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 3.0, size=shape)
    exponent = rng.uniform(-2, 2, size=(1,) * (len(shape) - 1) + shape[-1:])
    compare(lambda a, b: a**b, torch.pow, base, exponent, seed=seed, exact_forward=False)


@pytest.mark.parametrize("base", [0.0, -2.0, 2.0, -0.5])
def test_number_to_the_tensor_as_torch(base):
    exponent = np.array([0.0, 1.0, 2.0, 3.0, -1.0, 0.5])
    compare(lambda e: base**e, lambda e: torch.pow(base, e), exponent, exact_forward=False)


@pytest.mark.parametrize("exponent", [0.0, 0, 1, 2, -1, 0.5, 3])
def test_tensor_to_a_constant_at_zero_as_torch(exponent):
    x = np.array([0.0, -1.0, 2.0, -2.0])
    compare(lambda t: t**exponent, lambda t: t**exponent, x, exact_forward=False)


# ------------------------------------------------------------------------- indexing


@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple),
       n=st.integers(0, 6), seed=st.integers(0, 2**16))
def test_integer_array_indexing_scatter_adds(shape, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    rows = rng.integers(0, shape[0], size=n)  # repeats likely
    cols = rng.integers(-shape[1], shape[1], size=n)  # negative indices too
    for index in ((rows,), (rows, cols), (slice(None), cols), (None, rows),
                  (rows[:, None], slice(0, 1))):
        def ours(t, index=index):
            return t[tuple(Tensor(i) if isinstance(i, np.ndarray) else i for i in index)]

        def theirs(t, index=index):
            return t[tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i
                           for i in index)]

        compare(ours, theirs, x, seed=seed)


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_none_ellipsis_and_mask_indexing(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    mask = x > 0
    compare(lambda t: t[None, ..., None], lambda t: t[None, ..., None], x)
    compare(lambda t: t[..., None, 0:1], lambda t: t[..., None, 0:1], x)
    compare(lambda t: t[Tensor(mask)], lambda t: t[torch.tensor(mask)], x)


# ---------------------------------------------------------------------------- ties


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_maximum_and_minimum_split_ties(shape, seed):
    a, b = small_ints(shape, seed, -1, 1), small_ints(shape, seed + 7, -1, 1)
    compare(lambda x, y: x.maximum(y), torch.maximum, a, b, seed=seed)
    compare(lambda x, y: x.minimum(y), torch.minimum, a, b, seed=seed)


@given(shape=shapes, seed=st.integers(0, 2**16))
def test_full_max_and_min_split_among_all_extrema(shape, seed):
    x = small_ints(shape, seed, -1, 1)
    compare(lambda t: t.max(), torch.max, x)
    compare(lambda t: t.min(), torch.min, x)
    compare(lambda t: t.max(keepdims=True), lambda t: torch.amax(t, tuple(range(t.ndim)),
                                                                 keepdim=True), x)


@given(shape=shapes, seed=st.integers(0, 2**16), keepdims=st.booleans())
def test_max_and_min_over_an_axis_keep_the_first(shape, seed, keepdims):
    x = small_ints(shape, seed, -1, 1)
    axis = seed % len(shape)
    compare(lambda t: t.max(axis, keepdims),
            lambda t: torch.max(t, axis, keepdim=keepdims).values, x)
    compare(lambda t: t.min(axis, keepdims),
            lambda t: torch.min(t, axis, keepdim=keepdims).values, x)


@given(h=st.integers(2, 6), w=st.integers(2, 6), k=st.integers(1, 3), seed=st.integers(0, 99))
def test_max_pool_ties_keep_the_first(h, w, k, seed):
    k = min(k, h, w)
    x = small_ints((1, 2, h, w), seed, 0, 1)
    compare(lambda t: F.max_pool2d(t, k, stride=1), lambda t: TF.max_pool2d(t, k, stride=1),
            x)


def test_relu_and_sigmoid_at_zero():
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    compare(lambda t: t.relu(), torch.relu, x)
    compare(lambda t: t.sigmoid(), torch.sigmoid, x, exact_forward=False)


def test_max_with_nan_and_inf():
    compare(lambda t: t.max(), torch.max, np.array([1.0, np.nan, 3.0, np.nan]))
    compare(lambda t: t.max(), torch.max, np.array([np.inf, 1.0, np.inf]))
    compare(lambda t: t.min(), torch.min, np.array([-np.inf, -np.inf, 0.0]))


# ----------------------------------------------------------- 0-d and empty axes


@pytest.mark.parametrize("axis", [0, -1])
def test_reductions_and_softmax_of_0d(axis):
    x = np.array(1.5)
    compare(lambda t: t.sum(axis), lambda t: t.sum(axis), x)
    compare(lambda t: t.mean(axis), lambda t: t.mean(axis), x)
    compare(lambda t: F.softmax(t, axis), lambda t: torch.softmax(t, axis), x)
    compare(lambda t: F.log_softmax(t, axis), lambda t: torch.log_softmax(t, axis), x)


@pytest.mark.parametrize(("shape", "axis"), [((0, 3), 0), ((2, 0), 1), ((0,), 0),
                                             ((2, 0, 3), (0, 1))])
def test_mean_and_sum_over_an_empty_axis(shape, axis):
    x = np.zeros(shape)
    compare(lambda t: t.mean(axis), lambda t: t.mean(axis), x)
    compare(lambda t: t.sum(axis), lambda t: t.sum(axis), x)


def test_softmax_of_inf_rows_as_torch():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0], [np.inf, 0.0, 1.0]])
    compare(lambda t: F.softmax(t, 1), lambda t: torch.softmax(t, 1), x,
            exact_forward=False)
    compare(lambda t: F.log_softmax(t, 1), lambda t: torch.log_softmax(t, 1), x,
            exact_forward=False)
