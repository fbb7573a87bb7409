"""An outside reviewer's attack on the engine, written fresh: the dtype rule on every entry
point, NaN / inf as PyTorch, absurd sizes, and PyTorch parity on inputs the parity grids
do not draw (non-contiguous and negative-stride arrays, empty batches, 1x1 images, ...).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor

# ------------------------------------------------------------------------ the dtype rule


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16])
def test_integer_tensor_arithmetic_is_exact_or_refused(dtype):
    """uint8 200 · 200 is 40000, which uint8 cannot hold: refused, never 64."""
    big = np.iinfo(dtype).max // 2 + 10
    t = Tensor(np.full(3, big, dtype))
    for expression in (lambda: t * t, lambda: t + t, lambda: t * 3, lambda: t**2,
                       lambda: Tensor(np.full((2, 2), big, dtype)) @ Tensor(np.full((2, 2), big,
                                                                                 dtype))):
        with pytest.raises(TypeError, match=rf"does not fit {np.dtype(dtype)}.*astype"):
            expression()
    # what fits stays exact and keeps NumPy's dtype
    small = Tensor(np.array([1, 2, 3], dtype))
    assert (small * small).dtype == dtype and (small * small).numpy().tolist() == [1, 4, 9]
    # a constant the dtype cannot hold makes an int64 constant: exact
    assert (t + 1000).numpy().tolist() == [big + 1000] * 3
    assert (t - 300).numpy().tolist() == [big - 300] * 3
    assert (-Tensor(np.array([200], np.uint8))).numpy().tolist() == [-200]


def test_int64_overflow_refused_before_computing():
    t = Tensor(np.array([2**62, 2**62], np.int64))
    with pytest.raises(TypeError, match="overflow int64"):
        t + t
    with pytest.raises(TypeError, match="overflow int64"):
        t.sum()
    with pytest.raises(TypeError, match="overflow int64"):
        Tensor(np.array([[2**40]], np.int64)) @ Tensor(np.array([[2**40]], np.int64))
    with pytest.raises(TypeError, match="does not fit int64"):
        Tensor(np.array([2**64 - 1], np.uint64)) + Tensor(np.array([1], np.uint64))
    # int64 arithmetic is modular: exact whenever the true result fits, partial sums aside
    assert (t - t).numpy().tolist() == [0, 0]
    assert Tensor(np.array([2**62, 2**62, -2**62, 5], np.int64)).sum().item() == 2**62 + 5
    assert (Tensor(np.array([5], np.int64)) ** Tensor(np.array([20], np.int64))).item() == 5**20


def test_bool_arithmetic_counts():
    t = Tensor(np.array([True, True, False]))
    assert (t + t).numpy().tolist() == [2, 2, 0]  # not NumPy's logical or
    assert (t @ t).item() == 2
    assert t.sum().item() == 2


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.bool_])
def test_transcendental_of_integers_in_float64(dtype):
    """NumPy takes exp(int8) to float16 (exp(3) = 20.08); the engine uses float64."""
    t = Tensor(np.array([0, 1, 1], dtype))
    for got, expected in ((t.exp(), np.exp([0.0, 1.0, 1.0])),
                          (t.tanh(), np.tanh([0.0, 1.0, 1.0]))):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got.numpy(), expected)
    if dtype != np.bool_:
        assert Tensor(np.array([3], dtype)).exp().item() == np.exp(3.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.bool_])
def test_conv_transpose_of_integers_is_exact(dtype):
    """conv_transpose2d / 1d of uint8 200s: 400 where two copies overlap, not 144."""
    v = 1 if dtype == np.bool_ else np.iinfo(dtype).max
    x = np.full((1, 1, 2, 2), v, dtype)
    w = np.ones((1, 1, 3, 3), dtype)
    expected = F.conv_transpose2d(x.astype(np.float64), w.astype(np.float64), stride=2)
    got = F.conv_transpose2d(x, w, stride=2)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    x1, w1 = x[:, :, 0], w[:, :, 0]
    got1 = F.conv_transpose1d(x1, w1, stride=3, dilation=2)
    expected1 = F.conv_transpose1d(x1.astype(np.float64), w1.astype(np.float64), stride=3,
                                   dilation=2)
    np.testing.assert_array_equal(got1.numpy(), expected1.numpy())


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.bool_])
def test_pad_value_an_integer_input_cannot_hold_is_refused(dtype):
    x = np.ones((1, 1, 2, 2), dtype)
    for value in (0.5, 1000, float("nan"), float("inf")):
        if dtype == np.int16 and value == 1000:
            continue
        pattern = f"value .* cannot be held exactly by .*{np.dtype(dtype)}.*astype"
        with pytest.raises(TypeError, match=pattern):
            F.pad(x, (1, 1), value=value)
    assert F.pad(x, (1, 0), value=1).numpy()[0, 0, 0].tolist() == [1, 1, 1]
    assert F.pad(x, (1, 0), value=1.0).dtype == dtype  # an integral float is exact


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.bool_])
def test_every_entry_point_integer_exact_or_refused(dtype):
    """Each functional op on an integer / bool input: the float64 answer exactly, or a
    TypeError saying what to convert to."""
    v = 1 if dtype == np.bool_ else np.iinfo(dtype).max
    x = np.full((1, 1, 4, 4), v, dtype)
    x[0, 0, 0, 0] = 0
    f = x.astype(np.float64)
    w = np.ones((1, 1, 3, 3), dtype)
    calls = {
        "conv2d": lambda a, k: F.conv2d(a, k, padding=1),
        "conv1d": lambda a, k: F.conv1d(a[:, :, 0], k[:, :, 0], padding=1),
        "conv_transpose2d": lambda a, k: F.conv_transpose2d(a, k, stride=2),
        "max_pool2d": lambda a, k: F.max_pool2d(a, 3, 2, padding=1, ceil_mode=True),
        "avg_pool2d": lambda a, k: F.avg_pool2d(a, 3, 2, padding=1, ceil_mode=True),
        "avg_pool2d no pad": lambda a, k: F.avg_pool2d(a, 3, 1, 1, count_include_pad=False),
        "avg_pool2d divisor": lambda a, k: F.avg_pool2d(a, 2, divisor_override=3),
        "adaptive_avg_pool2d": lambda a, k: F.adaptive_avg_pool2d(a, 3),
        "adaptive_max_pool2d": lambda a, k: F.adaptive_max_pool2d(a, 3),
        "pad reflect": lambda a, k: F.pad(a, (2, 1, 1, 2), mode="reflect"),
        "pad circular": lambda a, k: F.pad(a, (2, 1, 1, 2), mode="circular"),
        "pad replicate": lambda a, k: F.pad(a, (2, 1, 1, 2), mode="replicate"),
        "relu": lambda a, k: F.relu(a),
        "linear": lambda a, k: F.linear(a[0, 0], k[0, 0, :, :].repeat(4, axis=1)[:, :4]),
        "flatten": lambda a, k: F.flatten(a, 1),
        "mean": lambda a, k: Tensor(a).mean(axis=(2, 3)),
    }
    for name, call in calls.items():
        got = call(x, w)
        expected = call(f, w.astype(np.float64))
        np.testing.assert_array_equal(np.asarray(got.numpy(), dtype=np.float64),
                                      expected.numpy(), err_msg=name)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    unpooled = F.max_unpool2d(out, idx, 2)
    np.testing.assert_array_equal(unpooled.numpy(), F.max_unpool2d(
        F.max_pool2d(f, 2), idx, 2).numpy())
    for _name, call in {"softmax": lambda: F.softmax(x), "log_softmax": lambda: F.log_softmax(x),
                       "cross_entropy": lambda: F.cross_entropy(x[0, 0], np.array([0, 1, 2, 3])),
                       "nll_loss": lambda: F.nll_loss(x[0, 0], np.array([0, 1, 2, 3]))}.items():
        with pytest.raises(TypeError, match="astype|convert"):
            call()


# ------------------------------------------------------------- NaN and inf as PyTorch

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _grads(f, tf, *arrays, exact=True):
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    tt = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    out, tout = f(*ts), tf(*tt)
    g = np.linspace(0.5, 1.5, out.size).reshape(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    if exact:
        np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    else:
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    for t, u in zip(ts, tt, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), u.grad.numpy(), rtol=1e-12, atol=1e-14)


NAN, INF = np.nan, np.inf


def test_maximum_minimum_relu_nan_gradient_as_pytorch():
    """Where x or y is NaN, torch.maximum gives both the gradient (x < y and x > y are
    both false); relu'(NaN) = 1. The engine gave both 0."""
    a = np.array([1.0, NAN, 3.0, NAN, -INF, INF, 0.0, 2.0])
    b = np.array([NAN, 1.0, 3.0, NAN, 0.0, INF, 0.0, -1.0])
    _grads(lambda x, y: x.maximum(y), lambda x, y: torch.maximum(x, y), a, b)
    _grads(lambda x, y: x.minimum(y), lambda x, y: torch.minimum(x, y), a, b)
    _grads(lambda x: x.relu(), lambda x: x.relu(), a)
    _grads(lambda x: F.relu(x), TF.relu, a)
    _grads(lambda x: x.sigmoid(), torch.sigmoid, np.array([-1000.0, 1000.0, NAN, INF, -INF]))


