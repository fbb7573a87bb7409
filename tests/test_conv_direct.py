"""The direct (im2col) convolution's fast layouts and the pooled, unfilled buffers behind
them, against plain references that share none of their code.

- conv2d with outputs of more than 64 pixels and a short reduction (C/groups·KH·KW up
  to `PER_IMAGE_MAX_K`) runs one GEMM per image on a view of the (C·KH·KW, N, OH·OW)
  columns, whose gradient MatMul's VJP writes in that same layout; a long reduction runs
  one GEMM over the batch; smaller outputs keep the batch innermost. All are checked,
  forward and backward, against float64 loops over the kernel offsets (and exactly on
  Fractions), on odd shapes: stride 2, dilation, groups, C = 1, batch 1,
  non-contiguous and NHWC-ish inputs, non-contiguous upstream gradients.
- Max's VJP, Pad's forward and the elementwise results write into pooled scratch arrays
  without a zero fill where every element is written: the tests first fill every free
  pooled array with NaN, so a skipped element would show.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, nn, winograd
from tinygrad_cnn import primitives as P
from tinygrad_cnn import scratch as S


def _dirty_pool() -> None:
    """Fill every pooled scratch array nothing else holds with NaN (a stale value that a
    skipped write would leave in a result)."""
    for buffers in S.POOL.values():
        for buf in buffers:
            buf.fill(np.nan)


def _reference_conv(x, w, b, stride, padding, dilation, groups, g_out):
    """Forward, dx, dw, db of a grouped conv2d by loops over the kernel offsets, on
    whatever element type the arrays hold (float64, Fraction objects)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    og = o // groups
    zero = x.flat[0] * 0
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), zero, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.full((n, o, oh, ow), zero, dtype=x.dtype)
    dxp = np.full(xp.shape, zero, dtype=x.dtype)
    dwt = np.full(w.shape, zero, dtype=x.dtype)
    for grp in range(groups):
        cs, os_ = slice(grp * cg, (grp + 1) * cg), slice(grp * og, (grp + 1) * og)
        for p in range(kh):
            rows = slice(p * dh, p * dh + sh * (oh - 1) + 1, sh)
            for q in range(kw):
                cols = slice(q * dw, q * dw + sw * (ow - 1) + 1, sw)
                patch = xp[:, cs, rows, cols]  # (N, Cg, OH, OW)
                wpq = w[os_, :, p, q]  # (Og, Cg)
                y[:, os_] += (wpq[None, :, :, None, None] * patch[:, None]).sum(axis=2)
                gsl = g_out[:, os_]  # (N, Og, OH, OW)
                dxp[:, cs, rows, cols] += (wpq[None, :, :, None, None]
                                           * gsl[:, :, None]).sum(axis=1)
                dwt[os_, :, p, q] += (gsl[:, :, None] * patch[:, None]).sum(axis=(0, 3, 4))
    if b is not None:
        y += b[None, :, None, None]
    db = None if b is None else g_out.sum(axis=(0, 2, 3))
    return y, dxp[:, :, ph:ph + h, pw:pw + wd], dwt, db


