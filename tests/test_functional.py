"""`nn.functional`: every op against float64 central differences on drawn shapes, plus an
exact (Fraction) conv2d against a hand-written loop.

Hypothesis draws batch, channels, groups (depthwise included), kernels (non-square),
strides (often above the kernel), paddings (int, pair, "valid", "same" with even kernels),
dilations and input sizes where the windows do not tile the input.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from conftest import away_from_zero, check_gradients, distinct
from hypothesis import assume, given
from hypothesis import strategies as st

import spec
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor


def _fit(draw, k: int, d: int, lo_hi: tuple[int, int]) -> int:
    """An input size for which the (dilated) window fits, plus 0-4 extra positions."""
    span = d * (k - 1) + 1
    return max(1, span - lo_hi[0] - lo_hi[1]) + draw(st.integers(0, 4))


@st.composite
def conv2d_case(draw):
    depthwise = draw(st.booleans())
    groups = draw(st.integers(1, 3))
    cg = 1 if depthwise else draw(st.integers(1, 2))
    og = draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    kind = draw(st.sampled_from(["int", "pair", "valid", "same"]))
    if kind == "same":
        stride, padding = (1, 1), "same"
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                for k, d in zip(kernel, dilation, strict=True)]
    else:
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 4)))
        if kind == "int":
            padding = draw(st.integers(0, 2))
            pads = [(padding, padding)] * 2
        elif kind == "pair":
            padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
            pads = [(p, p) for p in padding]
        else:
            padding, pads = "valid", [(0, 0)] * 2
    hw = tuple(_fit(draw, k, d, p) for k, d, p in zip(kernel, dilation, pads, strict=True))
    return {"x": (n, groups * cg, *hw), "w": (groups * og, cg, *kernel),
            "bias": draw(st.booleans()), "stride": stride, "padding": padding,
            "dilation": dilation, "groups": groups, "pads": pads}


def _expected_hw(case):
    return tuple(F.output_size(n, k, s, lo + hi, d) for n, k, s, (lo, hi), d in
                 zip(case["x"][2:], case["w"][2:], case["stride"], case["pads"],
                     case["dilation"], strict=True))


@given(case=conv2d_case(), seed=st.integers(0, 2**16))
def test_conv2d_gradients(case, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(-1, 1, size=case["x"]), rng.uniform(-1, 1, size=case["w"])
    arrays = [x, w] + ([rng.uniform(-1, 1, size=case["w"][0])] if case["bias"] else [])
    params = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}

    def f(x, w, b=None):
        return F.conv2d(x, w, b, **params)

    out = check_gradients(f, *arrays, seed=seed)
    assert out.shape == (case["x"][0], case["w"][0], *_expected_hw(case))


@st.composite
def conv1d_case(draw):
    groups = draw(st.integers(1, 3))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k, d = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from([0, 1, 2, "valid", "same"]))
    stride = 1 if padding == "same" else draw(st.integers(1, 3))
    total = d * (k - 1) if padding == "same" else 0 if padding == "valid" else 2 * padding
    length = max(1, d * (k - 1) + 1 - total) + draw(st.integers(0, 4))
    return ((draw(st.integers(1, 2)), groups * cg, length), (groups * og, cg, k),
            {"stride": stride, "padding": padding, "dilation": d, "groups": groups},
            draw(st.booleans()), total)


@given(case=conv1d_case(), seed=st.integers(0, 2**16))
def test_conv1d_gradients(case, seed):
    xs, ws, params, bias, total = case
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1, 1, size=xs), rng.uniform(-1, 1, size=ws)]
    arrays += [rng.uniform(-1, 1, size=ws[0])] if bias else []
    out = check_gradients(lambda x, w, b=None: F.conv1d(x, w, b, **params), *arrays, seed=seed)
    length = F.output_size(xs[2], ws[2], params["stride"], total, params["dilation"])
    assert out.shape == (xs[0], ws[0], length)


@st.composite
def pool_case(draw, dilation: bool):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    hw = tuple(_fit(draw, k, d, (p, p)) for k, d, p in zip(kernel, dil, padding, strict=True))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *hw)
    return shape, kernel, stride, padding, dil


@given(case=pool_case(dilation=True), seed=st.integers(0, 2**16))
def test_max_pool2d_gradients(case, seed):
    shape, kernel, stride, padding, dil = case
    x = distinct(shape, np.random.default_rng(seed))
    # with dilation a window may fall entirely on the -inf padding (output -inf, as in
    # PyTorch; see test_max_pool2d_window_inside_the_padding): no finite difference there
    assume(np.isfinite(F.max_pool2d(x, kernel, stride, padding, dil).numpy()).all())
    out = check_gradients(lambda t: F.max_pool2d(t, kernel, stride, padding, dil), x)
    s = kernel if stride is None else stride
    assert out.shape[2:] == tuple(spec.output_size(n, k, si, p, d) for n, k, si, p, d in
                                  zip(shape[2:], kernel, s, padding, dil, strict=True))


def test_max_pool2d_window_inside_the_padding():
    x = Tensor(np.array([[[[0.5, -2.0, 3.0]]]]), requires_grad=True)
    out = F.max_pool2d(x, (1, 2), stride=1, padding=(0, 1), dilation=(1, 3))
    assert out.numpy().tolist() == [[[[3.0, 0.5]]]]  # windows (pad, x2) and (x0, pad)
    x = Tensor(np.array([[[[0.5]]]]), requires_grad=True)
    out = F.max_pool2d(x, (1, 2), padding=(0, 1), dilation=(1, 2))
    out.sum().backward()
    assert out.numpy().tolist() == [[[[-np.inf]]]] and x.grad.numpy().tolist() == [[[[0.0]]]]


@given(case=pool_case(dilation=False), include=st.booleans(), seed=st.integers(0, 2**16))
def test_avg_pool2d_gradients(case, include, seed):
    shape, kernel, stride, padding, _ = case
    x = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    check_gradients(lambda t: F.avg_pool2d(t, kernel, stride, padding,
                                           count_include_pad=include), x)


def test_avg_pool2d_count_include_pad_false_divides_by_the_real_elements():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    out = F.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=False).numpy()[0, 0]
    # windows: {1}, {2,3}, {4,7}, {5,6,8,9}
    assert out.tolist() == [[1.0, 2.5], [5.5, 7.0]]
    out = F.avg_pool2d(x, 2, stride=2, padding=1).numpy()[0, 0]
    assert out.tolist() == [[0.25, 1.25], [2.75, 7.0]]


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data())
def test_relu_softmax_log_softmax_flatten_gradients(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = away_from_zero(shape, rng) * 3
    check_gradients(F.relu, x)
    check_gradients(lambda t: F.softmax(t, axis=axis), x)
    check_gradients(lambda t: F.log_softmax(t, axis=axis), x)
    start = data.draw(st.integers(0, len(shape) - 1))
    check_gradients(lambda t: F.flatten(t, start) * 2, x)


@given(n=st.integers(1, 4), c=st.integers(1, 5), probabilities=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16))
def test_cross_entropy_gradients(n, c, probabilities, reduction, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 3
    if probabilities:
        target = rng.dirichlet(np.ones(c), size=n)
    else:
        target = rng.integers(0, c, size=n)
    out = check_gradients(lambda z: F.cross_entropy(z, target, reduction=reduction), logits)
    assert out.shape == ((n,) if reduction == "none" else ())
    # the gradient is softmax(z) - y (per example), divided by N for the mean
    z = Tensor(logits, requires_grad=True)
    F.cross_entropy(z, target, reduction="sum").backward()
    y = target if probabilities else np.eye(c)[target]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(z.grad.numpy(), p - y, rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits():
    z = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]]), requires_grad=True)
    loss = F.cross_entropy(z, np.array([1, 2]))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(1e4, rel=1e-12)
    assert np.isfinite(z.grad.numpy()).all()
    np.testing.assert_allclose(z.grad.numpy(), [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-15)
    ls = F.log_softmax(np.array([[1e4, -1e4]])).numpy()
    assert ls.tolist() == [[0.0, -2e4]]


def test_cross_entropy_with_masked_logits_uses_zero_log_zero():
    z = Tensor(np.array([[0.0, -np.inf, 1.0]]), requires_grad=True)
    loss = F.cross_entropy(z, np.array([[0.5, 0.0, 0.5]]))  # PyTorch gives NaN here
    loss.backward()
    log_p = np.array([0.0, 1.0]) - np.log(1 + np.e)
    assert loss.item() == pytest.approx(-0.5 * log_p.sum(), rel=1e-15)
    p = np.exp(log_p)
    np.testing.assert_allclose(z.grad.numpy(), [[p[0] - 0.5, 0.0, p[1] - 0.5]], rtol=1e-15)
    z = Tensor(np.array([[0.0, -np.inf]]), requires_grad=True)
    assert F.cross_entropy(z, np.array([1])).item() == np.inf  # the target itself is masked


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_of_an_integer_image_equals_its_float64_average(count_include_pad):
    x = np.arange(25).reshape(1, 1, 5, 5)
    got = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=count_include_pad)
    expected = F.avg_pool2d(x.astype(np.float64), 3, stride=2, padding=1,
                            count_include_pad=count_include_pad)
    assert got.dtype == np.float64
    assert got.numpy().tolist() == expected.numpy().tolist()


def test_cross_entropy_of_an_empty_batch_sums_to_zero():
    z = Tensor(np.zeros((0, 3)), requires_grad=True)
    loss = F.cross_entropy(z, np.zeros(0, np.int64), reduction="sum")
    loss.backward()
    assert loss.item() == 0.0 and z.grad.shape == (0, 3)
    assert F.cross_entropy(z, np.zeros(0, np.int64), reduction="none").shape == (0,)


@given(batch=st.lists(st.integers(1, 3), max_size=2), fan_in=st.integers(1, 4),
       fan_out=st.integers(1, 4), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_gradients(batch, fan_in, fan_out, bias, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1, 1, size=(*batch, fan_in)), rng.uniform(-1, 1, size=(fan_out,
                                                                                   fan_in))]
    arrays += [rng.uniform(-1, 1, size=fan_out)] if bias else []
    out = check_gradients(F.linear, *arrays)
    assert out.shape == (*batch, fan_out)


def test_same_padding_splits_an_even_kernel_like_pytorch():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(1, 2, 5, 6)), rng.normal(size=(3, 2, 2, 4))
    out = F.conv2d(x, w, padding="same", dilation=(2, 1)).numpy()
    assert out.shape == (1, 3, 5, 6)
    # total padding d(k-1): (2, 3) split as (1, 1) and (1, 2): the extra goes after
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 2)))
    np.testing.assert_allclose(out, F.conv2d(padded, w, dilation=(2, 1)).numpy(), rtol=1e-14)


def test_functional_accepts_ndarrays_and_keeps_them_constant():
    out = F.relu(np.array([-1.0, 2.0]))
    assert isinstance(out, Tensor) and not out.requires_grad


# ----------------------------------------------------------------- exact conv2d, loops


def _frac_array(shape, rng):
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Fraction(int(rng.integers(-6, 7)), int(rng.integers(1, 5)))
    return out


def _conv2d_loop(x, w, b, r, stride, padding, dilation, groups):
    """Hand-written grouped conv2d, its value and the gradients of Σ r·y, in exact loops."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.empty((n, o, oh, ow), dtype=object)
    gx = np.full(x.shape, Fraction(0), dtype=object)
    gw = np.full(w.shape, Fraction(0), dtype=object)
    gb = np.full((o,), Fraction(0), dtype=object)
    for bi in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(oh):
                for j in range(ow):
                    acc = b[oc]
                    for ci in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                row, col = i * sh + p * dh - ph, j * sw + q * dw - pw
                                if 0 <= row < h and 0 <= col < wd:
                                    xv = x[bi, g * cg + ci, row, col]
                                    acc += w[oc, ci, p, q] * xv
                                    gw[oc, ci, p, q] += r[bi, oc, i, j] * xv
                                    gx[bi, g * cg + ci, row, col] += (r[bi, oc, i, j]
                                                                      * w[oc, ci, p, q])
                    y[bi, oc, i, j] = acc
                    gb[oc] += r[bi, oc, i, j]
    return y, gx, gw, gb