@pytest.mark.parametrize("x", [
    [[-INF, -INF], [-INF, -INF]],  # every window ties with its -inf padding
    [[1.0, NAN], [NAN, 2.0]],  # PyTorch keeps the last NaN of a window
    [[NAN, -INF], [3.0, NAN]],
])
def test_max_pool_winner_as_pytorch_with_padding_and_nan(x):
    x = np.array([[x]])
    for kwargs in ({"kernel_size": 2}, {"kernel_size": 2, "padding": 1},
                   {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}):
        _grads(lambda t, kw=kwargs: F.max_pool2d(t, **kw),
               lambda t, kw=kwargs: TF.max_pool2d(t, **kw), x)
        ours = F.max_pool2d(x, return_indices=True, **kwargs)[1].numpy()
        theirs = TF.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)[1].numpy()
        np.testing.assert_array_equal(ours, theirs)


def test_max_pool_random_nan_inf_grid_against_pytorch():
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = rng.integers(1, 6, 2)
        k = int(rng.integers(1, 4))
        p, s, d = int(rng.integers(0, k // 2 + 1)), int(rng.integers(1, 4)), 1
        if h + 2 * p < k or w + 2 * p < k:
            continue
        x = rng.choice([-INF, NAN, 1.0, 2.0, -INF], size=(1, 2, h, w))
        kw = {"kernel_size": k, "stride": s, "padding": p, "dilation": d,
              "ceil_mode": bool(rng.integers(0, 2))}
        _grads(lambda t, kw=kw: F.max_pool2d(t, **kw), lambda t, kw=kw: TF.max_pool2d(t, **kw),
               x)
        np.testing.assert_array_equal(F.max_pool2d(x, return_indices=True, **kw)[1].numpy(),
                                      TF.max_pool2d(torch.tensor(x), return_indices=True,
                                                    **kw)[1].numpy())


def test_max_pool_indices_of_a_window_of_only_padding_refused():
    """kernel 2, dilation 2, padding 1 on a 1x1 input: the window's cells are -1 and 1,
    both padding. PyTorch returns index 2 (outside the plane) and its backward corrupts
    memory; the values are fine (-inf), the index is refused."""
    x = np.zeros((1, 1, 1, 1))
    assert F.max_pool2d(x, 2, 3, 1, 2).numpy().tolist() == [[[[-INF]]]]
    with pytest.raises(ValueError, match=r"window \(0, 0\) covers only padding"):
        F.max_pool2d(x, 2, 3, 1, 2, return_indices=True)


# ---------------------------------------------------------------------------- float16


def test_float16_refused_where_sums_overflow_it():
    """avg_pool2d of float16 60000s was inf (the window sum overflows at 65504)."""
    x = np.full((1, 1, 4, 4), 60000, np.float16)
    w = np.ones((1, 1, 3, 3), np.float16)
    calls = [lambda: F.avg_pool2d(x, 2), lambda: F.adaptive_avg_pool2d(x, 2),
             lambda: F.conv2d(x, w), lambda: F.conv_transpose2d(x, w),
             lambda: F.conv1d(x[0], w[0]), lambda: F.linear(x[0, 0], w[0, 0, :, :1].T),
             lambda: F.softmax(x), lambda: F.log_softmax(x),
             lambda: F.cross_entropy(x[0, 0], np.array([0, 1, 2, 3])),
             lambda: F.nll_loss(x[0, 0], np.array([0, 1, 2, 3]))]
    for call in calls:
        with pytest.raises(TypeError, match=r"float16.*astype\(np.float32\)"):
            call()
    # no sum: exact in float16
    assert F.max_pool2d(x, 2).numpy().tolist() == [[[[60000.0] * 2] * 2]]
    assert F.pad(x, (1, 1), mode="reflect").dtype == np.float16
    # Tensor reductions accumulate in float32 (as PyTorch's half on CPU)
    assert Tensor(x).mean().item() == 60000.0
    assert Tensor(np.full(4096, 1.0, np.float16)).sum().item() == 4096.0  # not 2048


# ---------------------------------------------------------------------- absurd sizes


@pytest.mark.parametrize("call, words", [
    (lambda x: F.pad(x, (10**9, 10**9), mode="replicate"), "padded tensor would have shape"),
    (lambda x: F.pad(x, (10**5,) * 4, mode="replicate"), "GiB"),
    (lambda x: F.adaptive_avg_pool2d(x, 10**9), "output would have shape"),
    (lambda x: F.adaptive_max_pool2d(x, 10**9), "output would have shape"),
    (lambda x: F.max_unpool2d(x, np.zeros(x.shape, np.int64), 10**9), "output would have"),
    (lambda x: Tensor(np.ones((1, 1))).expand(10**9, 1) @ Tensor(np.ones((1, 1))).expand(
        1, 10**9), "product would have shape"),
])
def test_absurd_sizes_refused_before_allocating(call, words):
    """Each of these raised MemoryError / OverflowError (or built a Python list of 10**9
    indices) before: now a ValueError with the shape it would have."""
    with pytest.raises(ValueError, match=words):
        call(np.ones((1, 1, 4, 4)))


def test_adaptive_pooling_of_many_bins_is_fast_and_exact():
    """Unequal bins were a slice per bin and a quadratic concatenation; now one gather or
    one product with an averaging matrix: exact on Fractions, as PyTorch on floats."""
    from fractions import Fraction

    x = Tensor(np.array([[[[Fraction(i) for i in range(5)]] * 3]], dtype=object),
               requires_grad=True)
    out = F.adaptive_avg_pool2d(x, (2, 3))
    assert out.numpy()[0, 0, 0].tolist() == [Fraction(1, 2), Fraction(2), Fraction(7, 2)]
    out.sum().backward()
    assert x.grad.numpy()[0, 0, 0].tolist() == [Fraction(1, 4), Fraction(5, 12),
                                               Fraction(1, 6), Fraction(5, 12), Fraction(1, 4)]
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2, 3, 7, 5))
    for size in ((3, 4), (5, 2), (11, 13), (1, 3000)):
        for f, tf in ((F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d),
                      (F.adaptive_max_pool2d, TF.adaptive_max_pool2d)):
            _grads(lambda t, f=f, size=size: f(t, size),
                   lambda t, tf=tf, size=size: tf(t, size), data, exact=False)


