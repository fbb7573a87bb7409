"""Every `F.*` against ``torch.nn.functional`` in float64: forward and every gradient.

A wide grid (strides 1-3, paddings int / pair / "valid" / "same" with even kernels,
dilations 1-2, groups with depthwise, bias or not, non-square kernels, logits of ±1e4,
probability targets, every reduction). Skipped when PyTorch is not installed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import distinct, optional

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor

torch = optional("torch", "every cross-check against torch.nn.functional")
TF = torch.nn.functional

pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-10, 1e-12


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors: one thread and no oneDNN is ~10x faster than the defaults here."""
    threads, mkldnn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    yield
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = mkldnn


def compare(ours, theirs, *arrays, seed: int = 0, exact: bool = False):
    """Forward of both on float64 copies; then backward with one random upstream gradient.

    ``exact`` asks for a bit-identical forward (max pooling, relu, flatten only select
    elements); gradients are always compared at RTOL, since overlapping windows may add
    their contributions in a different order.
    """
    mine = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    ref = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out, expected = ours(*mine), theirs(*ref)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.float64
    def check(a, b, err_msg):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=err_msg)

    if exact:
        np.testing.assert_array_equal(out.numpy(), expected.detach().numpy(), err_msg="forward")
    else:
        check(out.numpy(), expected.detach().numpy(), err_msg="forward")
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (m, r) in enumerate(zip(mine, ref, strict=True)):
        theirs_grad = np.zeros(m.shape) if r.grad is None else r.grad.numpy()
        ours_grad = np.zeros(m.shape) if m.grad is None else m.grad.numpy()
        check(ours_grad, theirs_grad, err_msg=f"gradient of argument {i}")
    return out


# ------------------------------------------------------------------------- convolution

