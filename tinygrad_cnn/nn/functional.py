"""Convolution, pooling, softmax and cross-entropy, composed only from the primitives.

Nothing here has a backward of its own: each function is a few movement ops, a reduction
or one contraction, so its gradient is whatever the derivative table says.

- convolution = pad, sliding-window view, one batched matrix product (BLAS);
- max pooling = pad with -inf, window view, max over the window;
- average pooling = pad with 0, window view, sum times 1/count;
- cross-entropy = max shift, exp, sum, log, pick the target (a one-hot product);
- transposed convolution = spread the input by the stride (pad, reshape, slice), pad,
  then a convolution with the flipped, transposed kernel;
- padding modes, adaptive pooling and max-unpooling = slices, expands and pads put
  together (a concatenation is pads and an add).

Semantics follow ``torch.nn.functional`` (NCHW, weights OIHW, cross-correlation: no kernel
flip). Sizes obey ``out = floor((n + 2p - d(k-1) - 1) / s) + 1`` (``ceil`` instead of
``floor`` with ``ceil_mode=True``, as long as the last window starts inside the input or
the left padding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import primitives as P
from .. import winograd
from ..tensor import Tensor, check_size

__all__ = [
    "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool2d", "max_unpool2d",
    "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "pad", "relu", "softmax",
    "log_softmax", "cross_entropy", "nll_loss", "linear", "flatten", "output_size",
]

IntOrPair = int | tuple[int, int]
#: the direct conv runs one GEMM per image up to this reduction length C/groups·KH·KW
PER_IMAGE_MAX_K = 128
_INT_MAX = 2**63 - 1


# ----------------------------------------------------------------------- argument checks


def output_size(n: int, kernel: int, stride: int = 1, padding_total: int = 0,
                dilation: int = 1, ceil_mode: bool = False) -> int:
    """Number of window positions: ``floor((n + p_total - d(k-1) - 1) / s) + 1``.

    ``padding_total`` is the padding added on both sides together (2p when symmetric).
    With ``ceil_mode`` the division rounds up, so a last, partial window is kept, but only
    if it starts inside the input or the left padding (PyTorch's rule; the left padding is
    ``padding_total // 2``).
    """
    span = n + padding_total - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= n + padding_total // 2:  # the last window starts on the right
        out -= 1
    return out


def _as_tensor(x: Any, name: str, fn: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise TypeError(f"{fn}: {name} must be a Tensor or an ndarray, got {type(x).__name__}")


def _int(value: Any, name: str, fn: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    if value > _INT_MAX:  # as PyTorch's int64 arguments (a larger one overflows a stride)
        raise ValueError(f"{fn}: {name} must be at most 2**63 - 1, got {value}")
    return int(value)


def _tuple(value: Any, name: str, fn: str, minimum: int, n: int = 2) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{fn}: {name} must be an int or {n} ints, got {value!r}")
        return tuple(_int(v, name, fn, minimum) for v in value)
    return (_int(value, name, fn, minimum),) * n


def _check_ndim(t: Tensor, ndim: int, name: str, fn: str, layout: str) -> None:
    if t.ndim != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dims {layout}, got shape {t.shape}")


def _check_dtypes(fn: str, **tensors: Tensor | None) -> None:
    dtypes = {name: t.dtype for name, t in tensors.items() if t is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} is {dtype}" for name, dtype in dtypes.items())
        names = list(dtypes)
        target = dtypes.get("weight", dtypes[names[0]])
        other = next(name for name in names if dtypes[name] != target)
        how = (f"e.g. Tensor({other}.numpy().astype(np.{target})) (a float64 array fed to "
               f"float32 layers: x.astype(np.float32))" if target.kind != "O" else
               "e.g. an object array of Fractions for both")
        raise TypeError(f"{fn}: dtypes differ ({listed}); convert them to one dtype, {how}")


def _integer_inputs(fn: str, x: Tensor, w: Tensor, b: Tensor | None,
                    ) -> tuple[Tensor, Tensor, Tensor | None]:
    """The dtype rule for a convolution / linear map of integers or bools: computed exactly
    in int64 (NumPy's integer matmul), so int8 / uint8 / bool never wrap; refused (before
    any work) if even int64 could overflow. Other dtypes are returned unchanged."""
    if not all(t is None or t.dtype.kind in "iub" for t in (x, w, b)):
        return x, w, b
    k = math.prod(w.shape[1:])
    def peak(t: Tensor | None) -> int:  # max |v|, on Python ints (|int64 min| fits)
        if t is None or t.size == 0:
            return 0
        data = t._data
        return max(abs(int(data.max())), abs(int(data.min())))
    bound = peak(x) * peak(w) * k + peak(b)
    if bound > _INT_MAX:
        raise TypeError(f"{fn}: integer input and weight could overflow int64 (|x|max · "
                        f"|w|max · {k} terms = {bound} > 2**63 - 1); convert them to float64 "
                        f"(x.astype(np.float64)) or to an object array of Python ints (exact)")
    def widen(t: Tensor | None) -> Tensor | None:
        return None if t is None else Tensor(t._data.astype(np.int64))
    return widen(x), widen(w), widen(b)


def _check_conv_size(fn: str, x: Tensor, w: Tensor, pads: Sequence[tuple[int, int]],
                     stride: Sequence[int], dilation: Sequence[int]) -> None:
    """Refuse absurd paddings before allocating: the padded input and the im2col matrix
    (N, C·KH·KW, OH·OW) must fit in memory."""
    n, c, *size = x.shape
    padded = tuple(m + lo + hi for m, (lo, hi) in zip(size, pads, strict=True))
    if any(lo or hi for lo, hi in pads):
        check_size(fn, f"the input padded by padding={tuple(lo for lo, _ in pads)}",
                   (n, c, *padded), x.dtype)
    kernel = w.shape[2:]
    out = _check_fits(fn, size, kernel, stride, pads, dilation)
    check_size(fn, "the im2col matrix (N, C·KH·KW, OH·OW) of this convolution",
               (n, c * math.prod(kernel), math.prod(out)), x.dtype)


def _lowest(dtype: np.dtype) -> Any:
    """The padding value of max pooling: -inf, or the smallest integer (never a winner)."""
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    if dtype.kind == "b":
        return False
    return -np.inf if dtype.kind != "O" else float("-inf")


def _refuse_half(fn: str, **tensors: Tensor | None) -> None:
    """float16 is refused where the op sums: its partial sums overflow at 65504 (an average
    of 60000s would be inf) and lose digits; PyTorch accumulates half in float32."""
    for name, t in tensors.items():
        if t is not None and t.dtype == np.float16:
            raise TypeError(f"{fn}: {name} is float16, whose sums overflow at 65504 and lose "
                            f"precision; convert it to float32, e.g. "
                            f"Tensor({name}.numpy().astype(np.float32)) or x.astype(np.float32)")


def _refuse_integers(x: Tensor, fn: str) -> None:
    if x.dtype.kind in "iub":
        raise TypeError(f"{fn}: input must be floating point (or an exact object array), got "
                        f"dtype {x.dtype}; its result is not an integer: convert it, e.g. "
                        f"Tensor(x.numpy().astype(np.float64))")


def _padding(padding: Any, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], fn: str) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial axis, from an int, a tuple, "valid" or "same"."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' needs stride 1, got stride "
                                 f"{tuple(stride)}")
            # total d(k-1); PyTorch puts the odd extra element after (bottom / right)
            totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{fn}: padding must be an int, a pair, 'valid' or 'same', "
                         f"got {padding!r}")
    return tuple((p, p) for p in _tuple(padding, "padding", fn, 0, n))


def _check_fits(fn: str, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                pads: Sequence[tuple[int, int]], dilation: Sequence[int]) -> tuple[int, ...]:
    """The output size along each axis; a clear error when the window does not fit."""
    out = []
    for n, k, s, (lo, hi), d in zip(size, kernel, stride, pads, dilation, strict=True):
        o = output_size(n, k, s, lo + hi, d)
        if o < 1:
            raise ValueError(
                f"{fn}: the kernel (size {k}, dilation {d}, so it spans {d * (k - 1) + 1}) "
                f"is larger than the padded input (size {n} + padding {lo + hi} = "
                f"{n + lo + hi}); output size floor(({n} + {lo + hi} - {d}*({k}-1) - 1)/{s})"
                f" + 1 = {o}, expected at least 1")
        out.append(o)
    return tuple(out)


# ------------------------------------------------------- slices put together (no new op)


def _slice_axis(x: Tensor, axis: int, start: int, stop: int) -> Tensor:
    """``x[..., start:stop, ...]`` along one axis (the whole axis is ``x`` itself)."""
    if start == 0 and stop == x.shape[axis]:
        return x
    return x[(slice(None),) * axis + (slice(start, stop),)]


def _cat(pieces: list[Tensor], axis: int) -> Tensor:
    """Concatenate along ``axis``, composed from pad and add.

    Each piece is padded with zeros up to the joined length and the results are added,
    pairwise (a balanced tree, so every element takes part in log2(len(pieces)) adds);
    the gradient of each piece is the slice of the upstream gradient at its place. Float
    pieces are padded with -0.0, so that every value, -0.0 too, passes the adds unchanged
    (x + -0.0 = x, while -0.0 + 0.0 = 0.0).
    """
    zero = -0.0 if pieces and pieces[0].dtype.kind in "fc" else 0
    while len(pieces) > 1:
        joined = []
        for a, b in zip(pieces[0::2], pieces[1::2], strict=False):
            before = [(0, 0)] * a.ndim
            after = [(0, 0)] * a.ndim
            before[axis] = (0, b.shape[axis])
            after[axis] = (a.shape[axis], 0)
            joined.append(a.pad(before, zero) + b.pad(after, zero))
        if len(pieces) % 2:
            joined.append(pieces[-1])
        pieces = joined
    return pieces[0]


def _take(x: Tensor, axis: int, index: Sequence[int]) -> Tensor:
    """``x`` gathered along ``axis`` at a fixed list of positions, from slices.

    The list is cut into runs: consecutive positions (one slice) and repeats of one
    position (a one-element slice, expanded). A reflection ``[2, 1, 0]`` is three
    one-element slices; the middle of a padded axis is one slice of the whole input.
    """
    index = [int(i) for i in index]
    if not index:
        return _slice_axis(x, axis, 0, 0)
    pieces, i = [], 0
    while i < len(index):
        j = i + 1
        if j < len(index) and index[j] == index[i]:  # a repeat: slice one, expand
            while j < len(index) and index[j] == index[i]:
                j += 1
            piece = _slice_axis(x, axis, index[i], index[i] + 1)
            shape = list(piece.shape)
            shape[axis] = j - i
            pieces.append(piece.expand(tuple(shape)))
        else:  # a run of consecutive positions: one slice
            while j < len(index) and index[j] == index[j - 1] + 1:
                j += 1
            pieces.append(_slice_axis(x, axis, index[i], index[j - 1] + 1))
        i = j
    return _cat(pieces, axis)


def _flip_last_two(w: Tensor) -> Tensor:
    """The kernel turned by 180°: the last two axes reversed (one-element slices)."""
    for axis in (w.ndim - 2, w.ndim - 1):
        if w.shape[axis] > 1:
            w = _take(w, axis, range(w.shape[axis] - 1, -1, -1))
    return w


# ------------------------------------------------------------------------- convolution


def _conv(fn: str, x: Tensor, w: Tensor, b: Tensor | None, stride: tuple[int, int],
          pads: tuple[tuple[int, int], ...], dilation: tuple[int, int], groups: int) -> Tensor:
    """Grouped 2-D cross-correlation on (N, C, H, W) by (O, C/groups, KH, KW)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the input channels, got "
                         f"{c} channels")
    if o % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the output channels "
                         f"(weight.shape[0]), got {o}")
    if cg != c // groups:
        raise ValueError(f"{fn}: weight expects {cg} input channels per group, but input "
                         f"has {c} channels / groups={groups} = {c // groups}; weight shape "
                         f"{w.shape}, input shape {x.shape}")
    if b is not None and b.shape != (o,):
        raise ValueError(f"{fn}: bias must have shape ({o},), one per output channel, "
                         f"got {b.shape}")
    oh, ow = _check_fits(fn, (h, wd), (kh, kw), stride, pads, dilation)
    m = winograd.choose(x.shape, w.shape, stride, dilation, groups, x.dtype)
    if m is not None:  # 3x3, stride 1, enough channels: Winograd's F(m x m, 3 x 3)
        return winograd.conv2d_3x3(x, w, b, pads, m=m)
    g, og = groups, o // groups

    xp = x.pad(((0, 0), (0, 0), *pads))
    win = xp.windows((kh, kw), stride, dilation)  # (N, C, OH, OW, KH, KW), a view
    k = cg * kh * kw
    if oh * ow > 64:
        # im2col, the one copy of the forward pass: columns (C·KH·KW, N, OH·OW), rows
        # (c, p, q) so that the weight (O, C·KH·KW) needs no transpose; the copy moves
        # runs along OW.
        if g == 1:
            cols = win.permute(1, 4, 5, 0, 2, 3).reshape(k, n, oh * ow)
        else:
            grouped = win.reshape(n, g, cg, oh, ow, kh, kw)
            cols = grouped.permute(1, 2, 5, 6, 0, 3, 4).reshape(g, k, n, oh * ow)
        if k <= PER_IMAGE_MAX_K:
            # A short reduction: one GEMM per image on a view of the columns, (N,
            # C·KH·KW, OH·OW) by the weight broadcast, gives (N, O, OH·OW), NCHW in memory:
            # an NCHW gradient (the caller's, a flatten's) reaches the GEMMs with no
            # transposing copy, and the ReLUs and poolings between layers walk it in
            # order. The columns' gradient comes back in their own layout (MatMul's VJP),
            # so the col2im reads runs of N·OH·OW.
            if g == 1:
                out = w.reshape(o, k) @ cols.permute(1, 0, 2)
            else:  # (N, G, C/G·KH·KW, OH·OW) by (G, O/G, C/G·KH·KW)
                out = (w.reshape(g, og, k) @ cols.permute(2, 0, 1, 3)).reshape(n, o, oh * ow)
            if b is not None:
                out = out + b.reshape(1, o, 1)
            return out.reshape(n, o, oh, ow)
        # A long reduction: one GEMM over the whole batch is faster (per-image GEMMs and
        # their (N, O, C·KH·KW) weight gradients cost more than the copies they save)
        if g == 1:  # (O, C·KH·KW) @ (C·KH·KW, N·OH·OW)
            out = w.reshape(o, k) @ cols.reshape(k, n * oh * ow)
        else:  # one GEMM per group: (G, O/G, C/G·KH·KW) @ (G, C/G·KH·KW, N·OH·OW)
            out = (w.reshape(g, og, k) @ cols.reshape(g, k, n * oh * ow)).reshape(o, -1)
        if b is not None:  # added while the result is (O, N·OH·OW): contiguous rows
            out = out + b.reshape(o, 1)
        return out.reshape(o, n, oh, ow).permute(1, 0, 2, 3)  # NCHW, a view
    # Small outputs (OW runs of a few elements, where NumPy's per-run cost dominates):
    # columns (C·KH·KW, OH·OW·N), the batch innermost, in one plain GEMM; this layer's
    # output and everything computed from it move runs of OW·N elements.
    # window axes (N, C, OH, OW, KH, KW) -> (C, KH, KW, OH, OW, N)
    order = (1, 4, 5, 2, 3, 0)
    if g == 1:
        cols = win.permute(order)
    else:  # the same with a leading group axis
        grouped = win.reshape(n, g, cg, oh, ow, kh, kw)
        cols = grouped.permute((1,) + tuple(a + 1 if a else 0 for a in order))
    if g == 1:  # one plain GEMM: (O, C·KH·KW) @ (C·KH·KW, OH·OW·N)
        out = w.reshape(o, k) @ cols.reshape(k, n * oh * ow)
    else:  # one GEMM per group: (G, O/G, C/G·KH·KW) @ (G, C/G·KH·KW, OH·OW·N)
        out = (w.reshape(g, og, k) @ cols.reshape(g, k, n * oh * ow)).reshape(o, -1)
    if b is not None:  # added while the result is (O, OH·OW·N): contiguous rows
        out = out + b.reshape(o, 1)
    # (O, OH, OW, N) -> NCHW, a view (no copy)
    return out.reshape(o, oh, ow, n).permute(3, 0, 1, 2)


