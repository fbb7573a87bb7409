"""PyTorch parity of the functional surface of issue 15: forward and every gradient.

Transposed convolution, max pooling with ``ceil_mode`` / ``return_indices``, max-unpooling,
average pooling with ``ceil_mode`` / ``divisor_override``, adaptive pooling, ``F.pad``'s
four modes, cross-entropy's ``weight`` / ``ignore_index`` / ``label_smoothing`` and
``nll_loss``, each against ``torch.nn.functional`` in float64 (tight tolerance) and
float32, with hypothesis drawing the shapes and arguments. The comparisons need PyTorch
and skip (saying why) without it; the exact (Fraction) checks, the output-size formula
and the argument errors run everywhere.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from conftest import distinct, optional
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import spec
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, nn

TOLERANCE = {np.float64: (1e-10, 1e-12), np.float32: (2e-5, 2e-5)}
#: the active hypothesis profile's example count (30 in CI): the drawn grids below scale
#: with it, so HYPOTHESIS_PROFILE=thorough searches longer here too
BASE = settings.default.max_examples
DTYPES = st.sampled_from([np.float64, np.float32])


@pytest.fixture(scope="module")
def torch():
    """PyTorch, one thread and no oneDNN (tiny tensors), or a skip that says why."""
    module = optional("torch", "the comparisons with torch.nn.functional")
    threads, mkldnn = module.get_num_threads(), module.backends.mkldnn.enabled
    module.set_num_threads(1)
    module.backends.mkldnn.enabled = False
    yield module
    module.set_num_threads(threads)
    module.backends.mkldnn.enabled = mkldnn


def compare(torch, ours, theirs, *arrays, dtype=np.float64, seed: int = 0,
            exact: bool = False):
    """Both forwards on copies of ``arrays`` in ``dtype``; then both backwards with one
    random upstream gradient; every output and every gradient compared.

    ``exact`` asks for an identical forward (selection ops: pooling maxima, padding).
    """
    rtol, atol = TOLERANCE[dtype]
    mine = [Tensor(np.array(a, dtype=dtype), requires_grad=True) for a in arrays]
    ref = [torch.tensor(np.array(a, dtype=dtype), requires_grad=True) for a in arrays]
    out, expected = ours(*mine), theirs(*ref)
    assert out.shape == tuple(expected.shape), (out.shape, tuple(expected.shape))
    assert out.dtype == dtype
    got, want = out.numpy(), expected.detach().numpy()
    if exact:
        np.testing.assert_array_equal(got, want, err_msg="forward")
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg="forward")
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape).astype(dtype)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (m, r) in enumerate(zip(mine, ref, strict=True)):
        theirs_grad = np.zeros(m.shape) if r.grad is None else r.grad.numpy()
        ours_grad = np.zeros(m.shape) if m.grad is None else m.grad.numpy()
        assert m.grad is None or m.grad.dtype == dtype
        np.testing.assert_allclose(ours_grad, theirs_grad, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of argument {i}")
    return out


# --------------------------------------------------------------- transposed convolution


@st.composite
def conv_transpose_case(draw, dims: int = 2):
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                           for s, d in zip(stride, dilation, strict=True))
    size = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    # any padding that leaves an output, beyond d(k-1) too (the spread input is cropped)
    padding = tuple(draw(st.integers(0, ((n - 1) * s + d * (k - 1) + op) // 2))
                    for n, s, k, d, op in zip(size, stride, kernel, dilation, output_padding,
                                              strict=True))
    squeeze = (lambda t: t[0]) if dims == 1 else (lambda t: t)
    return {"x": (draw(st.integers(1, 2)), groups * cg, *size),
            "w": (groups * cg, og, *kernel), "bias": draw(st.booleans()),
            "params": {"stride": squeeze(stride), "padding": squeeze(padding),
                       "output_padding": squeeze(output_padding), "groups": groups,
                       "dilation": squeeze(dilation)}}


@pytest.mark.torch
@settings(max_examples=4 * BASE // 3)
@given(case=conv_transpose_case(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_conv_transpose2d(torch, case, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=case["x"]), rng.normal(size=case["w"])]
    arrays += [rng.normal(size=case["w"][1] * case["params"]["groups"])] if case["bias"] else []
    p = case["params"]
    out = compare(torch, lambda *t: F.conv_transpose2d(*t, **p),
                  lambda *t: torch.nn.functional.conv_transpose2d(*t, **p), *arrays,
                  dtype=dtype, seed=seed)
    (s, pad, op, d) = (p["stride"], p["padding"], p["output_padding"], p["dilation"])
    assert out.shape[2:] == tuple((n - 1) * si - 2 * pi + di * (k - 1) + oi + 1 for
                                  n, si, pi, di, k, oi in zip(case["x"][2:], s, pad, d,
                                                              case["w"][2:], op, strict=True))


@pytest.mark.torch
@settings(max_examples=BASE)
@given(case=conv_transpose_case(dims=1), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_conv_transpose1d(torch, case, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=case["x"]), rng.normal(size=case["w"])]
    arrays += [rng.normal(size=case["w"][1] * case["params"]["groups"])] if case["bias"] else []
    p = case["params"]
    compare(torch, lambda *t: F.conv_transpose1d(*t, **p),
            lambda *t: torch.nn.functional.conv_transpose1d(*t, **p), *arrays, dtype=dtype,
            seed=seed)


@pytest.mark.torch
@pytest.mark.parametrize("output_size", [None, (9, 10), (10, 10), (1, 3, 10, 9)])
def test_conv_transpose2d_module_matches_pytorch(torch, output_size):
    layer = nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, groups=2, dilation=(1, 2),
                               dtype=np.float64, rng=3)
    ref = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, groups=2,
                                   dilation=(1, 2), dtype=torch.float64)
    assert tuple(ref.weight.shape) == layer.weight.shape == (4, 3, 3, 2)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.weight.numpy()))
        ref.bias.copy_(torch.tensor(layer.bias.numpy()))
    x = np.random.default_rng(0).normal(size=(1, 4, 5, 5))
    out = layer(Tensor(x), output_size=output_size)
    expected = ref(torch.tensor(x), output_size=output_size)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
    # PyTorch's initialisation bound: 1/sqrt(fan_in), fan_in = out/groups · KH · KW
    assert np.abs(layer.weight.numpy()).max() <= 1 / np.sqrt(3 * 3 * 2)


# ---------------------------------------------------------------------------- pooling


@st.composite
def pool_case(draw, dilation: bool = True):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ceil_mode = draw(st.booleans())
    s = kernel if stride is None else stride
    hw = []
    for k, si, p, d in zip(kernel, s, padding, dil, strict=True):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        hw.append(smallest + draw(st.integers(0, si + 2)))  # every remainder mod s
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *hw), kernel, stride, \
        padding, dil, ceil_mode


@pytest.mark.torch
@settings(max_examples=5 * BASE // 3)
@given(case=pool_case(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_max_pool2d_ceil_mode_and_indices(torch, case, dtype, seed):
    shape, kernel, stride, padding, dil, ceil_mode = case
    x = distinct(shape, np.random.default_rng(seed))
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dil,
          "ceil_mode": ceil_mode}
    # a window lying entirely on the -inf padding (possible with dilation) has no maximum
    assume(np.isfinite(F.max_pool2d(x, **kw).numpy()).all())
    compare(torch, lambda t: F.max_pool2d(t, **kw), lambda t: torch.nn.functional.max_pool2d(
        t, **kw), x, dtype=dtype, seed=seed, exact=True)
    out, indices = F.max_pool2d(x.astype(dtype), **kw, return_indices=True)
    expected, expected_indices = torch.nn.functional.max_pool2d(
        torch.tensor(x.astype(dtype)), **kw, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    assert out.shape[2:] == tuple(spec.output_size(n, k, s, p, d, ceil_mode=ceil_mode) for
                                  n, k, s, p, d in zip(shape[2:], kernel, stride or kernel,
                                                       padding, dil, strict=True))


@pytest.mark.torch
def test_max_pool2d_indices_of_minus_infinity_windows_name_an_input_cell(torch):
    x = np.array([[[[-np.inf, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]]]])
    for kw in ({"kernel_size": 2, "padding": 1}, {"kernel_size": 2, "stride": 1, "padding": 1},
               {"kernel_size": (2, 3), "stride": 2, "padding": (1, 1), "ceil_mode": True}):
        out, indices = F.max_pool2d(x, **kw, return_indices=True)
        expected, expected_indices = torch.nn.functional.max_pool2d(
            torch.tensor(x), **kw, return_indices=True)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())


# the last window of ceil_mode: kept when it starts inside the input or the left padding,
# dropped when it would start in the right padding
CEIL_CORNERS = [
    # (size, kernel, stride, padding): floor count, ceil count
    (5, 2, 2, 1),  # floor 3, ceil 4 -> starts at 6 = n + p: dropped -> 3
    (6, 2, 2, 1),  # floor 4, ceil 4
    (4, 3, 2, 1),  # floor 2, ceil 3 -> starts at 4 < n + p = 5: kept
    (1, 2, 2, 0),  # floor 0 would be an error; ceil keeps one window reaching past
    (7, 3, 3, 1),  # floor 3, ceil 3
    (8, 3, 3, 1),  # floor 3, ceil 4 -> starts at 9 >= 9: dropped
    (2, 2, 3, 1),  # a stride larger than the kernel
]


@pytest.mark.torch
@pytest.mark.parametrize(("n", "k", "s", "p"), CEIL_CORNERS)
@pytest.mark.parametrize("op", ["max", "avg", "avg-exclude-pad"])
def test_ceil_mode_corners(torch, n, k, s, p, op):
    x = distinct((1, 2, n, n + 1), np.random.default_rng(n * 10 + k))
    kw = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": True}
    if op == "max":
        ours, theirs = F.max_pool2d, torch.nn.functional.max_pool2d
    else:
        kw["count_include_pad"] = op == "avg"
        ours, theirs = F.avg_pool2d, torch.nn.functional.avg_pool2d
    out = compare(torch, lambda t: ours(t, **kw), lambda t: theirs(t, **kw), x)
    assert out.shape[2:] == (spec.output_size(n, k, s, p, ceil_mode=True),
                             spec.output_size(n + 1, k, s, p, ceil_mode=True))


@pytest.mark.torch
@settings(max_examples=5 * BASE // 3)
@given(case=pool_case(dilation=False), include=st.booleans(),
       divisor=st.one_of(st.none(), st.integers(1, 7)), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_avg_pool2d_ceil_mode_count_include_pad_divisor_override(torch, case, include, divisor,
                                                                 dtype, seed):
    shape, kernel, stride, padding, _, ceil_mode = case
    x = np.random.default_rng(seed).normal(size=shape)
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
          "count_include_pad": include, "divisor_override": divisor}
    compare(torch, lambda t: F.avg_pool2d(t, **kw),
            lambda t: torch.nn.functional.avg_pool2d(t, **kw), x, dtype=dtype, seed=seed)


@pytest.mark.torch
@settings(max_examples=4 * BASE // 3)
@given(case=pool_case(dilation=False), dtype=DTYPES, resize=st.integers(-1, 1),
       seed=st.integers(0, 2**16))
def test_max_unpool2d(torch, case, dtype, resize, seed):
    shape, kernel, stride, padding, _, ceil_mode = case
    s = kernel if stride is None else stride
    x = distinct(shape, np.random.default_rng(seed)).astype(dtype)
    pooled, indices = torch.nn.functional.max_pool2d(
        torch.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode, return_indices=True)
    default = [(n - 1) * si + k - 2 * p for n, si, k, p in
               zip(pooled.shape[2:], s, kernel, padding, strict=True)]
    # the indices are positions of the pooled input: the unpooled plane must hold them
    size = tuple(max(d + resize * (si - 1), n) for d, si, n in zip(default, s, shape[2:],
                                                                   strict=True))
    assume(all(d - si < m < d + si for d, si, m in zip(default, s, size, strict=True)))
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding, "output_size": size}
    idx = indices.numpy()
    flat = idx.reshape(*idx.shape[:2], -1)
    unique = all(len(set(plane)) == plane.size for plane in flat.reshape(-1, flat.shape[-1]))
    values = pooled.numpy()
    if unique:  # forward and gradient: each value's gradient is ḡ at its position
        compare(torch, lambda t: F.max_unpool2d(t, idx, **kw),
                lambda t: torch.nn.functional.max_unpool2d(t, indices, **kw), values,
                dtype=dtype, seed=seed, exact=True)
    else:  # a position named twice: the last value is written (PyTorch on the CPU too)
        np.testing.assert_array_equal(
            F.max_unpool2d(values, idx, **kw).numpy(),
            torch.nn.functional.max_unpool2d(pooled, indices, **kw).numpy())
    ours_pooled, ours_indices = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode,
                                             return_indices=True)
    layer = nn.MaxUnpool2d(kernel, stride, padding)
    np.testing.assert_array_equal(layer(ours_pooled, ours_indices, size).numpy(),
                                  torch.nn.functional.max_unpool2d(pooled, indices, **kw))


@pytest.mark.torch
def test_max_unpool2d_with_indices_anywhere(torch):
    """Indices far outside their window (not from max_pool2d) are written where they say."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 2, 3, 3))
    idx = np.stack([rng.permutation(36)[:9].reshape(3, 3) for _ in range(4)]).reshape(x.shape)
    compare(torch, lambda t: F.max_unpool2d(t, idx, 2, output_size=(6, 6)),
            lambda t: torch.nn.functional.max_unpool2d(t, torch.tensor(idx), 2,
                                                       output_size=(6, 6)), x, exact=True)