@pytest.mark.parametrize(("xs", "ws", "stride", "padding", "dilation", "groups"), [
    ((1, 1, 4, 4), (1, 1, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((2, 2, 5, 6), (3, 2, 2, 3), (2, 1), (1, 2), (1, 1), 1),
    ((1, 4, 7, 6), (4, 2, 3, 2), (3, 2), (1, 0), (2, 1), 2),
    ((2, 3, 5, 5), (6, 1, 2, 2), (1, 3), (1, 1), (1, 2), 3),  # depthwise, multiplier 2
])
def test_conv2d_is_exact_on_fractions(xs, ws, stride, padding, dilation, groups):
    rng = np.random.default_rng(11)
    x, w, b = _frac_array(xs, rng), _frac_array(ws, rng), _frac_array((ws[0],), rng)
    tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    r = _frac_array(y.shape, rng)
    (y * Tensor(r)).sum().backward()
    y_loop, gx, gw, gb = _conv2d_loop(x, w, b, r, stride, padding, dilation, groups)
    assert y.dtype == object and isinstance(y.numpy().flat[0], Fraction)
    assert y.numpy().tolist() == y_loop.tolist()
    assert tx.grad.numpy().tolist() == gx.tolist()
    assert tw.grad.numpy().tolist() == gw.tolist()
    assert tb.grad.numpy().tolist() == gb.tolist()
    # the plain sum as well (the upstream gradient all ones)
    tx2, tw2 = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    F.conv2d(tx2, tw2, None, stride, padding, dilation, groups).sum().backward()
    ones = np.full(y.shape, Fraction(1), dtype=object)
    zero_b = np.full((ws[0],), Fraction(0), dtype=object)
    _, gx1, gw1, _ = _conv2d_loop(x, w, zero_b, ones, stride, padding, dilation, groups)
    assert tx2.grad.numpy().tolist() == gx1.tolist()
    assert tw2.grad.numpy().tolist() == gw1.tolist()


def test_pools_and_cross_entropy_on_fractions():
    x = Tensor(np.array([[[[Fraction(1, 2), 2, Fraction(-1, 3)], [1, Fraction(3, 2), 0],
                           [Fraction(5, 4), -1, 2]]]], dtype=object), requires_grad=True)
    m = F.max_pool2d(x, 2, stride=1)
    a = F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False)
    assert m.numpy()[0, 0].tolist() == [[2, 2], [Fraction(3, 2), 2]]
    assert a.numpy()[0, 0, 0].tolist() == [Fraction(1, 2), Fraction(5, 4), Fraction(5, 6),
                                           Fraction(-1, 3)]
    (m.sum() + a.sum()).backward()
    assert all(isinstance(v, Fraction) for v in x.grad.numpy().ravel())


def test_output_size_agrees_with_the_spec():
    for n in range(1, 9):
        for k in range(1, 4):
            for s in range(1, 4):
                for p in range(3):
                    for d in range(1, 3):
                        assert F.output_size(n, k, s, 2 * p, d) == spec.output_size(n, k, s,
                                                                                    p, d)


def test_import_does_not_load_sympy():
    code = ("import sys, tinygrad_cnn, tinygrad_cnn.nn.functional, tinygrad_cnn.scalar; "
            "assert 'sympy' not in sys.modules, 'sympy was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


FUNCTIONAL_CALLS = {
    "conv1d": (lambda x, w: F.conv1d(x, w, padding="same"), [(2, 2, 6), (3, 2, 2)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
               [(1, 2, 5, 5), (4, 1, 3, 3), (4,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, 1, 1, 2), [(1, 2, 5, 5)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                   [(1, 2, 5, 5)]),
    "relu": (F.relu, [(3, 4)]),
    "softmax": (lambda x: F.softmax(x, axis=0), [(3, 4)]),
    "log_softmax": (F.log_softmax, [(3, 4)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, np.array([1, 0, 3])), [(3, 4)]),
    "cross_entropy-probabilities": (
        lambda x: F.cross_entropy(x, Tensor(np.full((3, 4), 0.25, dtype=x.dtype))), [(3, 4)]),
    "linear": (F.linear, [(2, 3), (4, 3), (4,)]),
    "flatten": (lambda x: F.flatten(x, 1), [(2, 3, 4)]),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(FUNCTIONAL_CALLS))
def test_every_op_keeps_the_dtype_in_outputs_and_gradients(name, dtype):
    f, shapes = FUNCTIONAL_CALLS[name]
    rng = np.random.default_rng(2)
    tensors = [Tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in shapes]
    out = f(*tensors)
    assert out.dtype == dtype
    out.backward(np.ones(out.shape, dtype=dtype))
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == dtype


# ------------------------------------------- cross_entropy's short composition, checked
# cross_entropy composes Σ_c log_softmax(z)·W as Σ_c (z − max)·W − lse·Σ_c W (fewer, smaller
# nodes); these compare it with log_softmax then the loss written out plainly.


def _plain_cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                         label_smoothing=0.0):
    """PyTorch's definition, term by term, on log_softmax (no shared code with the loss)."""
    log_p = F.log_softmax(logits, axis=1)
    n, c = log_p.shape
    one = Fraction(1) if log_p.dtype == object else 1.0
    w = [one] * c if weight is None else list(weight)
    if np.asarray(target).ndim == 2:  # probabilities
        y = np.asarray(target)
        rows = [sum(((1 - label_smoothing) * y[i, k] + label_smoothing * one / c) * w[k]
                    * -log_p[i, k] for k in range(c)) for i in range(n)]
        total = n
    else:
        rows, total = [], 0
        for i, t in enumerate(np.asarray(target).tolist()):
            if t == ignore_index:
                rows.append(log_p[i, 0] * 0)
                continue
            total = total + w[t]
            row = -log_p[i, t] * ((1 - label_smoothing) * w[t])
            if label_smoothing:
                row = row + sum(-log_p[i, k] * (label_smoothing * w[k] / c) for k in range(c))
            rows.append(row)
    stacked = F._cat([r.reshape(1) for r in rows], 0)
    if reduction == "none":
        return stacked
    return stacked.sum() * (one / total) if reduction == "mean" else stacked.sum()


def _loss_and_grad(fn, logits):
    z = Tensor(logits.copy(), requires_grad=True)
    loss = fn(z)
    loss.sum().backward()
    return loss.numpy(), z.grad.numpy()


CE_OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"weight": np.array([0.5, 2.0, 1.0, 3.0])},
    {"ignore_index": 2},
    {"ignore_index": 1, "weight": np.array([0.5, 2.0, 1.0, 3.0]), "reduction": "sum"},
    {"label_smoothing": 0.25},
    {"label_smoothing": 0.1, "weight": np.array([0.5, 2.0, 1.0, 3.0]), "ignore_index": 3},
    {"label_smoothing": 0.3, "reduction": "none"},
]


@pytest.mark.parametrize("options", CE_OPTIONS)
def test_cross_entropy_composition_matches_the_plain_one_in_float64(options):
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 4)) * 4
    labels = np.array([0, 3, 2, 1, 3, 2])
    for target in (labels, rng.dirichlet(np.ones(4), size=6)):
        if target.ndim == 2 and "ignore_index" in options:
            continue
        got = _loss_and_grad(lambda z, t=target: F.cross_entropy(z, t, **options), logits)
        want = _loss_and_grad(lambda z, t=target: _plain_cross_entropy(z, t, **options),
                              logits)
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype == np.float64
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("options", CE_OPTIONS[:3] + [CE_OPTIONS[6]])
def test_cross_entropy_composition_matches_the_plain_one_with_masked_logits(options):
    # -inf logits (masked classes), also at a target and for a whole row: the same values
    # (inf / NaN included) and gradients as the plain composition, with no NumPy warning
    logits = np.array([[0.0, -np.inf, 1.0, 2.0], [-np.inf, 1.0, -np.inf, 0.5],
                       [-np.inf] * 4, [3.0, 1.0, -np.inf, 0.0]])
    for labels in (np.array([0, 1, 2, 3]), np.array([2, 3, 0, 1])):
        with np.errstate(all="raise"):
            got = _loss_and_grad(lambda z, t=labels: F.cross_entropy(z, t, **options), logits)
        with np.errstate(all="ignore"):
            want = _loss_and_grad(lambda z, t=labels: _plain_cross_entropy(z, t, **options),
                                  logits)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("options", CE_OPTIONS)