def conv2d(x: Any, w: Any, b: Any = None, stride: IntOrPair = 1,
           padding: IntOrPair | str = 0, dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    ``y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · x_pad[n, g·C/G + c, i·s + p·d, j·s + q·d]``

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, C, H, W)
    w : Tensor or ndarray, shape (O, C/groups, KH, KW)
    b : Tensor or ndarray, shape (O,), optional
    stride, dilation : int or (int, int), >= 1
    padding : int, (int, int), "valid" or "same"
        Zero padding on both sides; "same" keeps the size at stride 1 (for an even kernel
        the extra row / column goes after, as in PyTorch).
    groups : int
        Split the channels into ``groups`` independent convolutions (``groups == C`` and
        ``O == C`` is a depthwise convolution).

    Returns
    -------
    Tensor, shape (N, O, OH, OW) with ``OH = floor((H + 2p - d(KH-1) - 1)/s) + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> w = Tensor(np.ones((1, 1, 3, 3)))
    >>> conv2d(x, w).numpy()[0, 0].tolist()
    [[45.0, 54.0], [81.0, 90.0]]
    """
    fn = "conv2d"
    x, w = _as_tensor(x, "input", fn), _as_tensor(w, "weight", fn)
    b = None if b is None else _as_tensor(b, "bias", fn)
    _check_ndim(x, 4, "input", fn, "(N, C, H, W)")
    _check_ndim(w, 4, "weight", fn, "(O, C/groups, KH, KW)")
    x, w, b = _integer_inputs(fn, x, w, b)
    _check_dtypes(fn, input=x, weight=w, bias=b)
    _refuse_half(fn, input=x, weight=w, bias=b)
    groups = _int(groups, "groups", fn, 1)
    s = _tuple(stride, "stride", fn, 1)
    d = _tuple(dilation, "dilation", fn, 1)
    pads = _padding(padding, w.shape[2:], s, d, fn)
    _check_conv_size(fn, x, w, pads, s, d)
    return _conv(fn, x, w, b, s, pads, d, groups)


def conv1d(x: Any, w: Any, b: Any = None, stride: int = 1, padding: int | str = 0,
           dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as ``torch.nn.functional.conv1d``: a conv2d of height 1.

    ``y[n, o, i] = b[o] + Σ_{c,p} w[o, c, p] · x_pad[n, c, i·s + p·d]``; x is (N, C, L),
    w is (O, C/groups, K).
    """
    fn = "conv1d"
    x, w = _as_tensor(x, "input", fn), _as_tensor(w, "weight", fn)
    b = None if b is None else _as_tensor(b, "bias", fn)
    _check_ndim(x, 3, "input", fn, "(N, C, L)")
    _check_ndim(w, 3, "weight", fn, "(O, C/groups, K)")
    x, w, b = _integer_inputs(fn, x, w, b)
    _check_dtypes(fn, input=x, weight=w, bias=b)
    _refuse_half(fn, input=x, weight=w, bias=b)
    groups = _int(groups, "groups", fn, 1)
    (s,) = _tuple(stride, "stride", fn, 1, n=1)
    (d,) = _tuple(dilation, "dilation", fn, 1, n=1)
    (pad,) = _padding(padding, w.shape[2:], (s,), (d,), fn)
    n, c, length = x.shape
    o, cg, k = w.shape
    if c % groups == 0 and cg != c // groups:  # here, to show the 3-D shapes
        raise ValueError(f"{fn}: weight expects {cg} input channels per group, but input "
                         f"has {c} channels / groups={groups} = {c // groups}; weight shape "
                         f"{w.shape}, input shape {x.shape}")
    out = _conv(fn, x.reshape(n, c, 1, length), w.reshape(o, cg, 1, k), b, (1, s),
                ((0, 0), pad), (1, d), groups)
    return out.reshape(n, o, out.shape[-1])