@st.composite
def adaptive_case(draw):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    size = draw(st.one_of(st.integers(1, 10), st.tuples(
        st.one_of(st.none(), st.integers(1, 10)), st.one_of(st.none(), st.integers(1, 10)))))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w), size


@pytest.mark.torch
@settings(max_examples=4 * BASE // 3)
@given(case=adaptive_case(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_adaptive_pools(torch, case, dtype, seed):
    shape, size = case
    x = distinct(shape, np.random.default_rng(seed))
    compare(torch, lambda t: F.adaptive_avg_pool2d(t, size),
            lambda t: torch.nn.functional.adaptive_avg_pool2d(t, size), x, dtype=dtype,
            seed=seed)
    compare(torch, lambda t: F.adaptive_max_pool2d(t, size),
            lambda t: torch.nn.functional.adaptive_max_pool2d(t, size), x, dtype=dtype,
            seed=seed, exact=True)
    _, indices = F.adaptive_max_pool2d(x, size, return_indices=True)
    _, expected = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), size,
                                                          return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())


@pytest.mark.torch
@pytest.mark.parametrize("size", [1, 2, (3, 1)])
def test_adaptive_max_pool_ties_go_to_the_first_maximum_in_row_major_order(torch, size):
    x = np.random.default_rng(1).integers(0, 2, size=(2, 3, 6, 6)).astype(np.float64)
    compare(torch, lambda t: F.adaptive_max_pool2d(t, size),
            lambda t: torch.nn.functional.adaptive_max_pool2d(t, size), x, exact=True)
    compare(torch, lambda t: nn.AdaptiveMaxPool2d(size)(t),
            lambda t: torch.nn.AdaptiveMaxPool2d(size)(t), x, exact=True)


# ---------------------------------------------------------------------------- padding


@st.composite
def pad_case(draw):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    axes = draw(st.integers(1, 3 if mode != "constant" else 4))
    # PyTorch's non-constant modes pad the last 1-3 axes of a (k+1)- or (k+2)-dim input
    ndim = axes + draw(st.integers(1, 2)) if mode != "constant" else \
        draw(st.integers(axes, 4))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(ndim - axes)) + \
        tuple(draw(st.integers(1, 5)) for _ in range(axes))
    pad = []
    for axis in range(ndim - 1, ndim - 1 - axes, -1):
        n = shape[axis]
        if mode == "reflect":  # up to the limit n - 1, or a crop leaving one cell
            lo = draw(st.integers(-(n - 1), n - 1))
            hi = draw(st.integers(-(n - 1 + min(lo, 0)), n - 1))
        elif mode == "replicate":
            lo = draw(st.integers(-(n - 1), 4))
            hi = draw(st.integers(-(n - 1 + min(lo, 0)), 4))
        elif mode == "circular":  # crop first, then wrap at most once around the rest
            lo_crop = draw(st.integers(0, n - 1))
            hi_crop = draw(st.integers(0, n - 1 - lo_crop))
            m = n - lo_crop - hi_crop
            lo = -lo_crop if lo_crop else draw(st.integers(0, m))
            hi = -hi_crop if hi_crop else draw(st.integers(0, m))
        else:
            lo = draw(st.integers(-n, 3))
            hi = draw(st.integers(-(n + min(lo, 0)), 3))
        pad += [lo, hi]
    value = draw(st.sampled_from([0.0, 1.5, -2.0])) if mode == "constant" else 0
    return shape, tuple(pad), mode, value