# ------------------------------------------------------------- training, as PyTorch


def _pair_of_networks():
    """The same small CNN in both engines (float64), weights copied from PyTorch's."""
    from tinygrad_cnn import nn

    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3, stride=2, groups=4, dilation=1, padding=1),
        torch.nn.MaxPool2d(2, ceil_mode=True), torch.nn.ConvTranspose2d(4, 3, 2, stride=2,
                                                                        output_padding=1),
        torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        torch.nn.AdaptiveAvgPool2d((2, 3)), torch.nn.Flatten(), torch.nn.Linear(18, 5),
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect", dtype=np.float64), nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, groups=4, padding=1, dtype=np.float64),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.ConvTranspose2d(4, 3, 2, stride=2, output_padding=1, dtype=np.float64),
        nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(18, 5, dtype=np.float64),
    )
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_small_network_trains_step_for_step_as_pytorch(optimizer):
    from tinygrad_cnn import optim

    ours, theirs = _pair_of_networks()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 9, 7))[:, :, ::-1]  # a negative-stride view
    target = np.array([0, 4, 2])
    if optimizer == "sgd":
        opt = optim.SGD(list(ours.parameters()), lr=0.1, momentum=0.9)
        topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(list(ours.parameters()), lr=0.01)
        topt = torch.optim.Adam(theirs.parameters(), lr=0.01)
    for _ in range(4):
        loss = F.cross_entropy(ours(Tensor(x)), target, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = TF.cross_entropy(theirs(torch.tensor(x.copy())), torch.tensor(target),
                                 label_smoothing=0.1)
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=key)
    # a state_dict round trip gives the same outputs in a fresh network
    fresh, _ = _pair_of_networks()
    fresh.load_state_dict(ours.state_dict())
    np.testing.assert_array_equal(fresh(Tensor(x)).numpy(), ours(Tensor(x)).numpy())