KERNELS_2D = [(1, 1), (3, 3), (2, 4), (3, 2)]
PADDINGS_2D = [0, 1, (2, 1), "valid", "same"]
GROUPS = ["1", "2", "depthwise"]
# kernels x strides x paddings x dilations in full; groups and bias cycle through the grid
# (so every pair of values meets), plus the full groups x bias x dilation square below.
CONV2D_GRID = [
    (k, s, p, d) for k, s, p, d in itertools.product(KERNELS_2D, [1, 2, 3, (1, 2)],
                                                     PADDINGS_2D, [1, 2, (2, 1)])
    if not (p == "same" and s != 1)
]
CONV2D_GRID = [(*case, GROUPS[i % 3], bool(i // 3 % 2)) for i, case in enumerate(CONV2D_GRID)]
CONV2D_GRID += [((2, 3), 2, 1, d, g, b) for d, g, b in
                itertools.product([1, 2, (1, 2)], GROUPS, [True, False])]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation", "groups", "bias"),
                         CONV2D_GRID)
def test_conv2d(kernel, stride, padding, dilation, groups, bias):
    rng = np.random.default_rng(len(str((kernel, stride, padding, dilation, groups))))
    c = 4
    g, cout = {"1": (1, 3), "2": (2, 4), "depthwise": (c, 2 * c)}[groups]
    x = rng.normal(size=(2, c, 7, 8))
    w = rng.normal(size=(cout, c // g, *kernel))
    arrays = [x, w] + ([rng.normal(size=cout)] if bias else [])
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": g}
    compare(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), *arrays)


CONV1D_GRID = [
    (k, s, p, d) for k, s, p, d in itertools.product([1, 2, 3, 4], [1, 2, 3],
                                                     [0, 2, "valid", "same"], [1, 2])
    if not (p == "same" and s != 1)
]
CONV1D_GRID = [(*case, 1 + i % 2, bool(i // 2 % 2)) for i, case in enumerate(CONV1D_GRID)]


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation", "groups", "bias"),
                         CONV1D_GRID)
def test_conv1d(kernel, stride, padding, dilation, groups, bias):
    rng = np.random.default_rng(kernel * 7 + stride)
    x, w = rng.normal(size=(2, 4, 9)), rng.normal(size=(6, 4 // groups, kernel))
    arrays = [x, w] + ([rng.normal(size=6)] if bias else [])
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    compare(lambda *t: F.conv1d(*t, **kw), lambda *t: TF.conv1d(*t, **kw), *arrays)


# ----------------------------------------------------------------------------- pooling

POOL_KERNELS = [1, 2, 3, (2, 3), (3, 1)]
MAXPOOL_GRID = [
    (k, s, p, d)
    for k, s, p, d in itertools.product(POOL_KERNELS, [None, 1, 2, 3, (1, 2)], [0, 1, (1, 0)],
                                        [1, 2, (1, 2)])
    if all(2 * pi <= ki for pi, ki in zip(np.broadcast_to(p, 2), np.broadcast_to(k, 2),
                                          strict=True))
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation"), MAXPOOL_GRID)
def test_max_pool2d(kernel, stride, padding, dilation):
    x = distinct((2, 3, 7, 8), np.random.default_rng(5))
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation}
    compare(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), x, exact=True)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [
    (2, 2, 0), (2, 1, 0), (3, 1, 1), (3, 2, 1), (2, 1, 1), ((2, 3), (1, 2), (1, 1))])
def test_max_pool2d_ties_go_to_the_first_max_like_pytorch(kernel, stride, padding):
    # many ties: small integers, and a constant plane
    rng = np.random.default_rng(0)
    for x in (rng.integers(0, 3, size=(2, 2, 6, 7)).astype(np.float64), np.ones((1, 1, 5, 5))):
        kw = {"kernel_size": kernel, "stride": stride, "padding": padding}
        compare(lambda t, kw=kw: F.max_pool2d(t, **kw), lambda t, kw=kw: TF.max_pool2d(t, **kw),
                x, exact=True)


AVGPOOL_GRID = [
    (k, s, p, c)
    for k, s, p, c in itertools.product(POOL_KERNELS, [None, 1, 2, 3], [0, 1, (1, 0)],
                                        [True, False])
    if all(2 * pi <= ki for pi, ki in zip(np.broadcast_to(p, 2), np.broadcast_to(k, 2),
                                          strict=True))
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "count_include_pad"), AVGPOOL_GRID)
def test_avg_pool2d(kernel, stride, padding, count_include_pad):
    x = np.random.default_rng(6).normal(size=(2, 3, 7, 8))
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding,
          "count_include_pad": count_include_pad}
    compare(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), x)


# ------------------------------------------------------------ activations and the loss

SCALES = [1.0, 30.0, 1e4]


def test_relu_including_exact_zeros():
    x = np.array([[-2.0, 0.0, 3.0], [0.0, -0.0, 1e-300]])
    compare(F.relu, TF.relu, x, exact=True)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax(scale, axis):
    x = np.random.default_rng(7).normal(size=(3, 4, 5)) * scale
    compare(lambda t: F.softmax(t, axis=axis), lambda t: TF.softmax(t, dim=axis), x)
    compare(lambda t: F.log_softmax(t, axis=axis), lambda t: TF.log_softmax(t, dim=axis), x)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["indices", "probabilities", "one-hot"])
def test_cross_entropy(scale, reduction, target_kind):
    rng = np.random.default_rng(8)
    n, c = 5, 4
    logits = rng.normal(size=(n, c)) * scale
    logits[0] = [scale, -scale, 0.0, scale]  # a tie for the max and huge gaps
    labels = rng.integers(0, c, size=n)
    target = {"indices": labels, "probabilities": rng.dirichlet(np.ones(c), size=n),
              "one-hot": np.eye(c)[labels]}[target_kind]
    torch_target = torch.tensor(target)
    compare(lambda z: F.cross_entropy(z, target, reduction=reduction),
            lambda z: TF.cross_entropy(z, torch_target, reduction=reduction), logits)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(batch, bias):
    rng = np.random.default_rng(9)
    arrays = [rng.normal(size=(*batch, 5)), rng.normal(size=(4, 5))]
    arrays += [rng.normal(size=4)] if bias else []
    compare(F.linear, TF.linear, *arrays)


@pytest.mark.parametrize(("start", "end"), [(0, -1), (1, -1), (1, 2), (2, 3), (-2, -1)])
def test_flatten(start, end):
    x = np.random.default_rng(10).normal(size=(2, 3, 4, 5))
    compare(lambda t: F.flatten(t, start, end), lambda t: torch.flatten(t, start, end), x,
            exact=True)


def test_a_small_cnn_end_to_end():
    """conv -> relu -> max-pool -> conv (groups) -> avg-pool -> flatten -> linear -> CE."""
    rng = np.random.default_rng(12)
    arrays = [rng.normal(size=(3, 2, 9, 9)), rng.normal(size=(4, 2, 3, 3)) * 0.5,
              rng.normal(size=4), rng.normal(size=(4, 2, 2, 2)) * 0.5, rng.normal(size=(5, 4))]
    labels = np.array([0, 4, 2])

    def ours(x, w1, b1, w2, w3):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding="same")), 2)
        h = F.avg_pool2d(F.conv2d(h, w2, None, padding=1, groups=2), 2, 1)
        h = F.flatten(h.mean(axis=(2, 3)), 1)
        return F.cross_entropy(F.linear(h, w3), labels)

    def theirs(x, w1, b1, w2, w3):
        h = TF.max_pool2d(TF.relu(TF.conv2d(x, w1, b1, padding="same")), 2)
        h = TF.avg_pool2d(TF.conv2d(h, w2, None, padding=1, groups=2), 2, 1)
        h = torch.flatten(h.mean(dim=(2, 3)), 1)
        return TF.cross_entropy(TF.linear(h, w3), torch.tensor(labels))

    compare(ours, theirs, *arrays)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_masked_logits(reduction):
    """-inf logits (masked classes) give a finite loss when the target is another class."""
    logits = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -1.0], [3.0, 0.5, -np.inf]])
    labels = np.array([0, 1, 0])
    compare(lambda z: F.cross_entropy(z, labels, reduction=reduction),
            lambda z: TF.cross_entropy(z, torch.tensor(labels), reduction=reduction), logits)