CASES = [
    # (N, C, O, H, W, kernel, stride, padding, dilation, groups)
    (3, 1, 5, 28, 28, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # C = 1, the first layer
    (1, 2, 3, 17, 13, (3, 2), (1, 1), (1, 0), (1, 1), 1),  # batch 1, odd sizes
    (2, 3, 4, 23, 21, (3, 3), (2, 2), (1, 1), (1, 1), 1),  # stride 2
    (2, 2, 4, 20, 20, (3, 3), (1, 2), (2, 2), (2, 1), 1),  # dilation, mixed stride
    (2, 4, 6, 15, 15, (3, 3), (1, 1), (1, 1), (1, 1), 2),  # groups
    (2, 3, 3, 12, 12, (3, 3), (1, 1), (1, 1), (1, 1), 3),  # depthwise
    (2, 3, 4, 7, 7, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # 49 pixels: batch innermost
    (2, 16, 16, 10, 10, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # Winograd's shape, forced
    (2, 32, 4, 9, 9, (3, 3), (1, 1), (1, 1), (1, 1), 2),  # groups, a long reduction
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layout", ["contiguous", "nhwc", "strided"])
def test_direct_conv_matches_float64_loops(case, layout):
    n, c, o, h, wd, k, s, p, d, groups = case
    rng = np.random.default_rng(hash((case, layout)) % 2**32)
    x = rng.standard_normal((n, c, h, wd))
    if layout == "nhwc":  # an NCHW view of an NHWC array
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "strided":  # every other column of a wider array
        wide = rng.standard_normal((n, c, h, 2 * wd))
        wide[..., ::2] = x
        x = wide[..., ::2]
    w = rng.standard_normal((o, c // groups, *k))
    b = rng.standard_normal(o)
    y_ref, *_ = _reference_conv(x, w, b, s, p, d, groups, np.zeros((1, o, 1, 1)))
    g = rng.standard_normal(y_ref.shape)
    if layout != "contiguous":  # an upstream gradient laid out (O, N, OH, OW)
        g = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    y_ref, dx_ref, dw_ref, db_ref = _reference_conv(x, w, b, s, p, d, groups, g)
    for _ in range(2):  # the second time on pooled arrays left dirty by the first
        _dirty_pool()
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
        with winograd.algorithm("direct"):
            y = F.conv2d(xt, wt, bt, stride=s, padding=p, dilation=d, groups=groups)
        y.backward(g)
        np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), dx_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(wt.grad.numpy(), dw_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(bt.grad.numpy(), db_ref, rtol=1e-12, atol=1e-12)


def test_direct_conv_output_is_nchw_in_memory():
    """Over 64 output pixels, with a short reduction, the GEMMs give NCHW directly."""
    rng = np.random.default_rng(1)
    y = F.conv2d(rng.standard_normal((4, 2, 12, 12)), rng.standard_normal((3, 2, 3, 3)),
                 padding=1)
    assert y.numpy().flags.c_contiguous


def test_first_layer_skips_the_input_gradient():
    """x does not require grad: the columns' gradient (and the col2im) is never made."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 1, 12, 12))
    w = Tensor(rng.standard_normal((3, 1, 3, 3)), requires_grad=True)
    seen = []
    original = P.Window.vjp

    def spy(self, g, out, a):
        seen.append(g.shape)
        return original(self, g, out, a)

    P.Window.vjp = spy
    try:
        F.conv2d(x, w, padding=1).sum().backward()
    finally:
        P.Window.vjp = original
    assert seen == []
    assert w.grad is not None


def test_direct_conv_is_exact_on_fractions():
    """The per-image path (81 output pixels) on Fraction arrays: exactly the loops."""
    rng = np.random.default_rng(3)

    def fractions(shape):
        return np.array([Fraction(int(v), 7) for v in rng.integers(-9, 10, int(np.prod(shape)))],
                        dtype=object).reshape(shape)

    x, w, b = fractions((2, 2, 9, 9)), fractions((3, 2, 3, 3)), fractions((3,))
    g = fractions((2, 3, 9, 9))
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, padding=1)
    y.backward(g)
    y_ref, dx_ref, dw_ref, db_ref = _reference_conv(x, w, b, (1, 1), (1, 1), (1, 1), 1, g)
    assert y.numpy().dtype == object
    assert (y.numpy() == y_ref).all()
    assert (xt.grad.numpy() == dx_ref).all()
    assert (wt.grad.numpy() == dw_ref).all()
    assert (bt.grad.numpy() == db_ref).all()


def test_conv_padding_modes_on_the_direct_path():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 11, 10)).astype(np.float32)
    for mode in ("reflect", "replicate", "circular"):
        layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode)
        xt = Tensor(x, requires_grad=True)
        y = layer(xt)
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)),
                        mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])
        w = layer.weight.numpy().astype(np.float64)
        b = layer.bias.numpy().astype(np.float64)
        g = rng.standard_normal(y.shape)
        ref, *_ = _reference_conv(padded.astype(np.float64), w, b, (1, 1), (0, 0), (1, 1), 1,
                                  g)
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------- pooled elementwise results


def test_maximum_with_a_scalar_is_numpys_bit_for_bit():
    """relu's row trick: the same bits as np.maximum, -0.0 and NaN payloads included, in
    both operand orders, for dense, transposed and strided arrays of awkward sizes."""
    rng = np.random.default_rng(5)
    specials = np.array([-0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-40, -1e-40])
    for dtype in (np.float32, np.float64):
        base = rng.standard_normal((3, 5, 7, 331)).astype(dtype)  # 34755: not 4096·k
        base.flat[rng.integers(0, base.size, 64)] = rng.choice(specials, 64)
        for x in (base, base.transpose(1, 0, 3, 2), base[:, :, ::2], base[..., 1:]):
            for s in (dtype(0), dtype(-0.0), dtype(np.nan), dtype(0.5)):
                scalar = np.array(s, dtype=dtype)
                for args in ((scalar, x), (x, scalar)):
                    got = P.MAXIMUM_FIRST.forward(*args)
                    want = np.maximum(*args)
                    assert got.shape == want.shape
                    np.testing.assert_array_equal(
                        np.ascontiguousarray(got).view(f"u{got.itemsize}"),
                        np.ascontiguousarray(want).view(f"u{want.itemsize}"))


def test_scalar_engine_numbers_keep_their_type_through_add():
    """The pooled array path is for arrays only: the scalar engine's numbers stay Python
    floats and Fractions (a NumPy float64 would turn log(0) into a warning and -inf)."""
    assert type(P.ADD.forward(1.5, 2.0)) is float
    assert P.ADD.forward(Fraction(1, 3), Fraction(1, 6)) == Fraction(1, 2)
    assert type(P.ADD.forward(Fraction(1, 3), Fraction(1, 6))) is Fraction
    assert type(P.MAXIMUM.forward(1.5, 2.0)) is not np.ndarray


def test_relu_keeps_the_memory_order_of_its_input():
    x = np.random.default_rng(6).standard_normal((8, 64, 30, 30)).astype(np.float32)
    y = Tensor(x.transpose(1, 0, 2, 3)).relu().numpy()  # 1.8 MB: pooled
    assert y.transpose(1, 0, 2, 3).flags.c_contiguous
    np.testing.assert_array_equal(y, np.maximum(0, x.transpose(1, 0, 2, 3)))


def test_pooled_results_held_by_the_caller_are_not_overwritten():
    rng = np.random.default_rng(7)
    a = Tensor(rng.standard_normal((512, 1024)).astype(np.float32))  # 2 MiB
    b = Tensor(rng.standard_normal((512, 1024)).astype(np.float32))
    first = (a + b).numpy()
    kept = first.copy()
    relu = a.relu().numpy()
    relu_kept = relu.copy()
    for _ in range(3):
        (a + a).relu()
        _ = a + b * 2
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(relu, relu_kept)


# ----------------------------------------------------------------- pooling and padding


def _pool_reference(x, k):
    """2-D max pooling with stride = kernel and its gradient (to the first maximum in
    row-major window order), by loops."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    y = np.empty((n, c, oh, ow))
    winner = np.empty((n, c, oh, ow), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * k:(i + 1) * k, j * k:(j + 1) * k].reshape(n, c, -1)
            winner[:, :, i, j] = np.argmax(win, axis=-1)
            y[:, :, i, j] = win.max(axis=-1)
    return y, winner


@pytest.mark.parametrize("k", [2, 3])
def test_max_pool_gradient_on_dirty_pooled_buffers(k):
    rng = np.random.default_rng(8 + k)
    x = rng.integers(-3, 4, (16, 8, 30, 30)).astype(np.float64)  # ties in most windows
    g = rng.standard_normal((16, 8, 30 // k, 30 // k))
    y_ref, winner = _pool_reference(x, k)
    for gradient in (g, np.where(np.abs(g) > 2, np.inf, g)):  # also a non-finite one
        dx_ref = np.zeros_like(x)
        n, c, oh, ow = g.shape
        for i in range(oh):
            for j in range(ow):
                p, q = np.divmod(winner[:, :, i, j], k)
                nn_, cc = np.meshgrid(range(n), range(c), indexing="ij")
                dx_ref[nn_, cc, i * k + p, j * k + q] = gradient[:, :, i, j]
        for _ in range(2):
            _dirty_pool()
            xt = Tensor(x, requires_grad=True)
            y = F.max_pool2d(xt, k)
            y.backward(gradient)
            np.testing.assert_array_equal(y.numpy(), y_ref)
            np.testing.assert_array_equal(xt.grad.numpy(), dx_ref)


def test_pad_fills_the_whole_border_of_a_dirty_pooled_buffer():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 6, 50, 60))  # 1.1 MiB: pooled
    for layout in (x, np.ascontiguousarray(x.transpose(1, 0, 3, 2)).transpose(1, 0, 3, 2)):
        for width, value in ((((0, 0), (1, 2), (3, 0), (2, 2)), 0.0),
                             (((1, 1), (0, 0), (1, 1), (1, 1)), -np.inf)):
            for _ in range(2):  # the second time in a pooled array, dirty
                _dirty_pool()
                got = P.Pad(width, value).forward(layout)
                want = np.pad(layout, width, constant_values=value)
                np.testing.assert_array_equal(got, want)
                del got


def test_slice_gradient_is_zero_off_the_slice_on_dirty_pooled_buffers():
    rng = np.random.default_rng(10)
    x = Tensor(rng.standard_normal((40, 50, 80)), requires_grad=True)  # 1.3 MB
    for _ in range(2):
        _dirty_pool()
        x.grad = None
        x[3:30:2, :, 5:].sum().backward()
        want = np.zeros(x.shape)
        want[3:30:2, :, 5:] = 1
        np.testing.assert_array_equal(x.grad.numpy(), want)


def test_batched_matmul_gradient_in_the_operands_layout():
    """MatMul's VJP writes a batched gradient laid out like its (transposed-view)
    operand: the values are the plain products'."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((9, 5))
    cols = rng.standard_normal((5, 32, 900))  # (K, N, P), 1.1 MiB
    view = cols.transpose(1, 0, 2)  # (N, K, P), per image
    g = rng.standard_normal((32, 9, 900))
    for _ in range(2):
        _dirty_pool()
        ga, gb = P.MATMUL.vjp(g, None, np.broadcast_to(a, (32, 9, 5)), view)
        np.testing.assert_allclose(gb, a.T @ g, rtol=1e-12)
        np.testing.assert_allclose(ga, g @ view.transpose(0, 2, 1), rtol=1e-12)
        assert gb.transpose(1, 0, 2).flags.c_contiguous  # the layout of cols


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_expand_gradient_sums_every_broadcast_axis(dtype):
    """Expand's VJP sums the last axis on BLAS first, then the others: the sums of a
    float64 reference, for contiguous and transposed gradients."""
    rng = np.random.default_rng(12)
    for small, big in (((1, 5, 1), (7, 5, 300)), ((2, 1, 3, 1), (2, 4, 3, 50)),
                       ((1, 1), (6, 70)), ((3, 1), (3, 9))):
        g = rng.standard_normal(big)
        for layout in (g, np.ascontiguousarray(g.T).T):
            got = P.Expand(big).vjp(layout.astype(dtype), None, np.zeros(small, dtype))[0]
            want = g.sum(axis=tuple(i for i, n in enumerate(small) if n == 1 != big[i]),
                         keepdims=True)
            assert got.shape == small and got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                       atol=1e-4 if dtype == np.float32 else 1e-12)