@pytest.mark.torch
@settings(max_examples=8 * BASE // 3)
@given(case=pad_case(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_pad(torch, case, dtype, seed):
    shape, amounts, mode, value = case
    x = np.random.default_rng(seed).normal(size=shape)
    kw = {"mode": mode} if mode != "constant" else {"value": value}
    compare(torch, lambda t: F.pad(t, amounts, **kw),
            lambda t: torch.nn.functional.pad(t, amounts, **kw), x, dtype=dtype, seed=seed,
            exact=True)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_keeps_every_value_bit_for_bit(mode):
    """-0.0, inf and NaN are copied, not recomputed (the pieces are joined with -0.0)."""
    x = np.array([[[-0.0, np.inf, 0.0, -np.inf, np.nan, 2.5, -0.0]]], dtype=np.float32)
    out = F.pad(x, (3, 2), mode=mode).numpy()
    source = {"reflect": [3, 2, 1, *range(7), 5, 4], "replicate": [0, 0, 0, *range(7), 6, 6],
              "circular": [4, 5, 6, *range(7), 0, 1]}[mode]
    expected = x[..., source]
    assert out.tobytes() == expected.tobytes()


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, 2, "same"])
@pytest.mark.parametrize("dims", [1, 2])
def test_conv_padding_modes_match_pytorch(torch, mode, padding, dims):
    padding = (2, 1) if dims == 2 and padding == 2 else padding
    kernel = 3 if dims == 1 else (3, 4)
    ours = (nn.Conv1d if dims == 1 else nn.Conv2d)(
        2, 3, kernel, padding=padding, padding_mode=mode, dtype=np.float64, rng=1)
    ref = (torch.nn.Conv1d if dims == 1 else torch.nn.Conv2d)(
        2, 3, kernel, padding=padding, padding_mode=mode, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(ours.weight.numpy()))
        ref.bias.copy_(torch.tensor(ours.bias.numpy()))
    x = np.random.default_rng(2).normal(size=(2, 2, 6) if dims == 1 else (2, 2, 5, 6))
    compare(torch, ours, ref, x)  # the input's gradient; then the parameters'
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-10)