def test_cross_entropy_composition_matches_the_plain_one_on_fractions(options):
    # exp and log of a Fraction go through float; every weight, scale and sum stays exact,
    # so the two compositions agree to float64 rounding and keep the object dtype
    logits = np.array([[Fraction(1, 2), Fraction(-1), Fraction(0), Fraction(3, 4)],
                       [Fraction(2), Fraction(1, 3), Fraction(-2, 3), Fraction(0)],
                       [Fraction(0), Fraction(0), Fraction(5, 2), Fraction(-1, 5)]],
                      dtype=object)
    labels = np.array([3, 1, 2])
    got = _loss_and_grad(lambda z: F.cross_entropy(z, labels, **options), logits)
    want = _loss_and_grad(lambda z: _plain_cross_entropy(z, labels, **options), logits)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype == object
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-13,
                                   atol=1e-15)


@pytest.mark.parametrize("options", [{}, {"reduction": "none"}, {"ignore_index": 0},
                                     {"label_smoothing": Fraction(1, 4)},
                                     {"weight": np.array([Fraction(1, 2), Fraction(3)]),
                                      "reduction": "sum"}])
def test_cross_entropy_composition_equals_the_plain_one_exactly_on_rationals(options):
    sp = pytest.importorskip("sympy")
    from spec.gradients import _exact_equal_exp

    logits = np.array([[sp.Integer(1), sp.Rational(1, 2)], [sp.Integer(0), sp.Rational(-1, 3)],
                       [sp.Rational(2, 3), sp.Integer(2)]], dtype=object)
    labels = np.array([0, 1, 1])
    got = _loss_and_grad(lambda z: F.cross_entropy(z, labels, **options), logits)
    want = _loss_and_grad(lambda z: _plain_cross_entropy(z, labels, **options), logits)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        assert all(_exact_equal_exp(u, v) for u, v in zip(np.ravel(a), np.ravel(b),
                                                           strict=True))
    # and a wrong value is told apart: the plain loss without the 1/N of the mean
    if not options:
        assert not _exact_equal_exp(got[0][()], want[0][()] * 3)