# --------------------------------------- parity on layouts and sizes the grids do not draw


def _r(*shape):
    return np.random.default_rng(sum(shape) + len(shape)).standard_normal(shape)


PARITY = {
    "conv2d transposed input": (lambda x, w, b: F.conv2d(x, w, b), TF.conv2d,
                                [_r(2, 3, 6, 7).transpose(0, 1, 3, 2), _r(4, 3, 3, 3), _r(4)]),
    "conv2d negative strides": (lambda x, w: F.conv2d(x, w, padding=1),
                                lambda x, w: TF.conv2d(x, w, padding=1),
                                [_r(2, 3, 7, 6)[:, :, ::-1, ::-2], _r(4, 3, 3, 3)[:, :, ::-1]]),
    "conv2d stride > kernel": (lambda x, w: F.conv2d(x, w, stride=(5, 4), padding=2),
                               lambda x, w: TF.conv2d(x, w, stride=(5, 4), padding=2),
                               [_r(2, 3, 9, 8), _r(4, 3, 3, 3)]),
    "conv2d kernel = padded input": (lambda x, w: F.conv2d(x, w, padding=1),
                                     lambda x, w: TF.conv2d(x, w, padding=1),
                                     [_r(2, 3, 5, 4), _r(2, 3, 7, 6)]),
    "conv2d 1x1 image": (lambda x, w: F.conv2d(x, w, padding=1),
                         lambda x, w: TF.conv2d(x, w, padding=1), [_r(2, 3, 1, 1), _r(4, 3, 3, 3)]),
    "conv2d empty batch": (lambda x, w: F.conv2d(x, w), TF.conv2d,
                           [_r(0, 3, 5, 5), _r(4, 3, 3, 3)]),
    "conv2d depthwise dilated": (lambda x, w: F.conv2d(x, w, groups=3, dilation=2, padding=2),
                                 lambda x, w: TF.conv2d(x, w, groups=3, dilation=2, padding=2),
                                 [_r(2, 3, 7, 7), _r(6, 1, 3, 3)]),
    "conv_transpose2d output_padding max": (
        lambda x, w: F.conv_transpose2d(x, w, stride=(3, 2), padding=1, output_padding=(2, 1)),
        lambda x, w: TF.conv_transpose2d(x, w, stride=(3, 2), padding=1, output_padding=(2, 1)),
        [_r(2, 4, 3, 4), _r(4, 3, 3, 3)]),
    "conv_transpose2d output_padding < dilation": (
        lambda x, w: F.conv_transpose2d(x, w, stride=2, dilation=3, output_padding=2),
        lambda x, w: TF.conv_transpose2d(x, w, stride=2, dilation=3, output_padding=2),
        [_r(2, 4, 3, 4), _r(4, 3, 3, 3)]),
    "conv_transpose2d depthwise reversed": (
        lambda x, w: F.conv_transpose2d(x, w, stride=2, groups=4),
        lambda x, w: TF.conv_transpose2d(x, w, stride=2, groups=4),
        [_r(2, 4, 3, 4)[..., ::-1], _r(4, 1, 2, 2)]),
    "conv_transpose2d 1x1 stride 5": (
        lambda x, w: F.conv_transpose2d(x, w, stride=5, output_padding=4),
        lambda x, w: TF.conv_transpose2d(x, w, stride=5, output_padding=4),
        [_r(1, 2, 1, 1), _r(2, 3, 1, 1)]),
    "conv_transpose1d": (
        lambda x, w: F.conv_transpose1d(x, w, stride=3, padding=2, output_padding=2, dilation=2),
        lambda x, w: TF.conv_transpose1d(x, w, stride=3, padding=2, output_padding=2,
                                         dilation=2), [_r(2, 4, 5), _r(4, 3, 3)]),
    "max_pool2d dilation ceil_mode": (
        lambda x: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True),
        lambda x: TF.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True), [_r(2, 3, 8, 9)]),
    "avg_pool2d ceil_mode stride > kernel": (
        lambda x: F.avg_pool2d(x, 2, 3, 1, ceil_mode=True),
        lambda x: TF.avg_pool2d(x, 2, 3, 1, ceil_mode=True), [_r(2, 3, 8, 9)]),
    "avg_pool2d divisor_override transposed": (
        lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=5),
        lambda x: TF.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=5),
        [_r(2, 3, 9, 8).transpose(0, 1, 3, 2)]),
    "adaptive_max_pool2d upsampling": (lambda x: F.adaptive_max_pool2d(x, (6, 8)),
                                       lambda x: TF.adaptive_max_pool2d(x, (6, 8)),
                                       [_r(2, 3, 5, 7)]),
    "pad circular whole axis": (lambda x: F.pad(x, (5, 5), mode="circular"),
                                lambda x: TF.pad(x, (5, 5), mode="circular"), [_r(2, 3, 5)]),
    "pad reflect negative stride": (lambda x: F.pad(x, (2, 1, 3, 0), mode="reflect"),
                                    lambda x: TF.pad(x, (2, 1, 3, 0), mode="reflect"),
                                    [_r(2, 3, 4, 5)[:, :, ::-1]]),
    "linear transposed, reversed": (lambda x, w, b: F.linear(x, w, b), TF.linear,
                                    [_r(3, 5).T, _r(6, 3)[::-1], _r(4, 6)[0]]),
    "softmax reversed columns": (lambda x: F.softmax(x, axis=0), lambda x: TF.softmax(x, dim=0),
                                 [_r(4, 5).T[::-1]]),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_parity_on_odd_layouts(name):
    f, tf, arrays = PARITY[name]
    _grads(f, tf, *arrays, exact=False)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_losses_parity_on_option_combinations(reduction):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4))
    probs = rng.dirichlet(np.ones(4), 5)
    weight = rng.random(4) + 0.1
    target = np.array([0, 3, 1, 3, 2])
    cases = [
        (lambda a: F.cross_entropy(a, probs, weight=weight, label_smoothing=0.3,
                                   reduction=reduction),
         lambda a: TF.cross_entropy(a, torch.tensor(probs), weight=torch.tensor(weight),
                                    label_smoothing=0.3, reduction=reduction), logits),
        (lambda a: F.cross_entropy(a, target, weight=weight, label_smoothing=0.2,
                                   ignore_index=3, reduction=reduction),
         lambda a: TF.cross_entropy(a, torch.tensor(target), weight=torch.tensor(weight),
                                    label_smoothing=0.2, ignore_index=3, reduction=reduction),
         logits),
        (lambda a: F.cross_entropy(a, target[:4].reshape(2, 2), reduction=reduction,
                                   ignore_index=1),
         lambda a: TF.cross_entropy(a, torch.tensor(target[:4].reshape(2, 2)),
                                    reduction=reduction, ignore_index=1),
         rng.standard_normal((2, 4, 2))),
    ]
    if reduction != "mean":  # all ignored: PyTorch's mean is 0/0 = nan
        cases.append((lambda a: F.nll_loss(a, np.full(5, 2), weight=weight, ignore_index=2,
                                           reduction=reduction),
                      lambda a: TF.nll_loss(a, torch.full((5,), 2), weight=torch.tensor(weight),
                                            ignore_index=2, reduction=reduction), logits))
    for f, tf, x in cases:
        _grads(f, tf, x, exact=False)