# -------------------------------------------------------------------------------- loss


@st.composite
def loss_case(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ignored = draw(st.sampled_from(["none", "some", "all"]))
    ignore_index = draw(st.sampled_from([-100, 0, c - 1, 7]))
    labels = np.array([draw(st.integers(0, c - 1)) for _ in range(n)])
    if ignored == "some":
        labels[: draw(st.integers(1, n))] = ignore_index
        labels = np.array(draw(st.permutations(labels.tolist())))
    elif ignored == "all":
        labels[:] = ignore_index
    weight = draw(st.booleans())
    return n, c, labels, ignore_index, weight, draw(st.sampled_from(["mean", "sum", "none"]))


@pytest.mark.torch
@settings(max_examples=2 * BASE)
@given(case=loss_case(), smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]), dtype=DTYPES,
       probabilities=st.booleans(), seed=st.integers(0, 2**16))
def test_cross_entropy(torch, case, smoothing, dtype, probabilities, seed):
    n, c, labels, ignore_index, use_weight, reduction = case
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 3
    weight = rng.uniform(0.2, 2.0, size=c).astype(dtype) if use_weight else None
    # (an ignore_index inside [0, C) ignores every target of that class)
    target = rng.dirichlet(np.ones(c), size=n).astype(dtype) if probabilities else labels
    if probabilities:  # PyTorch refuses an ignore_index with probabilities
        ignore_index = -100
    kw = {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": smoothing}
    torch_weight = None if weight is None else torch.tensor(weight)
    out = compare(torch, lambda z: F.cross_entropy(z, target, weight, **kw),
                  lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(target),
                                                              torch_weight, **kw),
                  logits, dtype=dtype, seed=seed)
    everything_ignored = not probabilities and (labels == ignore_index).all()
    if reduction == "mean" and everything_ignored:
        assert np.isnan(out.item())  # 0/0, as PyTorch