# ------------------------------------------------------------- transposed convolution


def _spread(x: Tensor, stride: tuple[int, int]) -> Tensor:
    """Put ``s - 1`` zeros after every element of the last two axes (a pad and a reshape).

    ``(..., H, W) -> (..., H·sh, W·sw)``: element ``[i, j]`` lands at ``[i·sh, j·sw]``;
    the last ``s - 1`` rows / columns are zeros too (the caller crops or keeps them).
    """
    sh, sw = stride
    if (sh, sw) == (1, 1):
        return x
    *lead, h, w = x.shape
    t = x.reshape(*lead, h, 1, w, 1)
    t = t.pad(((0, 0),) * len(lead) + ((0, 0), (0, sh - 1), (0, 0), (0, sw - 1)))
    return t.reshape(*lead, h * sh, w * sw)


def _conv_transpose(fn: str, x: Tensor, w: Tensor, b: Tensor | None,
                    stride: tuple[int, int], padding: tuple[int, int],
                    output_padding: tuple[int, int], groups: int,
                    dilation: tuple[int, int]) -> Tensor:
    """Grouped transposed convolution of (N, C_in, H, W) by (C_in, C_out/groups, KH, KW)."""
    n, c, h, wd = x.shape
    cw, og, kh, kw = w.shape
    if cw != c:
        raise ValueError(f"{fn}: weight.shape[0] must equal the input channels ({c}), got "
                         f"weight shape {w.shape} (weights are (C_in, C_out/groups, KH, KW))")
    if c % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the input channels, got "
                         f"{c} channels")
    o = og * groups
    if b is not None and b.shape != (o,):
        raise ValueError(f"{fn}: bias must have shape ({o},), one per output channel, "
                         f"got {b.shape}")
    for op, s, d in zip(output_padding, stride, dilation, strict=True):
        if op >= max(s, d):
            raise ValueError(f"{fn}: output_padding must be smaller than either stride or "
                             f"dilation, got output_padding {output_padding}, stride "
                             f"{stride}, dilation {dilation}")
    sizes = []
    for size, k, s, p, d, op in zip((h, wd), (kh, kw), stride, padding, dilation,
                                    output_padding, strict=True):
        out = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        if out < 1:
            raise ValueError(f"{fn}: output size ({size} - 1)*{s} - 2*{p} + {d}*({k} - 1) + "
                             f"{op} + 1 = {out} for an input of size {size}, expected at "
                             f"least 1 (padding {p} is too large)")
        sizes.append(out)
    check_size(fn, "the output", (n, o, *sizes), x.dtype)
    check_size(fn, "the input spread by the stride", (n, c, h * stride[0], wd * stride[1]),
               x.dtype)
    # spread by the stride; the spread input is followed by s - 1 zeros already
    t = _spread(x, stride)
    pads, crop = [], []
    for size, k, s, p, d, op in zip((h, wd), (kh, kw), stride, padding, dilation,
                                    output_padding, strict=True):
        lo = d * (k - 1) - p  # the full padding d(k-1), less the conv's padding p
        hi = lo + op - (s - 1)  # output_padding at the end; s - 1 zeros are there
        pads.append((max(lo, 0), max(hi, 0)))
        crop.append(slice(max(-lo, 0), size * s - max(-hi, 0)))
    if any(sl.start or sl.stop != t.shape[2 + i] for i, sl in enumerate(crop)):
        t = t[:, :, crop[0], crop[1]]  # negative padding: crop
    # the flipped kernel with input and output channels swapped in each group:
    # (C_in, C_out/G, KH, KW) -> (G, C_out/G, C_in/G, KH, KW) -> (C_out, C_in/G, KH, KW)
    cg = c // groups
    wt = w.reshape(groups, cg, og, kh, kw).permute(0, 2, 1, 3, 4).reshape(o, cg, kh, kw)
    # integers: in int64, exactly or refused (the dtype rule), as conv2d
    t, flipped, b = _integer_inputs(fn, t, _flip_last_two(wt), b)
    out = _conv(fn, t, flipped, b, (1, 1), tuple(pads), dilation, groups)
    assert out.shape[2:] == tuple(sizes), (out.shape, sizes)  # the formula above
    return out


def conv_transpose2d(x: Any, w: Any, b: Any = None, stride: IntOrPair = 1,
                     padding: IntOrPair = 0, output_padding: IntOrPair = 0, groups: int = 1,
                     dilation: IntOrPair = 1) -> Tensor:
    """Transposed 2-D convolution, as ``torch.nn.functional.conv_transpose2d``.

    The adjoint of `conv2d` (its gradient with respect to the input): every input
    element spreads a copy of its kernel slice over the output,
    ``y[n, g·O/G + o, i·s + p·d − pad, j·s + q·d − pad] += x[n, g·C/G + c, i, j] ·
    w[g·C/G + c, o, p, q]``.
    Composed as: spread the input by the stride (``s − 1`` zeros between elements),
    pad by ``d(k−1) − padding`` (plus ``output_padding`` at the end; negative amounts
    crop), and cross-correlate with the kernel flipped and its channel axes swapped.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, C_in, H, W)
    w : Tensor or ndarray, shape (C_in, C_out/groups, KH, KW) (PyTorch's layout)
    b : Tensor or ndarray, shape (C_out,), optional
    stride, dilation : int or (int, int), >= 1
    padding : int or (int, int), >= 0
        Removed from both sides of the full output (``dilation·(k−1) − padding`` zeros are
        added around the spread input).
    output_padding : int or (int, int), >= 0
        Extra rows / columns at the end (bottom / right), smaller than the stride or the
        dilation: it picks one of the input sizes a strided conv2d maps to the same size.
    groups : int

    Returns
    -------
    Tensor, shape (N, C_out, OH, OW) with
    ``OH = (H − 1)·s − 2·padding + d·(KH − 1) + output_padding + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> x = Tensor(np.array([[[[1.0, 2.0]]]]))
    >>> w = Tensor(np.array([[[[1.0, 10.0, 100.0]]]]))
    >>> conv_transpose2d(x, w, stride=2).numpy()[0, 0].tolist()
    [[1.0, 10.0, 102.0, 20.0, 200.0]]
    """
    fn = "conv_transpose2d"
    x, w = _as_tensor(x, "input", fn), _as_tensor(w, "weight", fn)
    b = None if b is None else _as_tensor(b, "bias", fn)
    _check_ndim(x, 4, "input", fn, "(N, C_in, H, W)")
    _check_ndim(w, 4, "weight", fn, "(C_in, C_out/groups, KH, KW)")
    _check_dtypes(fn, input=x, weight=w, bias=b)
    _refuse_half(fn, input=x, weight=w, bias=b)
    groups = _int(groups, "groups", fn, 1)
    s = _tuple(stride, "stride", fn, 1)
    d = _tuple(dilation, "dilation", fn, 1)
    p = _tuple(padding, "padding", fn, 0)
    op = _tuple(output_padding, "output_padding", fn, 0)
    return _conv_transpose(fn, x, w, b, s, p, op, groups, d)


def conv_transpose1d(x: Any, w: Any, b: Any = None, stride: int = 1, padding: int = 0,
                     output_padding: int = 0, groups: int = 1, dilation: int = 1) -> Tensor:
    """Transposed 1-D convolution, as ``torch.nn.functional.conv_transpose1d``.

    A `conv_transpose2d` of height 1: x is (N, C_in, L), w is (C_in, C_out/groups, K), the
    output length ``(L − 1)·s − 2·padding + d·(K − 1) + output_padding + 1``.
    """
    fn = "conv_transpose1d"
    x, w = _as_tensor(x, "input", fn), _as_tensor(w, "weight", fn)
    b = None if b is None else _as_tensor(b, "bias", fn)
    _check_ndim(x, 3, "input", fn, "(N, C_in, L)")
    _check_ndim(w, 3, "weight", fn, "(C_in, C_out/groups, K)")
    _check_dtypes(fn, input=x, weight=w, bias=b)
    _refuse_half(fn, input=x, weight=w, bias=b)
    groups = _int(groups, "groups", fn, 1)
    (s,) = _tuple(stride, "stride", fn, 1, n=1)
    (d,) = _tuple(dilation, "dilation", fn, 1, n=1)
    (p,) = _tuple(padding, "padding", fn, 0, n=1)
    (op,) = _tuple(output_padding, "output_padding", fn, 0, n=1)
    n, c, length = x.shape
    out = _conv_transpose(fn, x.reshape(n, c, 1, length), w.reshape(*w.shape[:2], 1, w.shape[2]),
                          b, (1, s), (0, p), (0, op), groups, (1, d))
    return out.reshape(n, out.shape[1], out.shape[-1])


