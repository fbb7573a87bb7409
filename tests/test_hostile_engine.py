"""Hostile input to the engine: no silent wrong answer, a clear error, PyTorch's values.

Every case asserts the exact outcome: the number, or the exception type and the words its
message must contain. Grouped as issue 14 (dtype rule, in-place edits, edge cases,
messages) and issue 15 (``Tensor ** Tensor``, advanced indexing, ties).
"""

from __future__ import annotations

import time
import warnings
from fractions import Fraction

import numpy as np
import pytest
from conftest import check_gradients, distinct

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, Value, nn, optim
from tinygrad_cnn import primitives as P
from tinygrad_cnn import scalar as S


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """No NumPy RuntimeWarning may escape from the engine in any of these cases."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ============================================================ 1. the dtype rule


def test_avg_pool_of_uint8_is_the_float_average_not_a_wrapped_one():
    x = np.full((1, 1, 2, 2), 255, np.uint8)
    y = F.avg_pool2d(x, 2)
    assert y.dtype == np.float64
    assert y.numpy().tolist() == [[[[255.0]]]]  # was 63 (1020 wrapped to 252, / 4)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.int64, bool])
def test_avg_pool_of_integers_equals_numpys_mean(dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if dtype is not bool else None
    low, high = (0, 2) if info is None else (max(info.min, -10**6), min(info.max, 10**6))
    x = rng.integers(low, high, size=(2, 3, 4, 6), endpoint=True).astype(dtype)
    y = F.avg_pool2d(x, 2).numpy()
    want = x.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5))  # NumPy: float64, no wrap
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, want)  # count 4: 1/4 is exact, so equal, not close


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("padding", [0, 1])
def test_max_pool_of_integers_is_exact_and_keeps_the_dtype(dtype, padding):
    info = np.iinfo(dtype)
    x = np.array([[info.min, info.max, -1 if info.min else 0, 5],
                  [7, info.min, 3, info.max],
                  [2, 2, 2, 2],
                  [info.max, 0, 1, info.min]], dtype=dtype).reshape(1, 1, 4, 4)
    y = F.max_pool2d(x, 2, padding=padding).numpy()
    xp = np.pad(x[0, 0].astype(object), padding, constant_values=None)
    windows = [[max(v for v in xp[i:i + 2, j:j + 2].ravel() if v is not None)
                for j in range(0, xp.shape[1] - 1, 2)] for i in range(0, xp.shape[0] - 1, 2)]
    assert y.dtype == dtype
    assert y[0, 0].tolist() == windows


def test_max_pool_of_bool_and_tensor_max_min_of_integers():
    x = np.array([[False, True], [False, False]]).reshape(1, 1, 2, 2)
    assert F.max_pool2d(x, 2).numpy().tolist() == [[[[True]]]]
    t = Tensor(np.array([[-128, 127], [-5, -128]], np.int8))
    assert t.max().item() == 127 and t.min().item() == -128
    assert t.max(axis=1).numpy().tolist() == [127, -5]
    assert t.min(axis=0).numpy().tolist() == [-128, -128]
    u = Tensor(np.array([0, 255, 7], np.uint8))
    assert u.min().item() == 0 and u.min().dtype == np.uint8  # -x would wrap for uint8


def test_conv_of_bool_counts_not_ors():
    y = F.conv2d(np.ones((1, 1, 3, 3), bool), np.ones((1, 1, 3, 3), bool))
    assert y.dtype == np.int64
    assert y.numpy().tolist() == [[[[9]]]]  # was True


def test_conv_of_int8_accumulates_in_int64():
    x = np.full((1, 1, 3, 3), 100, np.int8)
    y = F.conv2d(x, x)
    assert y.numpy().tolist() == [[[[90000]]]]  # was -112 (wrapped in int8)
    u = np.full((1, 2, 3, 3), 255, np.uint8)
    w = np.full((1, 2, 3, 3), -3, np.int16)  # two integer dtypes: both widened
    assert F.conv2d(u, w, np.array([7], np.int32)).numpy().tolist() == [[[[255 * -3 * 18 + 7]]]]
    y1 = F.conv1d(np.full((1, 1, 4), 100, np.int8), np.full((1, 1, 2), 100, np.int8))
    assert y1.numpy().tolist() == [[[20000, 20000, 20000]]]
    lin = F.linear(np.full((2, 3), 200, np.uint8), np.full((1, 3), 200, np.uint8))
    assert lin.numpy().tolist() == [[120000], [120000]]


def test_conv_of_integers_that_could_overflow_int64_is_refused():
    x = np.full((1, 1, 3, 3), 2**40, np.int64)
    w = np.full((1, 1, 3, 3), 2**30, np.int64)
    with pytest.raises(TypeError, match=r"overflow int64.*convert them to float64"):
        F.conv2d(x, w)
    big = np.array([[[[2**63 + 5]]]], np.uint64)
    with pytest.raises(TypeError, match="overflow int64"):
        F.conv2d(big, np.ones((1, 1, 1, 1), np.uint64))


def test_integer_sums_do_not_wrap():
    assert Tensor(np.full(4, 255, np.uint8)).sum().item() == 1020
    assert Tensor(np.full(4, 100, np.int8)).sum().dtype == np.int64
    assert Tensor(np.ones((2, 3), bool)).sum(axis=1).numpy().tolist() == [3, 3]


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_of_integers_is_refused_with_how_to_convert(fn):
    with pytest.raises(TypeError, match=r"floating point.*astype\(np\.float64\)"):
        fn(np.arange(3))
    with pytest.raises(TypeError, match="floating point"):
        fn(np.array([True, False]))


def test_cross_entropy_of_integer_logits_is_refused():
    with pytest.raises(TypeError, match="must be floating point"):
        F.cross_entropy(np.array([[1, 2]]), np.array([0]))


def test_float64_data_into_float32_layers_says_how_to_convert():
    conv = nn.Conv2d(1, 1, 3)
    with pytest.raises(TypeError, match=r"float64.*float32.*astype\(np\.float32\)"):
        conv(Tensor(np.zeros((1, 1, 3, 3))))
    lin = nn.Linear(3, 1)
    with pytest.raises(TypeError, match=r"astype\(np\.float32\)"):
        lin(Tensor(np.zeros((1, 3))))


def test_integer_tensors_cannot_require_grad_and_say_how_to_convert():
    with pytest.raises(TypeError, match=r"astype\(np\.float32\)"):
        Tensor(np.arange(3), requires_grad=True)


# ============================================================ 2. in-place changes


def _square_sum(x: Tensor) -> Tensor:
    return (x * x).sum()


def test_editing_a_leafs_data_in_place_is_caught():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = _square_sum(x)
    x.data[0] = 5.0  # the gradient would be 10 where the truth is 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\), dtype float32 \(a leaf\) that mul "
                                           r"saved.*changed in place"):
        y.backward()


def test_augmented_assignment_to_data_is_caught():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = _square_sum(x)
    x.data += 1
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()


def test_editing_the_source_ndarray_is_caught():
    a = np.array([1.0, 2.0])
    x = Tensor(a, requires_grad=True)  # shared, as torch.from_numpy
    assert x.data is a
    y = _square_sum(x)
    a[1] = 7.0
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()


def test_reassigning_data_to_another_shape_is_caught():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = _square_sum(x)
    x.data = np.zeros(3)
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*had its \.data reassigned"):
        y.backward()


def test_a_swap_that_keeps_the_sum_is_caught():
    x = Tensor([1.0, 2.0, 4.0], requires_grad=True)
    y = _square_sum(x)
    x.data[[0, 1]] = x.data[[1, 0]]
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()


def test_editing_a_saved_output_or_a_view_of_it_is_caught():
    x = Tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()
    y = e.sum()
    e.data[0] = 0.0
    with pytest.raises(RuntimeError, match=r"\(the output of exp\) that exp saved"):
        y.backward()
    x = Tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()
    view = e.reshape(2, 1)
    y = e.sum()
    view.data[0, 0] = 9.0  # writes e's memory
    with pytest.raises(RuntimeError, match="exp saved"):
        y.backward()
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    h = x * 2
    v = h.reshape(2)  # v is saved by the product below; h is edited
    z = (v * v).sum()
    h.data[0, 0] = 9.0
    with pytest.raises(RuntimeError, match=r"through the tensor of shape \(1, 2\)"):
        z.backward()


def test_edits_through_views_made_after_the_save_and_transposed_arrays_are_caught():
    # the saved tensor is a transposed view (fingerprinted in memory order, no copy)
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    t = x.T  # reachable: a view of the caller's array
    y = (t * t).sum()
    x.data[1, 2] = -1.0
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()
    # a view of a saved (unexposed) output, created and edited after the save
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    e = x.exp()
    y = e.sum()
    late = e.permute(1, 0)
    late.data[0, 1] = 0.0  # e[1, 0]
    with pytest.raises(RuntimeError, match="exp saved"):
        y.backward()
    # exposing an output no node saved changes nothing and costs no fingerprint
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = (x * 2.0).permute(1, 0)
    assert out.data[0, 1] == 6.0 and out._stamp is None
    out.data[0, 0] = 100.0  # nothing reads it: allowed, as in PyTorch
    out.backward(np.ones((2, 2)))
    assert x.grad.numpy().tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_editing_through_numpy_and_detach_is_caught():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = _square_sum(x)
    x.numpy()[0] = 3.0
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()
    x = Tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()
    y = e.sum()
    e.detach().data[1] = 0.0  # detach shares the memory, as in PyTorch
    with pytest.raises(RuntimeError, match="exp saved"):
        y.backward()


def test_editing_an_exact_object_array_is_caught():
    x = Tensor(np.array([Fraction(1, 2), Fraction(1, 3)], dtype=object), requires_grad=True)
    y = _square_sum(x)
    x.data[0] = Fraction(5)
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()


def test_an_edit_that_the_gradient_does_not_read_is_allowed_as_in_pytorch():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x + x).sum()  # add saves nothing
    x.data[0] = 100.0
    y.backward()
    assert x.grad.numpy().tolist() == [2.0, 2.0]


def test_edits_after_backward_and_optimizer_steps_raise_nothing():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = rng.standard_normal((4, 1, 4, 4)).astype(np.float32)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), np.array([0, 1, 2, 0]))
        loss.backward()
        opt.step()  # p.data -= ... in place, between graphs: fine
        x += 0.01  # the caller reuses its batch array: fine once backward has run
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_an_optimizer_step_before_a_retained_backward_is_caught():
    w = nn.Parameter(np.array([1.0, 2.0], np.float32))
    opt = optim.SGD([w], lr=0.5)
    loss = _square_sum(w)
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()


def test_a_retained_graph_without_edits_backpropagates_twice():
    x = Tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()
    _ = e.data  # looked at, not changed
    y = (e * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    x0 = np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x0) * (x0 + 1), rtol=1e-6)


# ============================================================ 3. edge cases (tinygrad's)


def test_zero_to_the_zero_and_negative_bases_as_pytorch():
    assert (0 ** Tensor([0.0])).numpy().tolist() == [1.0]  # was nan
    assert ((-2) ** Tensor([2.0])).numpy().tolist() == [4.0]  # was nan
    assert ((-2.0) ** Tensor([3.0])).numpy().tolist() == [-8.0]
    y = Tensor([0.0, 1.0], requires_grad=True)
    (0 ** y).sum().backward()
    assert y.grad.numpy().tolist() == [0.0, 0.0]  # PyTorch's mask: x = 0, y >= 0


def test_derivative_of_x_to_the_zero_at_zero_is_zero():
    for exponent in (0.0, 0):
        x = Tensor([0.0, 2.0], requires_grad=True)
        (x**exponent).sum().backward()
        assert x.grad.numpy().tolist() == [0.0, 0.0]  # was nan at 0
    v = Value(0.0)
    (v**0).backward()
    assert v.grad == 0


def test_reductions_of_a_0d_tensor_over_axis_0_and_minus_1():
    t = Tensor(np.float32(1.5))
    for axis in (0, -1, (0,), None):
        assert t.sum(axis).shape == () and t.sum(axis).item() == 1.5
        assert t.mean(axis).item() == 1.5
        assert t.max(axis).item() == 1.5
    with pytest.raises(ValueError, match=r"axis 1 is out of range for a 0-d tensor"):
        t.sum(1)
    x = Tensor(np.float64(2.0), requires_grad=True)
    x.sum(0).backward()
    assert x.grad.item() == 1.0


def test_mean_over_an_empty_axis_is_nan_without_warning():
    m = Tensor(np.zeros((0, 3))).mean(0)
    assert m.shape == (3,) and np.isnan(m.numpy()).all()
    assert np.isnan(Tensor(np.zeros((2, 0), np.float32)).mean().item())
    with pytest.raises(ValueError, match="no exact value"):
        Tensor(np.zeros((0,), dtype=object)).mean()


def test_max_of_an_empty_tensor_is_refused():
    with pytest.raises(ValueError, match="max over an empty axis"):
        Tensor(np.zeros((0, 3))).max()


@pytest.mark.parametrize(("fn", "value"), [(F.softmax, 1.0), (F.log_softmax, 0.0)])
def test_softmax_of_a_0d_tensor_as_pytorch(fn, value):
    x = Tensor(np.float64(1.5), requires_grad=True)
    for axis in (0, -1):
        y = fn(x, axis)
        assert y.shape == () and y.item() == value
    fn(x, 0).backward()
    assert x.grad.item() == 0.0
    with pytest.raises(ValueError, match="axis must be 0 or -1 for a 0-d input"):
        fn(x, 1)


def test_a_stride_beyond_int64_is_a_value_error():
    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"stride must be at most 2\*\*63 - 1"):
        F.conv2d(x, w, stride=10**30)
    # a stride within int64 but past the input: one window, no overflow of byte strides
    assert F.conv2d(x, w, stride=2**62).numpy().tolist() == [[[[9.0]]]]
    assert F.max_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2, stride=2**62).numpy().item() \
        == 4.0


def test_absurd_padding_is_refused_before_allocating_with_the_size():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"padding=\(100000, 100000\) would have shape "
                                         r"\(1, 1, 200003, 200003\), 298 GiB"):
        F.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), padding=10**5)
    with pytest.raises(ValueError, match=r"pad: the padded tensor would have shape "
                                         r"\(2000000000, 3\)"):
        Tensor(np.ones((2, 3))).pad(((10**9 - 1, 10**9 - 1), (0, 0)))
    assert time.perf_counter() - start < 1.0


def test_an_im2col_too_large_for_memory_is_refused():
    x = Tensor(np.broadcast_to(np.float32(1), (1, 1, 100000, 100000)))  # no memory: a view
    with pytest.raises(ValueError, match=r"the im2col matrix .* would have shape "
                                         r"\(1, 25, 9999200016\), 931\.2 GiB"):
        F.conv2d(x, np.ones((1, 1, 5, 5), np.float32))


# ============================================================ 4. messages and noise


@pytest.mark.parametrize("bad", ["abc", None, [1, 2], np.zeros(2), {"a": 1}])
def test_value_refuses_what_is_not_a_number(bad):
    with pytest.raises(TypeError, match=r"Value\(data\): expected a number"):
        Value(bad)


def test_value_accepts_every_number_type():
    import sympy as sp

    for data in (1, 1.5, Fraction(1, 3), True, np.float32(2.0), np.int64(3),
                 sp.Rational(1, 2), sp.Symbol("a"), sp.Symbol("a") + 1):
        assert Value(data).data == data


@pytest.mark.parametrize(("data", "words"), [
    (["a", "b"], r"the list holds 'a' \(str\)"),
    ([1.0, None], r"holds None"),
    (np.array(["a", "b"]), r"dtype <U1, expected numbers"),
    (np.array([1, None], dtype=object), r"holds None"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "dtype datetime64"),
])
def test_tensor_of_non_numbers_is_refused_without_mentioning_fractions_wrongly(data, words):
    with pytest.raises(TypeError, match=words) as info:
        Tensor(data)
    assert "Fraction" not in str(info.value)


def test_ragged_lists_are_refused():
    with pytest.raises(ValueError, match="not rectangular"):
        Tensor([[Fraction(1), 2], [3]])


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps)])
def test_an_optimizer_step_with_a_wrong_shape_gradient_is_clear(make):
    p = nn.Parameter(np.zeros(2, np.float32))
    opt = make([p])
    p.grad = Tensor(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(2,\) but its \.grad has "
                                         r"shape \(3,\)"):
        opt.step()
    assert p.data.tolist() == [0.0, 0.0]


def test_bool_of_a_tensor_is_ambiguous_unless_it_has_one_element():
    with pytest.raises(ValueError, match=r"truth value of a tensor with 3 elements.*ambiguous"):
        bool(Tensor([1.0, 2.0, 3.0]))
    assert bool(Tensor([2.0])) is True and bool(Tensor(0.0)) is False
    with pytest.raises(ValueError, match="ambiguous"):
        if Tensor([1.0, 0.0]):
            pass


def test_comparisons_are_elementwise_bool_tensors():
    t = Tensor([1.0, 2.0, 1.0])
    eq = t == 1
    assert isinstance(eq, Tensor) and eq.dtype == bool
    assert eq.numpy().tolist() == [True, False, True]  # was a silent False
    assert (t != 1).numpy().tolist() == [False, True, False]
    assert (t < 2).numpy().tolist() == [True, False, True]
    assert (t >= Tensor([1.0, 3.0, 0.0])).numpy().tolist() == [True, False, True]
    assert (1 < t).numpy().tolist() == [False, True, False]  # reflected
    assert len({t, Tensor([1.0])}) == 2  # still hashable by identity
    assert t in [t]
    with pytest.raises(ValueError, match="do not broadcast"):
        _ = t == Tensor([1.0, 2.0])


def test_backward_twice_is_the_same_for_value_and_tensor():
    for make in (lambda: Value(3.0), lambda: Tensor(3.0, requires_grad=True)):
        x = make()
        y = x * x
        y.backward()
        with pytest.raises(RuntimeError, match=r"retain_graph=True"):
            y.backward()
        x = make()
        y = x * x
        y.backward(retain_graph=True)
        y.backward()  # accumulates, as PyTorch
        grad = x.grad if isinstance(x, Value) else x.grad.item()
        assert grad == 12.0


def test_a_value_graph_can_still_be_drawn_after_backward():
    from tinygrad_cnn.graph import to_mermaid

    x = Value(2.0, "x")
    y = x**3 + x
    y.backward()
    text = to_mermaid(y)
    assert "** 3" in text and "grad 13" in text


def test_no_warning_for_softmax_of_minus_inf_rows_and_inf_logits():
    # (the autouse fixture turns any RuntimeWarning into an error)
    x = Tensor(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]), requires_grad=True)
    y = F.softmax(x, 1)
    assert np.isnan(y.numpy()[0]).all() and y.numpy()[1].tolist() == [1.0, 0.0]  # PyTorch
    y.sum().backward()
    z = F.cross_entropy(Tensor(np.array([[np.inf, 1.0]])), np.array([0]))
    assert np.isnan(z.item())  # PyTorch: nan
    assert Tensor([0.0]).log().numpy().tolist() == [-np.inf]
    assert Tensor([1000.0]).exp().numpy().tolist() == [np.inf]


def test_everything_works_under_seterr_raise():
    old = np.seterr(all="raise")
    try:
        rng = np.random.default_rng(1)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(8, 3))
        opt = optim.Adam(model.parameters(), lr=1e-2)
        x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
        x[0, 0, 0, 0] = np.inf
        logits = model(Tensor(x))
        loss = F.cross_entropy(logits, np.array([0, 2]))
        loss.backward()
        opt.step()
        assert np.isnan(loss.item())
        assert F.softmax(Tensor(np.array([[-np.inf, -np.inf]]))).numpy().shape == (1, 2)
        assert (Tensor([0.0]) ** -1).numpy().tolist() == [np.inf]
    finally:
        np.seterr(**old)


# ============================================================ 5. Tensor ** Tensor, indexing


def test_tensor_to_the_tensor_gradients_by_finite_differences():
    rng = np.random.default_rng(3)
    check_gradients(lambda a, b: a**b, rng.uniform(0.5, 2.0, (3, 4)),
                    rng.uniform(-1.5, 1.5, (3, 4)))
    check_gradients(lambda a, b: a**b, rng.uniform(0.5, 2.0, (3, 1)),
                    rng.uniform(-1.5, 1.5, (1, 4)))  # broadcast: summed back by expand


def test_tensor_to_the_tensor_is_exact_on_fractions():
    x = Tensor(np.array([Fraction(1, 2), Fraction(-3, 4), Fraction(0)], dtype=object),
               requires_grad=True)
    n = Tensor(np.array([Fraction(3), Fraction(2), Fraction(0)], dtype=object))
    y = x**n
    assert y.numpy().tolist() == [Fraction(1, 8), Fraction(9, 16), 1]
    y.sum().backward()  # the exponent is a constant: no log, x̄ = n·x^(n−1) exactly
    assert x.grad.numpy().tolist() == [Fraction(3, 4), Fraction(-3, 2), 0]


def test_integer_tensor_powers_follow_numpy():
    a, b = Tensor(np.array([2, 3])), Tensor(np.array([3, 2]))
    assert (a**b).numpy().tolist() == [8, 9] and (a**b).dtype == np.int64
    assert (a ** Tensor(np.array([-1, 1]))).numpy().tolist() == [0.5, 3.0]


def test_gather_with_repeated_indices_accumulates():
    x = Tensor(np.arange(5.0), requires_grad=True)
    y = x[[0, 0, 3, 0]]
    assert y.numpy().tolist() == [0.0, 0.0, 3.0, 0.0]
    (y * Tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.numpy().tolist() == [7.0, 0.0, 0.0, 3.0, 0.0]


def test_indexing_with_none_masks_tensors_and_negative_steps():
    a = np.arange(12.0).reshape(3, 4)
    x = Tensor(a, requires_grad=True)
    cases = [
        (lambda t: t[None], lambda v: v[None]),
        (lambda t: t[:, None, 1], lambda v: v[:, None, 1]),
        (lambda t: t[1, None], lambda v: v[1, None]),
        (lambda t: t[..., None], lambda v: v[..., None]),
        (lambda t: t[None, ..., None], lambda v: v[None, ..., None]),
        (lambda t: t[::-1, 1:3], lambda v: v[::-1, 1:3]),
        (lambda t: t[[2, 0], 1:], lambda v: v[[2, 0], 1:]),
        (lambda t: t[:, [[0, 0], [3, 1]]], lambda v: v[:, [[0, 0], [3, 1]]]),
        (lambda t: t[Tensor(np.array([1, 1]))], lambda v: v[np.array([1, 1])]),
        (lambda t: t[t > 5], lambda v: v[v > 5]),
        (lambda t: t[[0, 2], [1, 3]], lambda v: v[[0, 2], [1, 3]]),
    ]
    for ours, theirs in cases:
        out = ours(x)
        want = theirs(a)
        assert out.shape == want.shape and out.numpy().tolist() == want.tolist()
        x.grad = None
        out.sum().backward()
        # the gradient of a sum of picks: how often each element was picked
        picks = theirs(np.arange(12).reshape(3, 4)).ravel()
        want_grad = np.bincount(picks, minlength=12).reshape(3, 4).astype(float)
        assert x.grad.numpy().tolist() == want_grad.tolist()


def test_gather_gradients_by_finite_differences_and_exactly():
    rng = np.random.default_rng(5)
    index = np.array([[0, 3], [3, 3], [1, 0]])
    check_gradients(lambda t: (t[index, 1:] ** 2).sum(axis=1) * t[:3, :2],
                    rng.uniform(-1, 1, (4, 3)))
    x = Tensor(np.array([Fraction(1, 3), Fraction(2, 5)], dtype=object), requires_grad=True)
    (x[[1, 1, 0]] * x[[0, 1, 1]]).sum().backward()
    assert x.grad.numpy().tolist() == [Fraction(4, 5), Fraction(2, 3) + Fraction(4, 5)]


@pytest.mark.parametrize(("index", "error", "words"), [
    ([5], IndexError, "out of bounds"),
    (np.array([0.5]), IndexError, "integer or boolean"),
    ("a", TypeError, "unsupported index 'a'"),
    ((0, 0, 0), IndexError, "too many indices"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"),
])
def test_bad_indices_are_clear(index, error, words):
    with pytest.raises(error, match=words):
        Tensor(np.zeros((3, 2)))[index]


# ============================================================ 6. ties, as PyTorch


def test_maximum_and_minimum_split_a_tie_evenly():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([1.0, 1.0, 4.0], requires_grad=True)
    a.maximum(b).sum().backward()
    assert a.grad.numpy().tolist() == [0.5, 1.0, 0.0]
    assert b.grad.numpy().tolist() == [0.5, 0.0, 1.0]
    a.grad = b.grad = None
    a.minimum(b).sum().backward()
    assert a.grad.numpy().tolist() == [0.5, 0.0, 1.0]
    assert b.grad.numpy().tolist() == [0.5, 1.0, 0.0]


def test_full_max_and_min_split_evenly_among_all_extrema():
    x = Tensor(np.array([[3.0, 1.0], [3.0, 3.0]], np.float32), requires_grad=True)
    m = x.max()
    assert m.item() == 3.0 and m.dtype == np.float32
    m.backward()
    assert x.grad.numpy().tolist() == [[1 / np.float32(3), 0.0], [1 / np.float32(3),
                                                                   1 / np.float32(3)]]
    x = Tensor(np.array([0.1, 0.1, 0.1, 0.2]), requires_grad=True)
    assert x.min().item() == 0.1  # exactly the minimum, not 3 · (0.1 / 3)
    x.min().backward()
    assert x.grad.numpy().tolist() == [1 / 3, 1 / 3, 1 / 3, 0.0]
    x = Tensor(np.array([1.0, np.nan, np.nan]), requires_grad=True)
    m = x.max()
    m.backward()
    assert np.isnan(m.item()) and x.grad.numpy().tolist() == [0.0, 0.5, 0.5]  # PyTorch
    x = Tensor(np.array([np.inf, np.inf, 1.0]), requires_grad=True)
    x.max().backward()
    assert x.max().item() == np.inf and x.grad.numpy().tolist() == [0.5, 0.5, 0.0]


def test_full_max_is_exact_on_fractions():
    x = Tensor(np.array([Fraction(2, 3), Fraction(2, 3), Fraction(1, 2)], dtype=object),
               requires_grad=True)
    m = x.max(keepdims=True)
    assert m.numpy().tolist() == [Fraction(2, 3)]
    m.sum().backward()
    assert x.grad.numpy().tolist() == [Fraction(1, 2), Fraction(1, 2), 0]


def test_max_over_an_axis_and_pooling_keep_the_first_maximum():
    x = Tensor(np.array([[3.0, 3.0], [1.0, 3.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    assert x.grad.numpy().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    x = Tensor(np.full((1, 1, 2, 2), 7.0), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.numpy()[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    s = S.values([[7, 7], [7, 7]], "s")
    S.max_pool2d(s, 2)[0][0].backward()  # the scalar engine agrees
    assert S.to_grad(s) == [[1, 0], [0, 0]]


def test_relu_at_zero_keeps_derivative_zero_and_sigmoid_is_smooth_there():
    x = Tensor([0.0, -1.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 0.0, 1.0]
    v = Value(0)
    v.relu().backward()
    assert v.grad == 0
    x = Tensor([0.0], requires_grad=True)
    x.sigmoid().sum().backward()
    assert x.grad.numpy().tolist() == [0.25]


def test_value_maximum_splits_and_symbolic_ties_use_the_share():
    import sympy as sp

    a, b = Value(2.0), Value(2.0)
    a.maximum(b).backward()
    assert (a.grad, b.grad) == (0.5, 0.5)
    p = sp.Symbol("p", real=True)
    x, y = Value(p), Value(p * 0 + sp.Symbol("q", real=True))
    x.maximum(y).backward()
    q = sp.Symbol("q", real=True)
    assert x.grad.subs({p: 1, q: 1}) == sp.Rational(1, 2)
    assert x.grad.subs({p: 2, q: 1}) == 1 and y.grad.subs({p: 2, q: 1}) == 0


def test_the_table_states_the_tie_rules():
    assert "t·[x = y]" in P.Maximum.vjp_formula
    assert P.MAXIMUM.tie == Fraction(1, 2) and P.MAXIMUM_FIRST.tie == 1
    assert "first arg-max" in P.Max.vjp_formula
    x = distinct((3, 4), np.random.default_rng(0))
    check_gradients(lambda t: t.max(), x)  # away from ties: the usual derivative


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=1e30, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=1e30)])
def test_a_diverged_optimizer_step_gives_inf_without_a_warning(make):
    p = nn.Parameter(np.array([3e38, -3e38], np.float32))
    opt = make([p])
    p.grad = Tensor(np.array([3e38, np.inf], np.float32))
    opt.step()  # (warnings are errors here)
    assert not np.isfinite(p.data).any()


def test_value_of_numpy_scalars_under_seterr_raise():
    old = np.seterr(all="raise")
    try:
        assert Value(np.float64(0.0)).log().data == -np.inf
        assert Value(np.float64(1000.0)).exp().data == np.inf
    finally:
        np.seterr(**old)


def test_huge_integer_arguments_are_value_errors_before_any_work():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"kernel \(size 3, dilation 4611686018427387904"):
        F.conv2d(x, np.ones((1, 1, 3, 3)), dilation=2**62)
    with pytest.raises(ValueError, match=r"kernel_size must be at most 2\*\*63 - 1"):
        F.max_pool2d(x, 10**30)
    with pytest.raises(ValueError, match=r"padding must be at most 2\*\*63 - 1"):
        F.avg_pool2d(x, 2, padding=10**19)
    with pytest.raises(ValueError, match="padding must be at most half the kernel size"):
        F.max_pool2d(x, 2, padding=10**5)


def test_value_and_tensor_minimum_split_ties():
    a, b = Value(Fraction(1)), Value(Fraction(1))
    a.minimum(b).backward()
    assert (a.grad, b.grad) == (Fraction(1, 2), Fraction(1, 2))
    x = Tensor([1.0, 3.0], requires_grad=True)
    x.minimum(1.0).sum().backward()  # against a constant: its half of the tie is dropped
    assert x.grad.numpy().tolist() == [0.5, 0.0]


def test_numpy_operands_on_the_left_give_tensors_not_object_arrays():
    t = Tensor([1.0, 2.0], requires_grad=True)
    y = np.float32(2) * t + np.array([1.0, 1.0], np.float32)
    assert isinstance(y, Tensor) and y.numpy().tolist() == [3.0, 5.0]
    y.sum().backward()
    assert t.grad.numpy().tolist() == [2.0, 2.0]
    eq = np.array([1.0, 0.0]) == t
    assert isinstance(eq, Tensor) and eq.numpy().tolist() == [True, False]
    with pytest.raises(TypeError, match="does not support ufuncs"):
        np.exp(t)  # (an object array holding a Tensor, before)


def test_backward_frees_outputs_only_when_nothing_can_read_them():
    """Backward drops a large intermediate's output before its VJP runs if only the
    backward loop refers to it; an output the caller holds stays intact."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((512, 1024)), requires_grad=True)  # 4 MiB
    held = x * 2.0  # the caller keeps this one
    y = ((held + 1.0) * 3.0).sum()  # (held + 1.0) is dropped: only the graph has it
    expected = held.numpy().copy()
    y.backward()
    np.testing.assert_array_equal(held.numpy(), expected)
    np.testing.assert_array_equal(x.grad.numpy(), np.full((512, 1024), 6.0))
    # with retain_graph the graph keeps every output, and a second backward agrees
    x.grad = None
    z = ((x * 2.0).exp() * 1.0).sum()
    z.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    x.grad = None
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)


def test_backward_reuses_a_dropped_output_so_its_peak_is_the_forward_peak():
    import tracemalloc

    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((512, 1024)), requires_grad=True)  # 4 MiB
    tracemalloc.start()
    y = x
    for _ in range(4):  # a chain of products with constants: no VJP reads an output
        y = y * 2.0
    s = y.sum()
    del y
    forward = tracemalloc.get_traced_memory()[0]  # the four outputs, 16 MiB
    s.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # each output is released before its VJP makes its input's gradient, so backward
    # needs no more than the forward pass held (without that: one more 4 MiB buffer)
    assert peak < forward + (1 << 20), (peak - forward) / (1 << 20)
    np.testing.assert_array_equal(x.grad.numpy(), np.full((512, 1024), 16.0))