# ------------------------------------------- in-place edits, seterr, warnings as errors

_OPS = {
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=1),
                         [(1, 2, 3, 3), (2, 3, 3, 3)]),
    "pad reflect": (lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect") ** 2, [(1, 1, 4, 4)]),
    "pad replicate": (lambda x: F.pad(x, (2, 1, 1, 2), mode="replicate") ** 2, [(1, 1, 4, 4)]),
    "pad circular": (lambda x: F.pad(x, (2, 1, 1, 2), mode="circular") ** 2, [(1, 1, 4, 4)]),
    "gather": (lambda x: x[np.array([0, 2, 2])] * x[np.array([1, 1, 0])], [(4, 3)]),
    "power": (lambda x, y: x**y, [(3,), (3,)]),
    "max_unpool2d": (lambda x: F.max_unpool2d(*F.max_pool2d(x * x, 2, return_indices=True), 2),
                     [(1, 1, 4, 4)]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x * x, (3, 2)), [(1, 1, 5, 5)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x * x, (3, 2)), [(1, 1, 5, 5)]),
    "max_pool2d ceil": (lambda x: F.max_pool2d(x * x, 3, 2, 1, ceil_mode=True), [(1, 1, 6, 6)]),
    "cross_entropy smoothing": (lambda x: F.cross_entropy(x * x, np.array([0, 2]),
                                                          label_smoothing=0.2), [(2, 3)]),
    "log_softmax": (lambda x: F.log_softmax(x) * x, [(2, 3)]),
    "sigmoid": (lambda x: x.sigmoid(), [(3,)]),
    "linear": (lambda x, w: F.linear(x, w), [(2, 3), (4, 3)]),
}