# ----------------------------------------------------------------------------- pooling


def _pool_args(fn: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any = 1, ceil_mode: bool = False):
    """Kernel, stride, (before, after) padding and dilation of a pooling call.

    With ``ceil_mode`` the padding after holds the extra cells the last, partial window
    reaches past the padded input (filled like the padding: -inf or 0, never counted by
    the average's count_include_pad).
    """
    _check_ndim(x, 4, "input", fn, "(N, C, H, W)")
    k = _tuple(kernel_size, "kernel_size", fn, 1)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _tuple(stride, "stride", fn, 1)
    d = _tuple(dilation, "dilation", fn, 1)
    p = _tuple(padding, "padding", fn, 0)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{fn}: ceil_mode must be a bool, got {ceil_mode!r}")
    for pi, ki in zip(p, k, strict=True):
        if 2 * pi > ki:
            raise ValueError(f"{fn}: padding must be at most half the kernel size, got "
                             f"padding {p} for kernel_size {k}")
    pads = []
    for n, ki, si, pi, di in zip(x.shape[2:], k, s, p, d, strict=True):
        out = output_size(n, ki, si, 2 * pi, di, bool(ceil_mode))
        if out < 1:  # then the floor size is below 1 too: its message says why
            _check_fits(fn, (n,), (ki,), (si,), ((pi, pi),), (di,))
        extra = max(0, (out - 1) * si + di * (ki - 1) + 1 - (n + 2 * pi))
        pads.append((pi, pi + extra))
    return k, s, tuple(pads), d


def _window_argmax(data: np.ndarray, k: tuple[int, ...], s: tuple[int, ...],
                   pads: tuple[tuple[int, int], ...], d: tuple[int, ...]) -> np.ndarray:
    """PyTorch's max-pool indices: ``row·W + col`` of each window's first maximum.

    Computed on the data (indices have no gradient); ``np.argmax`` takes the first
    maximum in row-major window order, and a NaN as the maximum, as PyTorch does.
    """
    n, c, h, w = data.shape
    (ph, _), (pw, _) = pads
    shape = (n, c, h + sum(pads[0]), w + sum(pads[1]))
    padded = np.full(shape, -np.inf, dtype=data.dtype if data.dtype.kind in "fO"
                     else np.float64)
    padded[:, :, ph:ph + h, pw:pw + w] = data
    win = Tensor(padded).windows(k, s, d)._data  # (N, C, OH, OW, KH, KW)
    oh, ow = win.shape[2:4]
    flat = win.reshape(n, c, oh, ow, -1)
    best = np.argmax(flat, axis=-1)
    # a window whose input cells are all -inf ties with its padding: PyTorch then names
    # the window's first input cell (it never looks at the padding)
    inside = _inside_windows((h, w), k, s, pads, d)
    empty = ~inside.any(axis=-1)
    if empty.any():  # (PyTorch returns an index outside the input here)
        i, j = np.argwhere(empty)[0]
        raise ValueError(f"max_pool2d: return_indices: window ({i}, {j}) covers only padding "
                         f"(kernel_size {k}, dilation {d}, padding {tuple(p for p, _ in pads)}"
                         f" on an input of size {(h, w)}), so it has no input index; use "
                         f"less padding or dilation")
    on_padding = ~np.take_along_axis(inside[None, None], best[..., None], axis=-1)[..., 0]
    best = np.where(on_padding, np.argmax(inside, axis=-1), best)
    if flat.dtype.kind == "f":  # a NaN wins, and PyTorch's scan keeps the last NaN
        nan = np.isnan(flat)
        last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
        best = np.where(nan.any(axis=-1), last_nan, best)
    a, b = np.divmod(best, k[1])
    rows = np.arange(oh)[:, None] * s[0] + a * d[0] - ph
    cols = np.arange(ow)[None, :] * s[1] + b * d[1] - pw
    return (rows * w + cols).astype(np.int64)


def _inside_windows(size: tuple[int, int], k: tuple[int, ...], s: tuple[int, ...],
                    pads: tuple[tuple[int, int], ...], d: tuple[int, ...]) -> np.ndarray:
    """(OH, OW, KH·KW) bool: which cells of each window lie in the input, not the padding."""
    (h, w), (ph, _), (pw, _) = size, pads[0], pads[1]
    inside = np.zeros((h + sum(pads[0]), w + sum(pads[1])), dtype=bool)
    inside[ph:ph + h, pw:pw + w] = True
    win = Tensor(inside).windows(k, s, d)._data
    return win.reshape(*win.shape[:2], -1)


def _ordered_window_max(x: Tensor, k: tuple[int, ...], s: tuple[int, ...],
                        pads: tuple[tuple[int, int], ...], d: tuple[int, ...]) -> Tensor:
    """The window max with PyTorch's choice of winner where the plain max would differ:
    input cells before padding cells (a window whose input cells are all -inf names its
    first input cell, never the padding, which would lose the gradient), and the last NaN
    of a window (PyTorch's scan replaces its best on every NaN).

    Each window's cells are gathered in that order (a Gather entry, whose VJP scatters
    back); then the first maximum is the one PyTorch picks.
    """
    xp = x.pad(((0, 0), (0, 0), *pads), value=_lowest(x.dtype)) if any(
        lo or hi for lo, hi in pads) else x
    win = xp.windows(k, s, d)
    n, c, oh, ow, kh, kw = win.shape
    flat = win.reshape(n, c, oh, ow, kh * kw)
    cells = np.arange(kh * kw)
    inside = _inside_windows(x.shape[2:], k, s, pads, d)
    key = np.where(inside, cells, kh * kw + cells)  # input cells first, in order
    key = np.broadcast_to(key, (n, c, oh, ow, kh * kw))
    if flat.dtype.kind == "f":
        nan = np.isnan(flat._data).any(axis=-1, keepdims=True)
        key = np.where(nan, np.where(inside, kh * kw - cells, 2 * kh * kw + cells), key)
    order = np.argsort(key, axis=-1, kind="stable")
    grid = np.ix_(range(n), range(c), range(oh), range(ow), range(1))
    return flat[grid[0], grid[1], grid[2], grid[3], order].max(axis=-1)