@pytest.mark.torch
@settings(max_examples=4 * BASE // 3)
@given(case=loss_case(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_nll_loss(torch, case, dtype, seed):
    n, c, labels, ignore_index, use_weight, reduction = case
    rng = np.random.default_rng(seed)
    log_probs = rng.normal(size=(n, c))
    weight = rng.uniform(0.2, 2.0, size=c).astype(dtype) if use_weight else None
    torch_weight = None if weight is None else torch.tensor(weight)
    kw = {"ignore_index": ignore_index, "reduction": reduction}
    compare(torch, lambda z: F.nll_loss(z, labels, weight, **kw),
            lambda z: torch.nn.functional.nll_loss(z, torch.tensor(labels), torch_weight, **kw),
            log_probs, dtype=dtype, seed=seed)


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(2, 4, 3), (2, 3, 4, 5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["indices", "probabilities"])
def test_losses_over_spatial_axes(torch, shape, reduction, kind):
    """(N, C, d1, ..., dk) inputs, as a segmentation net's: one loss per pixel."""
    rng = np.random.default_rng(len(shape))
    logits = rng.normal(size=shape)
    n, c, *rest = shape
    if kind == "indices":
        target = rng.integers(0, c, size=(n, *rest))
        target[0, 0] = 255  # void pixels, ignored
        kw = {"ignore_index": 255}
    else:
        target = np.moveaxis(rng.dirichlet(np.ones(c), size=(n, *rest)), -1, 1)
        kw = {}
    w = rng.uniform(0.5, 2.0, size=c)
    kw.update(reduction=reduction, label_smoothing=0.1)
    out = compare(torch, lambda z: F.cross_entropy(z, target, w, **kw),
                  lambda z: torch.nn.functional.cross_entropy(
                      z, torch.tensor(target), torch.tensor(w), **kw), logits)
    assert out.shape == ((n, *rest) if reduction == "none" else ())
    if kind == "indices":
        del kw["label_smoothing"]
        compare(torch, lambda z: F.nll_loss(z, target, w, **kw),
                lambda z: torch.nn.functional.nll_loss(z, torch.tensor(target),
                                                       torch.tensor(w), **kw), logits)


@pytest.mark.torch
def test_nll_of_log_softmax_is_cross_entropy(torch):
    rng = np.random.default_rng(5)
    z, labels, w = rng.normal(size=(6, 4)), np.array([0, 3, -1, 2, 2, 1]), rng.uniform(size=4)
    a = F.cross_entropy(z, labels, w, ignore_index=-1).item()
    b = F.nll_loss(F.log_softmax(z, axis=1), labels, w, ignore_index=-1).item()
    assert a == pytest.approx(b, rel=1e-14)


def test_cross_entropy_mean_divides_by_the_weights_of_the_targets_kept():
    z = np.zeros((3, 2))  # every log p = -ln 2
    w = np.array([1.0, 3.0])
    loss = F.cross_entropy(z, np.array([0, 1, -100]), w).item()
    # (1 + 3) · ln 2 over the kept targets' weights 1 + 3; the ignored row does not count
    assert loss == pytest.approx(np.log(2), rel=1e-15)
    assert F.cross_entropy(z, np.array([0, 1, -100]), w, reduction="sum").item() == \
        pytest.approx(4 * np.log(2), rel=1e-15)
    assert F.cross_entropy(z, np.array([0, 1, -100]), w, reduction="none").numpy().tolist() == \
        [np.log(2), 3 * np.log(2), 0.0]


def test_cross_entropy_all_ignored_is_nan_with_a_zero_gradient():
    z = Tensor(np.ones((2, 3)), requires_grad=True)
    loss = F.cross_entropy(z, np.array([-100, -100]), label_smoothing=0.3)
    loss.backward()
    assert np.isnan(loss.item())
    assert z.grad.numpy().tolist() == [[0.0] * 3] * 2


def test_nll_loss_is_exact_on_fractions():
    log_p = Tensor(np.array([[Fraction(-3, 2), Fraction(-1, 2), Fraction(-4)],
                             [Fraction(-1, 3), Fraction(-7, 3), Fraction(-5)],
                             [Fraction(-1), Fraction(-1), Fraction(-1)]], dtype=object),
                   requires_grad=True)
    w = np.array([Fraction(2), Fraction(1, 2), Fraction(3)], dtype=object)
    loss = F.nll_loss(log_p, np.array([1, 0, 2]), w, ignore_index=2)
    # -(1/2 · -1/2 + 2 · -1/3) / (1/2 + 2); the third row is ignored
    assert loss.item() == Fraction(11, 30)
    loss.backward()
    assert log_p.grad.numpy().tolist() == [[0, Fraction(-1, 5), 0], [Fraction(-4, 5), 0, 0],
                                           [0, 0, 0]]


def test_probability_targets_with_weight_and_smoothing_gradient_flows_to_the_target():
    rng = np.random.default_rng(6)
    z = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    y = Tensor(rng.dirichlet(np.ones(4), size=3), requires_grad=True)
    F.cross_entropy(z, y, np.array([1.0, 2.0, 0.5, 1.0]), label_smoothing=0.2).backward()
    assert y.grad is not None and y.grad.shape == (3, 4)


# ------------------------------------------------------------------- exact and shapes


def _frac(shape, rng):
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Fraction(int(rng.integers(-9, 10)), int(rng.integers(1, 4)))
    return out


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_is_exact_on_fractions_and_its_gradient_counts_the_copies(mode):
    rng = np.random.default_rng(7)
    x = Tensor(_frac((1, 4, 5), rng), requires_grad=True)
    out = F.pad(x, (2, -1, 3, 1), mode=mode)
    out.sum().backward()
    # the last axis loses its last cell, then every mode pads the rest as NumPy's pad does
    reference = np.pad(x.numpy()[:, :, :4], ((0, 0), (3, 1), (2, 0)),
                       mode={"constant": "constant", "reflect": "reflect",
                             "replicate": "edge", "circular": "wrap"}[mode])
    assert out.numpy().tolist() == reference.tolist()
    # each input element's gradient is the number of places it was copied to
    counts = np.zeros((1, 4, 5), dtype=int)
    index = np.arange(20).reshape(1, 4, 5)
    padded = F.pad(Tensor(index.astype(np.float64)), (2, -1, 3, 1), mode=mode).numpy()
    if mode == "constant":
        padded = padded[:, 3:-1, 2:]  # the filled cells copy nothing
    for v in padded.ravel():
        counts.flat[int(v)] += 1
    assert x.grad.numpy().tolist() == counts.tolist()


def test_pools_with_the_new_options_are_exact_on_fractions():
    rng = np.random.default_rng(8)
    x = Tensor(_frac((1, 2, 5, 4), rng), requires_grad=True)
    parts = [F.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False),
             F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=7),
             F.adaptive_avg_pool2d(x, (3, 3)), F.adaptive_max_pool2d(x, (2, 3)),
             F.max_pool2d(x, 2, 2, 1, ceil_mode=True)]
    for p in parts:
        assert all(isinstance(v, Fraction) for v in p.numpy().ravel())
    total = parts[0].sum() + parts[1].sum() + parts[2].sum() + parts[3].sum() + parts[4].sum()
    total.backward()
    assert all(isinstance(v, (Fraction, int)) for v in x.grad.numpy().ravel())
    a = F.adaptive_avg_pool2d(x, (3, 3)).numpy()
    data = x.numpy()
    assert a[0, 1, 1, 2] == sum(data[0, 1, 1:4, 2:4].ravel(), Fraction(0)) / 6  # rows 1-3


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_size_with_ceil_mode_counts_window_positions(ceil_mode):
    """spec.output_size and the engine's helper agree with a literal count of the window
    starts 0, s, 2s, ...: floor counts the windows inside the padded input; ceil_mode
    also those running past its end by less than a stride, if they start before n + p."""
    for n, k, s, p, d in itertools.product(range(1, 10), range(1, 4), range(1, 4), range(3),
                                           range(1, 3)):
        if 2 * p > k:
            continue
        last = n + 2 * p - 1  # the last cell of the padded input
        reach = s - 1 if ceil_mode else 0
        count = 0
        while (count * s + d * (k - 1) <= last + reach
               and (not ceil_mode or count * s < n + p)):
            count += 1
        formula = spec.output_size(n, k, s, p, d, ceil_mode=ceil_mode)
        assert max(formula, 0) == count, (n, k, s, p, d)
        assert F.output_size(n, k, s, 2 * p, d, ceil_mode) == formula


@pytest.mark.torch
def test_output_size_with_ceil_mode_matches_pytorch_shapes(torch):
    for n, k, s, p, d in itertools.product(range(1, 9), range(1, 4), range(1, 4), range(2),
                                           range(1, 3)):
        if 2 * p > k or n + 2 * p < d * (k - 1) + 1 and not n + 2 * p >= 1:
            continue
        try:
            shape = torch.nn.functional.max_pool2d(torch.zeros(1, 1, n, 1), (k, 1), (s, 1),
                                                   (p, 0), (d, 1), ceil_mode=True).shape
        except RuntimeError:
            assert spec.output_size(n, k, s, p, d, ceil_mode=True) < 1
            continue
        assert spec.output_size(n, k, s, p, d, ceil_mode=True) == shape[2], (n, k, s, p, d)


def test_output_size_ceil_mode_symbolic_is_a_piecewise():
    import sympy as sp

    n, k, s, d = sp.symbols("n k s d", integer=True, positive=True)
    p = sp.Symbol("p", integer=True, nonnegative=True)
    expr = spec.output_size(n, k, s, p, d, ceil_mode=True)
    assert isinstance(expr, sp.Piecewise)
    for values in itertools.product(range(1, 8), range(1, 4), range(1, 4), range(2),
                                    range(1, 3)):
        if 2 * values[3] > values[1]:
            continue
        got = expr.subs(dict(zip((n, k, s, p, d), values, strict=True)))
        assert int(got) == spec.output_size(*values, ceil_mode=True), values
    with pytest.raises(TypeError, match="ceil_mode"):
        spec.output_size(5, 2, ceil_mode=1)


# ------------------------------------------------------------------------------ errors

ERRORS = [
    ("reflect larger than the input",
     lambda: F.pad(np.zeros((1, 1, 3)), (3, 0), mode="reflect"), ValueError,
     r"reflect padding \(3, 0\) of axis 2 needs each amount smaller than the size of "
     r"that axis, 3; got padding 3 for size 3"),
    ("circular wraps twice", lambda: F.pad(np.zeros((1, 1, 3)), (0, 4), mode="circular"),
     ValueError, r"wraps around more than once.*at most the size 3"),
    ("odd pad tuple", lambda: F.pad(np.zeros((2, 3)), (1, 2, 3)), ValueError,
     r"pad must hold a \(before, after\) pair per padded axis.*\(1, 2, 3\)"),
    ("pad more axes than the input", lambda: F.pad(np.zeros(3), (1, 1, 1, 1)), ValueError,
     r"at most 1 pairs for an input of shape \(3,\)"),
    ("pad mode", lambda: F.pad(np.zeros((1, 3)), (1, 1), mode="mirror"), ValueError,
     r"mode must be one of 'constant', 'reflect', 'replicate', 'circular', got 'mirror'"),
    ("pad value with reflect", lambda: F.pad(np.zeros((1, 3)), (1, 1), "reflect", 2.0),
     ValueError, r"mode 'reflect' takes no value"),
    ("crop past the input", lambda: F.pad(np.zeros((1, 3)), (-2, -2)), ValueError,
     r"padding \(-2, -2\) of axis 1 \(size 3\) leaves size -1"),
    ("pad float", lambda: F.pad(np.zeros((1, 3)), (1.0, 1)), TypeError,
     r"pad: pad must be an int, got 1.0"),
    ("output_padding too large", lambda: F.conv_transpose2d(
        np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 3, 3)), stride=2, output_padding=2), ValueError,
     r"output_padding must be smaller than either stride or dilation, got output_padding "
     r"\(2, 2\), stride \(2, 2\), dilation \(1, 1\)"),
    ("conv_transpose padding too large", lambda: F.conv_transpose2d(
        np.zeros((1, 2, 3, 3)), np.zeros((2, 1, 3, 3)), padding=4), ValueError,
     r"output size \(3 - 1\)\*1 - 2\*4 \+ 1\*\(3 - 1\) \+ 0 \+ 1 = -3"),
    ("conv_transpose weight channels", lambda: F.conv_transpose2d(
        np.zeros((1, 2, 3, 3)), np.zeros((3, 1, 3, 3))), ValueError,
     r"weight.shape\[0\] must equal the input channels \(2\), got weight shape \(3, 1, 3, 3\)"),
    ("conv_transpose bias", lambda: F.conv_transpose2d(
        np.zeros((1, 2, 3, 3)), np.zeros((2, 2, 3, 3)), np.zeros(3), groups=2), ValueError,
     r"bias must have shape \(4,\)"),
    ("conv_transpose1d rank", lambda: F.conv_transpose1d(np.zeros((1, 2, 3, 3)),
                                                         np.zeros((2, 1, 3))), ValueError,
     r"input must have 3 dims \(N, C_in, L\)"),
    ("unpool output_size", lambda: F.max_unpool2d(
        np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 2, output_size=(6, 4)),
     ValueError, r"invalid output_size \(6, 4\): size 0 must be strictly between 2 and 6"),
    ("unpool index out of the plane", lambda: F.max_unpool2d(
        np.zeros((1, 1, 1, 2)), np.array([[[[0, 8]]]]), 2), ValueError,
     r"indices must be in \[0, 8\) for an output plane of 2x4, got \[8\]"),
    ("unpool indices scattered far", lambda: F.max_unpool2d(
        np.zeros((1, 1, 64, 64)), np.array([[0, 129 * 129 - 1] * 32] * 64)[None, None], 2,
        output_size=(129, 129)), ValueError, r"indices must stay near their pooling windows"),
    ("unpool float indices", lambda: F.max_unpool2d(
        np.zeros((1, 1, 1, 2)), np.zeros((1, 1, 1, 2)), 2), TypeError,
     r"indices must be integers"),
    ("ceil_mode not a bool", lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2, ceil_mode="yes"),
     TypeError, r"max_pool2d: ceil_mode must be a bool, got 'yes'"),
    ("divisor_override 0", lambda: F.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, divisor_override=0),
     ValueError, r"avg_pool2d: divisor_override must be >= 1, got 0"),
    ("adaptive size 0", lambda: F.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), (0, 2)),
     ValueError, r"adaptive_avg_pool2d: output_size must be >= 1, got 0"),
    ("adaptive size triple", lambda: F.adaptive_max_pool2d(np.zeros((1, 1, 4, 4)), (1, 2, 3)),
     ValueError, r"output_size must be an int or a pair"),
    ("weight shape", lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]),
                                             np.ones(2)), ValueError,
     r"cross_entropy: weight must have shape \(3,\), one per class, got \(2,\)"),
    ("weight requires grad", lambda: F.cross_entropy(
        np.zeros((2, 3)), np.array([0, 1]), Tensor(np.ones(3), requires_grad=True)), ValueError,
     r"weight must not require grad"),
    ("label_smoothing range", lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]),
                                                      label_smoothing=1.5), ValueError,
     r"label_smoothing must be in \[0, 1\], got 1.5"),
    ("ignore_index type", lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]),
                                                  ignore_index=1.0), TypeError,
     r"ignore_index must be an int, got 1.0"),
    ("label next to ignore_index", lambda: F.nll_loss(np.zeros((2, 3)), np.array([0, -1])),
     ValueError, r"nll_loss: target class indices must be in \[0, 3\), got \[-1\] \(only "
                 r"ignore_index=-100 may lie outside\)"),
    ("ignore_index with probabilities", lambda: F.cross_entropy(
        np.zeros((2, 3)), np.full((2, 3), 1 / 3), ignore_index=0), ValueError,
     r"ignore_index applies to class-index targets only"),
    ("spatial target shape", lambda: F.cross_entropy(np.zeros((2, 3, 4)),
                                                     np.zeros((2, 3), np.int64)), ValueError,
     r"class-index target must have shape \(2, 4\) \(the input \(2, 3, 4\) without its "
     r"class axis\), got \(2, 3\)"),
    ("nll probability target", lambda: F.nll_loss(np.zeros((2, 3)), np.zeros((2, 3))),
     TypeError, r"nll_loss: target must hold int class indices"),
    ("ConvTranspose2d output_size", lambda: nn.ConvTranspose2d(1, 1, 3, stride=2)(
        Tensor(np.zeros((1, 1, 3, 3), np.float32)), output_size=(9, 7)), ValueError,
     r"output_size \(9, 7\): size 0 must be in \[7, 8\] for an input of size 3, got 9"),
    ("ConvTranspose2d padding_mode", lambda: nn.ConvTranspose2d(1, 1, 3,
                                                                padding_mode="reflect"),
     ValueError, r"only padding_mode='zeros' exists for a transposed convolution"),
    ("Conv1d padding_mode", lambda: nn.Conv1d(1, 1, 3, padding_mode="wrap"), ValueError,
     r"Conv1d: padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular'"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in ERRORS],
                         ids=[c[0] for c in ERRORS])
def test_bad_arguments_raise_clear_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_new_layers_and_options_run_in_a_model():
    rng = np.random.default_rng(9)
    x = Tensor(rng.normal(size=(2, 3, 9, 9)).astype(np.float32))
    pool = nn.MaxPool2d(2, ceil_mode=True, return_indices=True)
    encoder = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect", rng=0)
    decoder = nn.ConvTranspose2d(4, 3, 3, padding=1, rng=0)
    h = encoder(x)
    pooled, indices = pool(h)
    assert pooled.shape == (2, 4, 5, 5)
    restored = nn.MaxUnpool2d(2)(pooled, indices, output_size=h.shape)
    y = decoder(restored)
    z = nn.AdaptiveAvgPool2d((1, 1))(y) + nn.AdaptiveMaxPool2d(1)(y)
    loss = F.cross_entropy(z.flatten(1), np.array([0, 2]), label_smoothing=0.1)
    loss.backward()
    for layer in (encoder, decoder):
        assert layer.weight.grad is not None and layer.weight.grad.dtype == np.float32
    assert "padding_mode='reflect'" in repr(encoder)
    assert nn.Conv1d(2, 4, 3)(Tensor(np.zeros((1, 2, 5), np.float32))).shape == (1, 4, 3)