@pytest.mark.parametrize("name", list(_OPS))
def test_in_place_edit_between_forward_and_backward_raises_or_is_harmless(name):
    """Editing an input array (the one shared with the Tensor, or t.data) after the
    forward pass: backward raises, or (when the op kept its own copy) gives the gradient
    of the forward pass that ran, never a mix."""
    f, shapes = _OPS[name]
    rng = np.random.default_rng(0)
    arrays = [rng.random(s) + 0.5 for s in shapes]

    def gradients(edit_index, through_data):
        copies = [a.copy() for a in arrays]
        ts = [Tensor(c, requires_grad=True) for c in copies]
        out = f(*ts)
        if edit_index is not None:
            target = ts[edit_index].data if through_data else copies[edit_index]
            target += 1.0
        try:
            out.backward(np.linspace(-1, 1, out.size).reshape(out.shape))
        except RuntimeError as error:
            assert "changed in place" in str(error)
            return None
        return [t.grad.numpy() for t in ts]

    clean = gradients(None, False)
    for i in range(len(arrays)):
        for through_data in (False, True):
            edited = gradients(i, through_data)
            if edited is not None:
                for a, b in zip(clean, edited, strict=True):
                    np.testing.assert_array_equal(a, b)


def test_forward_and_backward_quiet_under_seterr_raise_and_warnings_as_errors():
    """inf, -inf, NaN and 1e308 through every op: IEEE results, no NumPy warning, no
    FloatingPointError (the engine sets its own error state)."""
    import warnings

    x = np.array([[[[1.0, NAN, -INF, INF], [0.0, 2.0, -1.0, 1e308],
                    [3.0, -1e308, 0.0, 5.0], [1.0, 1.0, 1.0, 1.0]]]])
    w = np.array([[[[1.0, -1.0], [0.5, INF]]]])
    ops = [lambda a, k: F.conv2d(a, k, padding=1),
           lambda a, k: F.conv_transpose2d(a, k, stride=2, output_padding=1),
           lambda a, k: F.max_pool2d(a, 2, padding=1, ceil_mode=True),
           lambda a, k: F.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=False),
           lambda a, k: F.adaptive_avg_pool2d(a, 3), lambda a, k: F.adaptive_max_pool2d(a, 3),
           lambda a, k: F.pad(a, (2, 1, 1, 2), mode="reflect"),
           lambda a, k: F.max_unpool2d(*F.max_pool2d(a, 2, return_indices=True), 2),
           lambda a, k: F.softmax(a, axis=3), lambda a, k: F.log_softmax(a, axis=2),
           lambda a, k: F.cross_entropy(a.reshape(4, 4), np.array([0, 1, 2, 3]),
                                        label_smoothing=0.2, weight=np.ones(4)),
           lambda a, k: F.linear(a.reshape(4, 4), k.reshape(1, 4)),
           lambda a, k: a.sigmoid(), lambda a, k: a.tanh(), lambda a, k: a.exp(),
           lambda a, k: a.log(), lambda a, k: a**-1.5, lambda a, k: 0.0**a,
           lambda a, k: a.reshape(4, 4) ** a.reshape(4, 4).T, lambda a, k: a / a,
           lambda a, k: a.max(), lambda a, k: a.min(axis=2), lambda a, k: a.mean(axis=(2, 3)),
           lambda a, k: a.maximum(a.permute(0, 1, 3, 2))]
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        for op in ops:
            a, k = Tensor(x.copy(), requires_grad=True), Tensor(w.copy(), requires_grad=True)
            out = op(a, k)
            out.backward(np.ones(out.shape))