def max_pool2d(x: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, dilation: IntOrPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling, as ``torch.nn.functional.max_pool2d``.

    ``y[n, c, i, j] = max_{p,q} x_pad[n, c, i·s + p·d, j·s + q·d]``, padding with -inf;
    ``stride`` defaults to ``kernel_size``. The gradient of each window goes to its first
    maximal element (row-major order), as in PyTorch.

    Parameters
    ----------
    ceil_mode : bool, default False
        Round the output size up: a last window that runs past the padded input is kept
        if it starts inside the input or the left padding (PyTorch's rule).
    return_indices : bool, default False
        Also return, for each output, the flat index ``row·W + col`` of its maximum in
        the (unpadded) input plane, an int64 Tensor as `max_unpool2d` takes.
    """
    fn = "max_pool2d"
    x = _as_tensor(x, "input", fn)
    k, s, pads, d = _pool_args(fn, x, kernel_size, stride, padding, dilation, ceil_mode)
    tiles = _tiles(x, k, s, pads, d)
    if tiles is not None:
        out = tiles.max(axis=(3, 5))
    else:
        xp = x.pad(((0, 0), (0, 0), *pads), value=_lowest(x.dtype))
        out = xp.windows(k, s, d).max(axis=(4, 5))
    if x.requires_grad and out.size:
        # where the first maximum is not PyTorch's winner (a window of -inf inputs ties with
        # its padding, a window holds NaNs), take the winner PyTorch takes (rare: checked
        # on the output)
        lowest = _lowest(x.dtype)
        data = out._data
        if ((any(lo or hi for lo, hi in pads) and (data == lowest).any())
                or (data.dtype.kind == "f" and np.isnan(data).any())):
            out = _ordered_window_max(x, k, s, pads, d)
    if not return_indices:
        return out
    return out, Tensor(_window_argmax(x._data, k, s, pads, d))


def _tiles(x: Tensor, k: tuple[int, ...], s: tuple[int, ...],
           pads: tuple[tuple[int, int], ...], d: tuple[int, ...]) -> Tensor | None:
    """Non-overlapping windows as a reshape: (N, C, OH, KH, OW, KW), or None.

    When stride == kernel, with no padding and no dilation, the window view is the same
    elements as ``x[..., :OH·KH, :OW·KW].reshape(N, C, OH, KH, OW, KW)`` (window axes 3
    and 5): no strided view to scatter back through in the backward pass.
    """
    if s != k or any(p != (0, 0) for p in pads) or d != (1, 1):
        return None
    n, c, h, w = x.shape
    (kh, kw) = k
    oh, ow = h // kh, w // kw
    if (oh * kh, ow * kw) != (h, w):
        x = x[:, :, :oh * kh, :ow * kw]
    return x.reshape(n, c, oh, kh, ow, kw)


def avg_pool2d(x: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Average pooling, as ``torch.nn.functional.avg_pool2d``.

    ``y[n, c, i, j] = (1/count) Σ_{p,q} x_pad[n, c, i·s + p, j·s + q]``, zero padding.

    Parameters
    ----------
    ceil_mode : bool, default False
        Round the output size up (see `max_pool2d`); the part of a last window that runs
        past the padded input is never counted.
    count_include_pad : bool, default True
        Count the padding cells a window covers (PyTorch's default: KH·KW away from the
        ceil_mode edge), or only the input cells.
    divisor_override : int, optional
        Divide every window's sum by this number instead.
    """
    fn = "avg_pool2d"
    x = _as_tensor(x, "input", fn)
    _refuse_half(fn, input=x)
    k, s, pads, d = _pool_args(fn, x, kernel_size, stride, padding, 1, ceil_mode)
    total = x.pad(((0, 0), (0, 0), *pads)).windows(k, s, d).sum(axis=(4, 5))
    if divisor_override is not None:
        return total * _reciprocal(_int(divisor_override, "divisor_override", fn, 1), x)
    p = tuple(lo for lo, _ in pads)
    past_the_edge = any(hi != lo for lo, hi in pads)  # ceil_mode's partial windows
    if not past_the_edge and (count_include_pad or not any(p)):
        return total * _reciprocal(k[0] * k[1], x)
    # each window's count: the cells it covers of the padded input, or of the input
    h, w = x.shape[2:]
    region = np.zeros((h + sum(pads[0]), w + sum(pads[1])), dtype=np.int64)
    if count_include_pad:
        region[:h + 2 * p[0], :w + 2 * p[1]] = 1
    else:
        region[p[0]:p[0] + h, p[1]:p[1] + w] = 1
    counts = Tensor(region).windows(k, s, d).sum(axis=(2, 3))._data
    return total * Tensor._constant(_reciprocal_array(counts, x))


def _reciprocal(count: int, like: Tensor) -> Any:
    if like.dtype == object:
        from fractions import Fraction

        return Fraction(1, count)
    return 1.0 / count


def _reciprocal_array(counts: np.ndarray, like: Tensor) -> np.ndarray:
    if like.dtype == object:
        from fractions import Fraction

        return np.vectorize(lambda c: Fraction(1, int(c)), otypes=[object])(counts)
    return (1.0 / counts).astype(like.dtype if like.dtype.kind == "f" else np.float64)


def max_unpool2d(x: Any, indices: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, output_size: Sequence[int] | None = None) -> Tensor:
    """The partial inverse of `max_pool2d`, as ``torch.nn.functional.max_unpool2d``.

    Each value ``x[n, c, i, j]`` is written at the flat position ``indices[n, c, i, j]``
    (``row·OW + col``) of a zero plane of size ``(H − 1)·s − 2·padding + KH`` by the same
    for W (or ``output_size``, strictly within ``stride`` of it). The gradient of a value
    is the upstream gradient at its position. If two values name the same position the
    last one (row-major) is written and has the gradient (PyTorch leaves this undefined).

    Composed without a scatter: each value times a 0/1 mask of its offset from its
    window's corner, the windows laid out by a reshape (or, when windows overlap, by
    spreading and padding each offset) and cropped to the output. The masks are as large
    as the spread of the offsets: the kernel, for indices from `max_pool2d` (indices
    scattered so far that the masks would pass 64 times the output are refused with a
    ValueError). A value of ±inf or NaN turns the zeros of its own window into NaN
    (``inf · 0``).
    """
    fn = "max_unpool2d"
    x = _as_tensor(x, "input", fn)
    _check_ndim(x, 4, "input", fn, "(N, C, H, W)")
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be integers (as max_pool2d(..., "
                        f"return_indices=True) returns them), got dtype {idx.dtype}")
    if idx.shape != x.shape:
        raise ValueError(f"{fn}: indices must have the input's shape {x.shape}, got "
                         f"{idx.shape}")
    k = _tuple(kernel_size, "kernel_size", fn, 1)
    s = k if stride is None else _tuple(stride, "stride", fn, 1)
    p = _tuple(padding, "padding", fn, 0)
    n, c, h, w = x.shape
    default = tuple((size - 1) * si + ki - 2 * pi for size, si, ki, pi in
                    zip((h, w), s, k, p, strict=True))
    if output_size is None:
        oh, ow = default
    else:
        sizes = tuple(output_size)
        sizes = sizes[2:] if len(sizes) == 4 else sizes
        if len(sizes) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                                  for v in sizes):
            raise ValueError(f"{fn}: output_size must be (H, W) or (N, C, H, W) ints, got "
                             f"{output_size!r}")
        for axis, (want, base, si) in enumerate(zip(sizes, default, s, strict=True)):
            if not base - si < want < base + si:
                raise ValueError(f"{fn}: invalid output_size {tuple(output_size)}: size "
                                 f"{axis} must be strictly between {base - si} and "
                                 f"{base + si} (the default {base}, within the stride)")
        oh, ow = (int(v) for v in sizes)
    if oh < 1 or ow < 1:
        raise ValueError(f"{fn}: output size ({oh}, {ow}) for input {x.shape}, kernel_size "
                         f"{k}, stride {s}, padding {p}; expected at least 1")
    check_size(fn, "the output", (n, c, oh, ow), x.dtype)
    if idx.size and (idx.min() < 0 or idx.max() >= oh * ow):
        bad = idx[(idx < 0) | (idx >= oh * ow)]
        raise ValueError(f"{fn}: indices must be in [0, {oh * ow}) for an output plane of "
                         f"{oh}x{ow}, got {bad[:5].tolist()}")
    if x.size == 0:
        return Tensor(np.zeros((n, c, oh, ow), dtype=x.dtype))
    # offsets of each position from its window's corner (i·s, j·s), shifted to start at 0
    rows, cols = np.divmod(idx.astype(np.int64), ow)
    dr = rows - np.arange(h)[:, None] * s[0]
    dc = cols - np.arange(w)[None, :] * s[1]
    r0, c0 = int(dr.min()), int(dc.min())
    rh, rw = int(dr.max()) - r0 + 1, int(dc.max()) - c0 + 1
    cells = n * c * h * w * rh * rw
    if cells > max(1 << 24, 64 * n * c * oh * ow):
        raise ValueError(f"{fn}: the indices lie up to {rh}x{rw} cells from their windows' "
                         f"corners, which would take a mask of {cells} elements (64 times "
                         f"the output or more); without a scatter op, indices must stay near "
                         f"their pooling windows, as max_pool2d returns them")
    # a position written twice keeps the last value (row-major within each plane)
    flat = (np.arange(n * c).reshape(n, c, 1, 1) * (oh * ow) + idx).ravel()
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    keep = np.zeros(flat.size, dtype=bool)
    keep[flat.size - 1 - first_from_end] = True
    mask = np.zeros((n, c, h, w, rh, rw), dtype=x.dtype if x.dtype.kind in "fO" else np.int64)
    where = np.nonzero(keep.reshape(n, c, h, w))
    mask[(*where, (dr - r0)[where], (dc - c0)[where])] = 1
    placed = x.reshape(n, c, h, w, 1, 1) * Tensor._constant(mask)  # (N, C, H, W, RH, RW)
    if s[0] >= rh and s[1] >= rw:  # windows side by side: a reshape lays them out
        t = placed.permute(0, 1, 2, 4, 3, 5).pad(((0, 0),) * 3 + ((0, s[0] - rh), (0, 0),
                                                                   (0, s[1] - rw)))
        canvas = t.reshape(n, c, h * s[0], w * s[1])
    else:  # overlapping windows: each offset spread by the stride, shifted, and added
        canvas = None
        for a in range(rh):
            for b in range(rw):
                part = _spread(placed[:, :, :, :, a, b], s)
                part = part.pad(((0, 0), (0, 0), (a, rh - 1 - a), (b, rw - 1 - b)))
                canvas = part if canvas is None else canvas + part
    # canvas row R is output row R + r0 (column likewise): crop or pad to (oh, ow)
    index, widths = [], []
    for size, origin, length in ((canvas.shape[2], r0, oh), (canvas.shape[3], c0, ow)):
        start, stop = -origin, length - origin  # the output's rows in canvas coordinates
        index.append(slice(max(start, 0), min(stop, size)))
        widths.append((max(-start, 0), max(stop - size, 0)))
    return canvas[:, :, index[0], index[1]].pad(((0, 0), (0, 0), *widths))


def _adaptive_size(output_size: Any, size: tuple[int, int], fn: str) -> tuple[int, int]:
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) \
        else (output_size, output_size)
    if len(items) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair (an entry may be "
                         f"None: keep that size), got {output_size!r}")
    return tuple(n if v is None else _int(v, "output_size", fn, 1)
                 for v, n in zip(items, size, strict=True))


def _adaptive_bins(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's bins: ``[floor(i·n/out), ceil((i+1)·n/out))`` for i < out."""
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


def _bin_members(n: int, out: int) -> np.ndarray:
    """(out, longest bin) indices of each bin's cells; a shorter bin repeats its last."""
    bins = _adaptive_bins(n, out)
    longest = max(stop - start for start, stop in bins)
    return np.array([[min(start + k, stop - 1) for k in range(longest)] for start, stop in bins],
                    dtype=np.int64)


def _adaptive_axis(x: Tensor, axis: int, out: int, reduce: str) -> Tensor:
    """Reduce bins of one axis ("max" or "mean"): a reshape when they tile the axis."""
    n = x.shape[axis]
    if out == n:
        return x
    nan_winner = (reduce == "max" and x.dtype.kind == "f" and x.requires_grad
                  and bool(np.isnan(x._data).any()))  # the gather below picks it as PyTorch
    if n % out == 0 and not nan_winner:  # equal bins: (..., out, n/out, ...), reduce inner
        t = x.reshape(x.shape[:axis] + (out, n // out) + x.shape[axis + 1:])
        return t.max(axis=axis + 1) if reduce == "max" else t.mean(axis=axis + 1)
    # unequal bins: one gather (max) or one product with an averaging matrix (mean), not
    # a slice per bin (an output of 10**5 made 10**5 slices and a quadratic concatenation)
    i = np.arange(out, dtype=np.int64)
    starts, stops = i * n // out, -(-(i + 1) * n // out)  # _adaptive_bins, vectorised
    length = int((stops - starts).max())
    if reduce == "max":
        check_size("adaptive_max_pool2d", "the gathered bins (output, longest bin)",
                   (out, length), np.int64)
        # a short bin repeats its last cell: the same maximum, and the first occurrence
        # of the winner still takes the whole gradient
        index = np.minimum(starts[:, None] + np.arange(length), stops[:, None] - 1)
        last = x.ndim - 1
        moved = x if axis == last else x.permute(*range(axis), *range(axis + 1, x.ndim), axis)
        bins = moved[..., index]  # (..., out, length)
        if bins.dtype.kind == "f" and x.requires_grad:
            nan = np.isnan(bins._data).any(axis=-1, keepdims=True)
            if nan.any():  # PyTorch keeps a bin's last NaN: gather such bins reversed
                full = np.where(nan, index[:, ::-1], index)
                grids = np.ix_(*(range(m) for m in moved.shape[:-1]), range(1), range(1))
                bins = moved[(*grids[:-2], full)]
        out = bins.max(axis=-1)
        return out if axis == last else out.permute(*range(axis), last, *range(axis, last))
    check_size("adaptive_avg_pool2d", "the averaging matrix (input size, output size)",
               (n, out), x.dtype)
    exact = x.dtype == object
    matrix = np.zeros((n, out), dtype=object if exact else
                      (x.dtype if x.dtype.kind == "f" else np.float64))
    inside = (np.arange(n)[:, None] >= starts) & (np.arange(n)[:, None] < stops)
    if exact:
        for k, (start, stop) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
            matrix[start:stop, k] = _reciprocal(stop - start, x)
    else:
        matrix[...] = inside / (stops - starts)
    if axis == x.ndim - 1:
        return x.matmul(Tensor._constant(matrix))
    moved = x.permute(*range(axis), *range(axis + 1, x.ndim), axis)  # the axis last
    back = (*range(axis), x.ndim - 1, *range(axis, x.ndim - 1))
    return moved.matmul(Tensor._constant(matrix)).permute(*back)


def adaptive_avg_pool2d(x: Any, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average over PyTorch's adaptive bins, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output row i averages input rows ``floor(i·H/OH) .. ceil((i+1)·H/OH) − 1`` (columns
    likewise), so any input size maps to ``output_size`` (an int, a pair, None = keep).
    Bins are averaged along W, then along H (the mean of means of equal-length rows).
    """
    fn = "adaptive_avg_pool2d"
    x = _as_tensor(x, "input", fn)
    _refuse_half(fn, input=x)
    _check_ndim(x, 4, "input", fn, "(N, C, H, W)")
    oh, ow = _adaptive_size(output_size, x.shape[2:], fn)
    check_size(fn, "the output", (*x.shape[:2], oh, ow), x.dtype)
    return _adaptive_axis(_adaptive_axis(x, 3, ow, "mean"), 2, oh, "mean")


def adaptive_max_pool2d(x: Any, output_size: int | tuple[int | None, int | None],
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over PyTorch's adaptive bins, as ``torch.nn.functional.adaptive_max_pool2d``.

    The bins of `adaptive_avg_pool2d`; the max is taken along W, then along H, so the
    gradient goes to the first maximum of the bin in row-major order, as in PyTorch.
    ``return_indices`` also returns the flat ``row·W + col`` of each maximum.
    """
    fn = "adaptive_max_pool2d"
    x = _as_tensor(x, "input", fn)
    _check_ndim(x, 4, "input", fn, "(N, C, H, W)")
    h, w = x.shape[2:]
    oh, ow = _adaptive_size(output_size, (h, w), fn)
    check_size(fn, "the output", (*x.shape[:2], oh, ow), x.dtype)
    out = _adaptive_axis(_adaptive_axis(x, 3, ow, "max"), 2, oh, "max")
    if not return_indices:
        return out
    rows, cols = _bin_members(h, oh), _bin_members(w, ow)  # (oh, LR), (ow, LC)
    # every bin at once, (N, C, OH, OW, LR·LC); a short bin repeats its last cell, which
    # never changes its first maximum nor the position of its last NaN
    block = x._data[:, :, rows[:, None, :, None], cols[None, :, None, :]]
    block = block.reshape(*block.shape[:4], -1)
    best = np.argmax(block, axis=-1)
    if block.dtype.kind == "f":  # a NaN wins, and PyTorch keeps the last NaN
        nan = np.isnan(block)
        best = np.where(nan.any(axis=-1),
                        block.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1), best)
    flat = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(oh, ow, -1)
    indices = np.take_along_axis(np.broadcast_to(flat, block.shape), best[..., None],
                                 axis=-1)[..., 0]
    return out, Tensor(indices.astype(np.int64))


# ---------------------------------------------------------------------------- padding

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x: Any, pad: Sequence[int], mode: str = "constant", value: Any = 0) -> Tensor:
    """Pad (or crop) the last axes, as ``torch.nn.functional.pad``.

    ``pad`` is PyTorch's flat tuple, last axis first: ``(left, right)`` pads the last
    axis, ``(left, right, top, bottom)`` the last two, and so on; a negative entry crops.
    Every mode is slices, expands and constant pads put together, so the gradient of a
    reflected or repeated element is the sum over the places it was copied to.

    Parameters
    ----------
    mode : "constant" | "reflect" | "replicate" | "circular"
        ``constant``: fill with ``value``. ``reflect``: mirror without repeating the edge
        (``[2, 1 | 0, 1, 2]``; each amount must be smaller than the axis).
        ``replicate``: repeat the edge element. ``circular``: wrap around (the far end
        first; after any crop, at most once around).
    value : number
        The fill of the constant mode.

    Examples
    --------
    >>> import numpy as np
    >>> x = Tensor(np.array([[0.0, 1.0, 2.0]]))
    >>> pad(x, (2, 1), mode="reflect").numpy().tolist()
    [[2.0, 1.0, 0.0, 1.0, 2.0, 1.0]]
    >>> pad(x, (1, -1), value=9.0).numpy().tolist()
    [[9.0, 0.0, 1.0]]
    """
    fn = "pad"
    x = _as_tensor(x, "input", fn)
    if mode not in PAD_MODES:
        raise ValueError(f"{fn}: mode must be one of {', '.join(map(repr, PAD_MODES))}, "
                         f"got {mode!r}")
    if isinstance(pad, (str, bytes)) or not isinstance(pad, Sequence):
        raise TypeError(f"{fn}: pad must be a tuple of ints (last axis first), got {pad!r}")
    amounts = [_int(v, "pad", fn, -(1 << 62)) for v in pad]
    if len(amounts) % 2 or len(amounts) // 2 > x.ndim:
        raise ValueError(f"{fn}: pad must hold a (before, after) pair per padded axis, last "
                         f"axis first, at most {x.ndim} pairs for an input of shape "
                         f"{x.shape}; got {tuple(pad)} ({len(amounts)} entries)")
    if mode != "constant" and value not in (0, None):
        raise ValueError(f"{fn}: mode {mode!r} takes no value (only 'constant' fills), "
                         f"got value={value!r}")
    out = x
    for i in range(len(amounts) // 2):
        axis, lo, hi = x.ndim - 1 - i, amounts[2 * i], amounts[2 * i + 1]
        out = _pad_axis(out, axis, lo, hi, mode, value, fn)
    return out


def _pad_axis(x: Tensor, axis: int, lo: int, hi: int, mode: str, value: Any, fn: str) -> Tensor:
    n = x.shape[axis]
    size = n + lo + hi
    if lo == hi == 0:
        return x
    if size < 0 or (mode != "constant" and size < 1):
        raise ValueError(f"{fn}: padding ({lo}, {hi}) of axis {axis} (size {n}) leaves size "
                         f"{size}, expected at least {0 if mode == 'constant' else 1}")
    check_size(fn, "the padded tensor", x.shape[:axis] + (size,) + x.shape[axis + 1:],
               x.dtype)  # before the index list of replicate / reflect is built
    if mode in ("constant", "circular"):  # crop first; then pad the cropped axis
        x = _slice_axis(x, axis, max(-lo, 0), n - max(-hi, 0))
        n, lo, hi = x.shape[axis], max(lo, 0), max(hi, 0)
        if mode == "constant":
            widths = [(0, 0)] * x.ndim
            widths[axis] = (lo, hi)
            return x.pad(widths, value=value)
        if lo > n or hi > n:
            raise ValueError(f"{fn}: circular padding ({lo}, {hi}) of axis {axis} wraps "
                             f"around more than once: each amount must be at most the "
                             f"size {n}")
        return _take(x, axis, [(j - lo) % n for j in range(n + lo + hi)])
    if mode == "reflect":
        if lo >= n or hi >= n:
            raise ValueError(f"{fn}: reflect padding ({lo}, {hi}) of axis {axis} needs each "
                             f"amount smaller than the size of that axis, {n}; got padding "
                             f"{max(lo, hi)} for size {n}")
        def source(i: int) -> int:
            return -i if i < 0 else 2 * (n - 1) - i if i >= n else i
    else:  # replicate
        def source(i: int) -> int:
            return min(max(i, 0), n - 1)
    return _take(x, axis, [source(j - lo) for j in range(size)])


# ----------------------------------------------------------- activations and the loss


def relu(x: Any) -> Tensor:
    """``max(0, x)`` elementwise; relu'(0) = 0."""
    return _as_tensor(x, "input", "relu").relu()


def _shifted(x: Tensor, axis: int, fn: str = "softmax", neg_inf: bool = True) -> Tensor:
    """``x - max(x)`` along axis; the max is a constant (its gradient would cancel).
    ``neg_inf=False``: the caller found no -inf in ``x`` (no row max to replace)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or \
            not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis must be an int in [{-x.ndim}, {x.ndim}) for an input "
                         f"of shape {x.shape}, got {axis!r}")
    data = x._data  # (read inside the engine: not exposed to the caller)
    if data.dtype != object and data.ndim == 2 and axis % 2 == 1 and data.shape[1] <= 64:
        # NumPy's max over a short contiguous axis runs row by row; with that axis first
        # (one small copy) it runs across whole rows (rows of logits: without moveaxis)
        with_max = np.ascontiguousarray(data.T).max(axis=0).reshape(-1, 1)
    elif data.dtype != object and data.shape[axis] <= 64:
        with_max = np.expand_dims(np.ascontiguousarray(np.moveaxis(data, axis, 0)).max(axis=0),
                                  axis)
    else:
        with_max = data.max(axis=axis, keepdims=True)
    if neg_inf and x.dtype != object and (with_max == -np.inf).any():
        # a row of -inf: shift by 0 (its softmax is then 0/0 = NaN, as PyTorch's); a row
        # with +inf or NaN keeps its shift, so that it is all NaN, as PyTorch's too
        with_max = np.where(with_max == -np.inf, 0, with_max).astype(x.dtype)
    # negated in NumPy: a constant needs no graph node, nor an expand (NumPy broadcasts it)
    return Tensor._apply(P.ADD, x, Tensor._constant(-with_max))


def _zero_d(x: Tensor, axis: Any, fn: str) -> bool:
    """A 0-d input is one logit along axis 0 (or -1), as in PyTorch."""
    if x.ndim:
        return False
    if isinstance(axis, bool) or axis not in (0, -1):
        raise ValueError(f"{fn}: axis must be 0 or -1 for a 0-d input, got {axis!r}")
    return True


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``x - max - log Σ exp(x - max)`` along ``axis``: stable for logits of ±1e4."""
    x = _as_tensor(x, "input", "log_softmax")
    _refuse_integers(x, "log_softmax")
    _refuse_half("log_softmax", input=x)
    if _zero_d(x, axis, "log_softmax"):
        return log_softmax(x.reshape(1), 0).reshape(())
    z = _shifted(x, axis, "log_softmax")
    return z - z.exp().sum(axis=axis, keepdims=True).log()


def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x - max) / Σ exp(x - max)`` along ``axis``."""
    x = _as_tensor(x, "input", "softmax")
    _refuse_integers(x, "softmax")
    _refuse_half("softmax", input=x)
    if _zero_d(x, axis, "softmax"):
        return softmax(x.reshape(1), 0).reshape(())
    e = _shifted(x, axis).exp()
    return e / e.sum(axis=axis, keepdims=True)


REDUCTIONS = ("mean", "sum", "none")


def _loss_args(fn: str, x: Any, reduction: str) -> Tensor:
    x = _as_tensor(x, "input", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: input must have 2 dims (N, C), got shape {x.shape}; "
                         f"(N, C, d1, ..., dk) is accepted too (a class axis second)")
    if x.dtype.kind not in "fcO":
        raise TypeError(f"{fn}: input ({'logits' if fn == 'cross_entropy' else 'log-probs'}) "
                        f"must be floating point (or exact object), got dtype {x.dtype}; "
                        f"convert it, e.g. x.astype(np.float64)")
    _refuse_half(fn, input=x)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if math.prod(x.shape[:1] + x.shape[2:]) == 0 and reduction == "mean":
        raise ValueError(f"{fn}: reduction='mean' of an empty batch (input shape "
                         f"{x.shape}) has no value; use reduction='sum' or 'none'")
    return x


def _to_rows(fn: str, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """(N, C, d1, ..., dk) inputs as (N·d1⋯dk, C) rows, the class axis last; the target
    likewise; and the shape "none" gives back, (N, d1, ..., dk). Rows stay rows."""
    if x.ndim == 2:
        return x, target, (x.shape[0],)
    n, c, *rest = x.shape
    order = (0, *range(2, x.ndim), 1)
    rows = x.permute(order).reshape(-1, c)
    if target.dtype.kind in "iu":
        if target.shape != (n, *rest):
            raise ValueError(f"{fn}: class-index target must have shape {(n, *rest)} (the "
                             f"input {x.shape} without its class axis), got {target.shape}")
        target = target.reshape(-1)
    elif target.shape == x.shape:  # probabilities: the class axis moves like the input's
        target = target.permute(order).reshape(-1, c)
    else:
        raise ValueError(f"{fn}: probability target must have the input's shape {x.shape}, "
                         f"got {target.shape} (class indices must be integers)")
    return rows, target, (n, *rest)


def _has_neg_inf(data: np.ndarray) -> bool:
    """Whether a float array holds -inf (``fmin`` skips NaNs: one pass, no temporary)."""
    if data.dtype.kind == "f":
        return bool(data.size) and bool(np.fmin.reduce(data, axis=None) == -np.inf)
    return data.dtype != object and bool(np.isneginf(data).any())


def _class_weight(fn: str, weight: Any, like: Tensor) -> np.ndarray | None:
    """The per-class weight as a constant array of the input's dtype (or None)."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        if weight.requires_grad:
            raise ValueError(f"{fn}: weight must not require grad (PyTorch does not "
                             f"differentiate the loss with respect to the class weights); "
                             f"pass weight.detach()")
        weight = weight._data
    array = np.asarray(weight)
    c = like.shape[1]
    if array.shape != (c,):
        raise ValueError(f"{fn}: weight must have shape ({c},), one per class, got "
                         f"{array.shape}")
    if array.dtype.kind not in "fiuO" or array.dtype.kind == "b":
        raise TypeError(f"{fn}: weight must hold numbers, got dtype {array.dtype}")
    return array if like.dtype == object else array.astype(like.dtype)


def _labels(fn: str, target: Tensor, n: int, c: int, ignore_index: Any
            ) -> tuple[np.ndarray, bool]:
    """The class indices, checked (in [0, C) or ignore_index), and whether no row is
    ignored."""
    if target.shape != (n,):
        raise ValueError(f"{fn}: class-index target must have shape ({n},), got "
                         f"{target.shape}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{fn}: ignore_index must be an int, got {ignore_index!r}")
    labels = target._data
    if not labels.size or (0 <= labels.min() and labels.max() < c):  # the common case
        # (an ignore_index outside [0, C), as the default -100, then matches no row)
        return labels, not 0 <= ignore_index < c or not (labels == ignore_index).any()
    kept = labels != ignore_index
    bad = kept & ((labels < 0) | (labels >= c))
    if bad.any():
        raise ValueError(f"{fn}: target class indices must be in [0, {c}), got "
                         f"{labels[bad][:5].tolist()} (only ignore_index={ignore_index} "
                         f"may lie outside)")
    return labels, bool(kept.all())


def _index_loss(log_p: Tensor, labels: np.ndarray, all_kept: bool, weight: np.ndarray | None,
                ignore_index: int, reduction: str, smoothing: Any,
                neg_inf: bool) -> Tensor:
    """PyTorch's loss for class indices, as ``Σ log_p · W`` with one constant ``W``
    (see `_index_weights`)."""
    weights_array, nan = _index_weights(log_p, labels, all_kept, weight, ignore_index,
                                        reduction, smoothing)
    loss = _weighted_sum(log_p, weights_array, reduction, neg_inf)
    return _with_nan(loss) if nan else loss


def _with_nan(loss: Tensor) -> Tensor:
    """``loss + NaN``: the mean over no target (0/0), with a zero gradient, as PyTorch."""
    return loss + Tensor._constant(np.asarray(np.nan, dtype=loss.dtype))


def _index_weights(log_p: Tensor, labels: np.ndarray, all_kept: bool,
                   weight: np.ndarray | None, ignore_index: int, reduction: str,
                   smoothing: Any) -> tuple[np.ndarray, bool]:
    """The constant ``W`` of PyTorch's loss for class indices ``Σ log_p · W``, and whether
    the mean has no target (then the loss is NaN).

    Row n of ``-W``: ``(1 − ε)·w[y_n]`` at the target class plus ``ε/C·w[c]`` at every
    class c (label smoothing), zero for an ignored row; for ``"mean"`` all divided by
    ``Σ_n w[y_n]`` over the rows not ignored (their count when there is no weight). With
    every row ignored that sum is 0 and the mean is NaN, as in PyTorch (zero gradient).
    """
    n, c = log_p.shape
    rows = np.arange(n)
    if weight is None and smoothing == 0 and all_kept:
        # the common case (no row ignored), in one array
        weights_array = np.zeros((n, c), dtype=log_p.dtype)  # object zeros are int 0
        weights_array[rows, labels] = -(_reciprocal(n, log_p) if reduction == "mean" else 1)
        return weights_array, False
    kept = labels != ignore_index
    safe = np.where(kept, labels, 0)
    one = 1 if log_p.dtype == object else np.ones((), dtype=log_p.dtype)
    target_weight = (weight[safe] if weight is not None else np.full(n, one)) * kept
    weights_array = np.zeros((n, c), dtype=log_p.dtype)  # object zeros are int 0
    weights_array[rows, safe] = -target_weight if smoothing == 0 else \
        -(1 - smoothing) * target_weight
    if smoothing != 0:
        per_class = weight if weight is not None else np.full(c, one)
        weights_array -= (smoothing / c) * per_class[None, :] * kept[:, None]
    nan = False
    if reduction == "mean":
        total = target_weight.sum()
        if total == 0:  # every target ignored (or weighted 0): 0/0
            nan = True
        elif log_p.dtype == object:
            from fractions import Fraction

            weights_array = weights_array * (Fraction(1) / total)
        else:
            weights_array = weights_array / total
    return np.asarray(weights_array, dtype=log_p.dtype), nan


def _above_floor(log_p: Tensor, weights_array: np.ndarray) -> Tensor:
    """``max(log_p, floor)``: a masked class (log p = -inf) that the loss does not use would
    give -inf · 0 = NaN, so the entries whose weight is 0 are raised to 0 first (0 · log 0
    = 0); the others have the floor -inf. A tie goes wholly to ``log_p`` (``tie=1``): a
    masked class the loss uses keeps its gradient, as PyTorch's (the loss is then inf)."""
    floor = np.where(weights_array != 0, -np.inf, 0).astype(log_p.dtype)
    return log_p._binary(P.MAXIMUM_FIRST, Tensor._constant(floor))


def _softmax_weighted_sum(logits: Tensor, weights_array: np.ndarray, reduction: str,
                          neg_inf: bool) -> Tensor:
    """``Σ_c log_softmax(logits) · W`` per row ("none") or in all ("sum", "mean"), with a
    constant ``W``, composed with fewer and smaller nodes than `log_softmax` then
    `_weighted_sum`.

    With ``z = x − max`` (the max a constant) and ``lse = log Σ_c exp z`` per row,
    ``Σ_c (z − lse) · W = Σ_c z · W − lse · r`` where ``r = Σ_c W`` is a constant row sum:
    the (N, C) broadcast of ``lse``, its negation and the (N, C) subtraction (three nodes
    and an (N, C) sum in their backward) become an (N,) product. Both terms are sums of
    non-negative numbers when ``W ≤ 0`` (z ≤ 0, lse ≥ 0), so nothing cancels. Measured
    2026-12-02 on 512x10 float32 forward+backward: see benchmarks/notes.md.
    """
    z = _shifted(logits, 1, "cross_entropy", neg_inf)
    lse = z.exp().sum(axis=1).log()  # (N,)
    neg_r = Tensor._constant(-(weights_array.sum(axis=1) if weights_array.dtype == object else
                                P._sum(weights_array, (1,), False)))
    if neg_inf:
        z = _above_floor(z, weights_array)
    zw = z * Tensor._constant(weights_array)
    if reduction == "none":
        return zw.sum(axis=1) + lse * neg_r
    return zw.sum() + (lse * neg_r).sum()


def _weighted_sum(log_p: Tensor, weights_array: np.ndarray, reduction: str,
                  neg_inf: bool) -> Tensor:
    """``Σ_c log_p · W`` per row ("none") or in all ("sum", "mean": W holds the scale)."""
    if neg_inf:
        log_p = _above_floor(log_p, weights_array)
    weights = Tensor._constant(weights_array)
    if reduction == "none":
        return (log_p * weights).sum(axis=1)
    return (log_p * weights).sum()


def cross_entropy(logits: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy, as ``torch.nn.functional.cross_entropy``.

    ``loss_n = -Σ_c w_c · y[n, c] · log_softmax(logits)[n, c]``, where ``y`` is the
    one-hot of a class index (then only ``w`` of the target class counts) or a given
    probability row. Its gradient is ``softmax(logits) - y`` per row (unweighted).

    Parameters
    ----------
    logits : Tensor or ndarray, shape (N, C) or (N, C, d1, ..., dk)
    target : Tensor or ndarray
        int class indices of shape (N,) (or (N, d1, ..., dk)), in ``[0, C)`` or equal to
        ``ignore_index``; or float probabilities shaped like the logits.
    weight : array of shape (C,), optional
        A constant weight per class.
    ignore_index : int, default -100
        Class-index targets equal to it add nothing and are not counted in the mean.
    reduction : "mean" | "sum" | "none"
        With class indices, "mean" divides by the summed weight of the targets that are
        not ignored (their count without ``weight``; NaN if all are ignored); with
        probabilities, by N.
    label_smoothing : float in [0, 1]
        Mix the target with the uniform distribution: ``y ← (1 − ε)·y + ε/C``.
    """
    fn = "cross_entropy"
    logits = _loss_args(fn, logits, reduction)
    if isinstance(target, (list, tuple)):
        target = np.asarray(target)
    target = _as_tensor(target, "target", fn)
    if isinstance(label_smoothing, bool) or not isinstance(
            label_smoothing, (int, float, np.integer, np.floating)) and \
            type(label_smoothing).__name__ != "Fraction":
        raise TypeError(f"{fn}: label_smoothing must be a number, got {label_smoothing!r}")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not (target.dtype.kind in "iufc" or target.dtype == object):
        raise TypeError(f"{fn}: target must hold int class indices or float probabilities, "
                        f"got dtype {target.dtype}")
    logits, target, shape = _to_rows(fn, logits, target)
    n, c = logits.shape
    w = _class_weight(fn, weight, logits)
    neg_inf = _has_neg_inf(logits._data)
    if target.dtype.kind in "iu":
        labels, all_kept = _labels(fn, target, n, c, ignore_index)
        weights_array, nan = _index_weights(logits, labels, all_kept, w, ignore_index,
                                            reduction, label_smoothing)
        loss = _softmax_weighted_sum(logits, weights_array, reduction, neg_inf)
        if nan:
            loss = _with_nan(loss)
        return loss.reshape(shape) if reduction == "none" else loss
    if ignore_index != -100:
        raise ValueError(f"{fn}: ignore_index applies to class-index targets only (as in "
                         f"PyTorch), got ignore_index={ignore_index!r} with a {target.dtype} "
                         f"target of shape {target.shape}")
    if target.shape != (n, c):
        kind = "probability" if target.ndim == 2 else "float"
        raise ValueError(f"{fn}: {kind} target must have shape ({n}, {c}) like the "
                         f"input, got {target.shape} (class indices must be integers)")
    _check_dtypes(fn, input=logits, target=target)
    # The loss is Σ log_p · weights with weights -y·w (times 1/N for "mean"): the sign
    # and the scale are folded into the target, and "sum" / "mean" sum over both axes
    # at once, two or three graph nodes fewer than -mean(Σ_c y · log_p).
    scale = 1 if reduction != "mean" else _reciprocal(n, logits)
    if target.requires_grad:
        y = target if label_smoothing == 0 else \
            target * (1 - label_smoothing) + label_smoothing / c
        y = y if w is None else y * Tensor(w)
        weights = -y * scale if reduction == "mean" else -y
        weights_array = weights._data
    else:
        y = target._data
        if label_smoothing != 0:
            y = y * (1 - label_smoothing) + label_smoothing / c
        y = y if w is None else y * w
        weights_array = np.asarray(-y * scale, dtype=target.dtype)
        if weights_array.dtype == logits.dtype:  # a constant W: the shorter composition
            loss = _softmax_weighted_sum(logits, weights_array, reduction, neg_inf)
            return loss.reshape(shape) if reduction == "none" else loss
        weights = Tensor._constant(weights_array)
    log_p = log_softmax(logits, axis=1)
    if neg_inf:
        floor = np.where(weights_array != 0, -np.inf, 0).astype(logits.dtype)
        log_p = log_p.maximum(Tensor._constant(floor))
    if reduction == "none":
        return (log_p * weights).sum(axis=1).reshape(shape)
    return (log_p * weights).sum()


def nll_loss(log_probs: Any, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood, as ``torch.nn.functional.nll_loss``.

    ``loss_n = -w[y_n] · log_probs[n, y_n]`` (0 where ``y_n == ignore_index``); "mean"
    divides the sum by ``Σ w[y_n]`` over the targets not ignored (NaN if all are).
    ``cross_entropy(z, y)`` is ``nll_loss(log_softmax(z, axis=1), y)``.

    Parameters
    ----------
    log_probs : Tensor or ndarray, shape (N, C) or (N, C, d1, ..., dk)
    target : int array of shape (N,) or (N, d1, ..., dk)
    weight : array of shape (C,), optional
    ignore_index : int, default -100
    reduction : "mean" | "sum" | "none"
    """
    fn = "nll_loss"
    log_probs = _loss_args(fn, log_probs, reduction)
    if isinstance(target, (list, tuple)):
        target = np.asarray(target)
    target = _as_tensor(target, "target", fn)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold int class indices, got dtype "
                        f"{target.dtype}")
    log_probs, target, shape = _to_rows(fn, log_probs, target)
    n, c = log_probs.shape
    labels, all_kept = _labels(fn, target, n, c, ignore_index)
    neg_inf = _has_neg_inf(log_probs._data)
    loss = _index_loss(log_probs, labels, all_kept, _class_weight(fn, weight, log_probs),
                       ignore_index, reduction, 0, neg_inf)
    return loss.reshape(shape) if reduction == "none" else loss


def linear(x: Any, w: Any, b: Any = None) -> Tensor:
    """``y = x · wᵀ + b``, as ``torch.nn.functional.linear``; w is (out, in)."""
    fn = "linear"
    x, w = _as_tensor(x, "input", fn), _as_tensor(w, "weight", fn)
    b = None if b is None else _as_tensor(b, "bias", fn)
    _check_ndim(w, 2, "weight", fn, "(out_features, in_features)")
    x, w, b = _integer_inputs(fn, x, w, b)
    _check_dtypes(fn, input=x, weight=w, bias=b)
    _refuse_half(fn, input=x, weight=w, bias=b)
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{fn}: input's last axis must have in_features={w.shape[1]} "
                         f"elements (weight shape {w.shape}), got input shape {x.shape}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{fn}: bias must have shape ({w.shape[0]},), got {b.shape}")
    y = x @ w.T
    return y if b is None else y + b


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the axes ``start_dim..end_dim``, as ``torch.flatten``."""
    return _as_tensor(x, "input", "flatten").flatten(start_dim, end_dim)