def test_adaptive_max_pool_nan_and_inf_grid_against_pytorch():
    """PyTorch keeps the last NaN of a bin (values, indices and gradient)."""
    rng = np.random.default_rng(11)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 7, 2))
        oh, ow = (int(v) for v in rng.integers(1, 8, 2))
        x = rng.choice([NAN, 1.0, 2.0, -INF, 3.0], size=(1, 2, h, w))
        _grads(lambda t, size=(oh, ow): F.adaptive_max_pool2d(t, size),
               lambda t, size=(oh, ow): TF.adaptive_max_pool2d(t, size), x)
        ours = F.adaptive_max_pool2d(x, (oh, ow), return_indices=True)[1].numpy()
        theirs = TF.adaptive_max_pool2d(torch.tensor(x), (oh, ow), return_indices=True)[1]
        np.testing.assert_array_equal(ours, theirs.numpy())


def test_scalar_engine_keeps_numpy_scalars_and_relu_of_nan():
    from tinygrad_cnn import Value

    a, b = Value(np.int64(3)), Value(np.int64(4))
    c = a * b + a
    assert type(c.data) is np.int64 and c.data == 15
    with pytest.raises(TypeError, match="does not fit int8"):
        Value(np.int8(100)) * Value(np.int8(2))
    v = Value(float("nan"))
    v.relu().backward()
    assert v.grad == 1  # as torch.relu's gradient at NaN


def test_expand_as_pytorch_new_leading_axes_and_minus_one():
    t = Tensor(np.arange(3.0).reshape(3, 1), requires_grad=True)
    e = t.expand(2, -1, 4)
    assert e.shape == tuple(torch.ones(3, 1).expand(2, -1, 4).shape) == (2, 3, 4)
    (e * e).sum().backward()
    assert t.grad.numpy().ravel().tolist() == [0.0, 16.0, 32.0]  # 2·x·8 copies
    with pytest.raises(ValueError, match="only axes of size 1 can grow"):
        t.expand(3, 4, 5)
    with pytest.raises(ValueError, match="expected at least 2 sizes"):
        t.expand(4)
