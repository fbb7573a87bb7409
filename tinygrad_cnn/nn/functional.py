"""Convolution, pooling, softmax and cross-entropy, composed only from the primitives.

Nothing here has a backward of its own: each function is a few movement ops, a reduction
or one contraction, so its gradient is whatever the derivative table says.

- convolution = pad, sliding-window view, one batched matrix product (BLAS);
- max pooling = pad with -inf, window view, max over the window;
- average pooling = pad with 0, window view, sum times 1/count;
- cross-entropy = max shift, exp, sum, log, pick the target (a one-hot product).

Semantics follow ``torch.nn.functional`` (NCHW, weights OIHW, cross-correlation: no kernel
flip). Sizes obey ``out = floor((n + 2p - d(k-1) - 1) / s) + 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import winograd
from ..tensor import Tensor

__all__ = [
    "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "relu", "softmax", "log_softmax",
    "cross_entropy", "linear", "flatten", "output_size",
]

IntOrPair = int | tuple[int, int]


# ----------------------------------------------------------------------- argument checks


def output_size(n: int, kernel: int, stride: int = 1, padding_total: int = 0,
                dilation: int = 1) -> int:
    """Number of window positions: ``floor((n + p_total - d(k-1) - 1) / s) + 1``.

    ``padding_total`` is the padding added on both sides together (2p when symmetric).
    """
    return (n + padding_total - dilation * (kernel - 1) - 1) // stride + 1


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
        raise TypeError(f"{fn}: dtypes differ ({listed}); convert them to one dtype")


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
    # im2col, the one copy of the forward pass: rows (c, p, q) so that the weight
    # (O, C·KH·KW) needs no transpose; columns (n, i, j), so that the copy moves runs
    # along OW. For small outputs (OW runs of a few elements, where NumPy's per-run cost
    # dominates) the columns are (i, j, n) instead: the batch is innermost, and this
    # layer's output and everything computed from it move runs of OW·N elements.
    batch_inner = oh * ow <= 64
    # window axes (N, C, OH, OW, KH, KW) -> (C, KH, KW, N, OH, OW) or (C, KH, KW, OH, OW, N)
    order = (1, 4, 5, 2, 3, 0) if batch_inner else (1, 4, 5, 0, 2, 3)
    if g == 1:
        cols = win.permute(order)
    else:  # the same with a leading group axis
        grouped = win.reshape(n, g, cg, oh, ow, kh, kw)
        cols = grouped.permute((1,) + tuple(a + 1 if a else 0 for a in order))
    k = cg * kh * kw
    if g == 1:  # one plain GEMM: (O, C·KH·KW) @ (C·KH·KW, N·OH·OW)
        out = w.reshape(o, k) @ cols.reshape(k, n * oh * ow)
    else:  # one GEMM per group: (G, O/G, C/G·KH·KW) @ (G, C/G·KH·KW, N·OH·OW)
        out = (w.reshape(g, og, k) @ cols.reshape(g, k, n * oh * ow)).reshape(o, -1)
    if b is not None:  # added while the result is (O, N·OH·OW): contiguous rows
        out = out + b.reshape(o, 1)
    # (O, N, OH, OW) or (O, OH, OW, N) -> NCHW, a view (no copy)
    if batch_inner:
        return out.reshape(o, oh, ow, n).permute(3, 0, 1, 2)
    return out.reshape(o, n, oh, ow).permute(1, 0, 2, 3)


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
    _check_dtypes(fn, input=x, weight=w, bias=b)
    groups = _int(groups, "groups", fn, 1)
    s = _tuple(stride, "stride", fn, 1)
    d = _tuple(dilation, "dilation", fn, 1)
    pads = _padding(padding, w.shape[2:], s, d, fn)
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
    _check_dtypes(fn, input=x, weight=w, bias=b)
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


# ----------------------------------------------------------------------------- pooling


def _pool_args(fn: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any = 1):
    _check_ndim(x, 4, "input", fn, "(N, C, H, W)")
    k = _tuple(kernel_size, "kernel_size", fn, 1)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _tuple(stride, "stride", fn, 1)
    d = _tuple(dilation, "dilation", fn, 1)
    p = _tuple(padding, "padding", fn, 0)
    for pi, ki in zip(p, k, strict=True):
        if 2 * pi > ki:
            raise ValueError(f"{fn}: padding must be at most half the kernel size, got "
                             f"padding {p} for kernel_size {k}")
    pads = tuple((pi, pi) for pi in p)
    _check_fits(fn, x.shape[2:], k, s, pads, d)
    return k, s, pads, d


def max_pool2d(x: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, dilation: IntOrPair = 1) -> Tensor:
    """Max pooling, as ``torch.nn.functional.max_pool2d``.

    ``y[n, c, i, j] = max_{p,q} x_pad[n, c, i·s + p·d, j·s + q·d]``, padding with -inf;
    ``stride`` defaults to ``kernel_size``. The gradient of each window goes to its first
    maximal element (row-major order), as in PyTorch.
    """
    fn = "max_pool2d"
    x = _as_tensor(x, "input", fn)
    k, s, pads, d = _pool_args(fn, x, kernel_size, stride, padding, dilation)
    tiles = _tiles(x, k, s, pads, d)
    if tiles is not None:
        return tiles.max(axis=(3, 5))
    xp = x.pad(((0, 0), (0, 0), *pads), value=-np.inf if x.dtype != object else float("-inf"))
    return xp.windows(k, s, d).max(axis=(4, 5))


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
               padding: IntOrPair = 0, count_include_pad: bool = True) -> Tensor:
    """Average pooling, as ``torch.nn.functional.avg_pool2d``.

    ``y[n, c, i, j] = (1/count) Σ_{p,q} x_pad[n, c, i·s + p, j·s + q]``, zero padding; the
    count is KH·KW (PyTorch's default ``count_include_pad=True``), or the number of
    non-padding elements of each window when ``count_include_pad=False``.
    """
    fn = "avg_pool2d"
    x = _as_tensor(x, "input", fn)
    k, s, pads, d = _pool_args(fn, x, kernel_size, stride, padding)
    total = x.pad(((0, 0), (0, 0), *pads)).windows(k, s, d).sum(axis=(4, 5))
    if count_include_pad or all(lo == 0 for lo, _ in pads):
        return total * _reciprocal(k[0] * k[1], x)
    ones = np.pad(np.ones(x.shape[2:], dtype=np.int64), pads)
    counts = Tensor(ones).windows(k, s, d).sum(axis=(2, 3)).numpy()
    return total * Tensor(_reciprocal_array(counts, x))


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


# ----------------------------------------------------------- activations and the loss


def relu(x: Any) -> Tensor:
    """``max(0, x)`` elementwise; relu'(0) = 0."""
    return _as_tensor(x, "input", "relu").relu()


def _shifted(x: Tensor, axis: int, fn: str = "softmax") -> Tensor:
    """``x - max(x)`` along axis; the max is a constant (its gradient would cancel)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or \
            not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis must be an int in [{-x.ndim}, {x.ndim}) for an input "
                         f"of shape {x.shape}, got {axis!r}")
    data = x.data
    if data.dtype != object and data.shape[axis] <= 64:
        # NumPy's max over a short contiguous axis runs row by row; with that axis first
        # (one small copy) it runs across whole rows
        with_max = np.expand_dims(np.ascontiguousarray(np.moveaxis(data, axis, 0)).max(axis=0),
                                  axis)
    else:
        with_max = data.max(axis=axis, keepdims=True)
    if x.dtype != object and not np.isfinite(with_max).all():
        with_max = np.where(np.isfinite(with_max), with_max, 0).astype(x.dtype)
    return x + Tensor(-with_max)  # negated in NumPy: a constant needs no graph node


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``x - max - log Σ exp(x - max)`` along ``axis``: stable for logits of ±1e4."""
    x = _as_tensor(x, "input", "log_softmax")
    z = _shifted(x, axis, "log_softmax")
    return z - z.exp().sum(axis=axis, keepdims=True).log()


def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x - max) / Σ exp(x - max)`` along ``axis``."""
    x = _as_tensor(x, "input", "softmax")
    e = _shifted(x, axis).exp()
    return e / e.sum(axis=axis, keepdims=True)


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy, as ``torch.nn.functional.cross_entropy``.

    ``loss_n = -Σ_c y[n, c] · log_softmax(logits)[n, c]``, where ``y`` is the one-hot of a
    class index or a given probability row. Its gradient is ``softmax(logits) - y``
    (divided by N for ``reduction="mean"``).

    Parameters
    ----------
    logits : Tensor or ndarray, shape (N, C)
    target : Tensor or ndarray
        int class indices of shape (N,), in ``[0, C)``; or float probabilities (N, C).
    reduction : "mean" | "sum" | "none"
    """
    fn = "cross_entropy"
    logits = _as_tensor(logits, "input", fn)
    _check_ndim(logits, 2, "input", fn, "(N, C)")
    if logits.dtype.kind not in "fcO":
        raise TypeError(f"{fn}: input (logits) must be floating point (or exact object), "
                        f"got dtype {logits.dtype}; convert it, e.g. x.astype(np.float64)")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if isinstance(target, (list, tuple)):
        target = np.asarray(target)
    target = _as_tensor(target, "target", fn)
    n, c = logits.shape
    # The loss is Σ log_p · weights with constant weights -y (times 1/N for "mean"): the
    # sign and the scale are folded into the target, and "sum" / "mean" sum over both
    # axes at once, two or three graph nodes fewer than -mean(Σ_c y · log_p).
    if n == 0 and reduction == "mean":
        raise ValueError(f"{fn}: reduction='mean' of an empty batch (input shape "
                         f"{logits.shape}) has no value; use reduction='sum' or 'none'")
    scale = 1 if reduction != "mean" else _reciprocal(n, logits)
    if target.dtype.kind in "iu":
        if target.shape != (n,):
            raise ValueError(f"{fn}: class-index target must have shape ({n},), got "
                             f"{target.shape}")
        labels = target.numpy()
        if n and (labels.min() < 0 or labels.max() >= c):
            bad = (labels < 0) | (labels >= c)
            raise ValueError(f"{fn}: target class indices must be in [0, {c}), got "
                             f"{labels[bad][:5].tolist()}")
        weights_array = np.zeros((n, c), dtype=logits.dtype)  # object zeros are int 0
        weights_array[np.arange(n), labels] = -scale
        weights = Tensor(weights_array)
    elif target.dtype.kind in "fc" or target.dtype == object:
        if target.shape != (n, c):
            kind = "probability" if target.ndim == 2 else "float"
            raise ValueError(f"{fn}: {kind} target must have shape ({n}, {c}) like the "
                             f"input, got {target.shape} (class indices must be integers)")
        _check_dtypes(fn, input=logits, target=target)
        if target.requires_grad:
            weights = -target * scale if reduction == "mean" else -target
        else:
            weights = Tensor(np.asarray(-target.numpy() * scale, dtype=target.dtype))
    else:
        raise TypeError(f"{fn}: target must hold int class indices or float probabilities, "
                        f"got dtype {target.dtype}")
    log_p = log_softmax(logits, axis=1)
    if logits.dtype != object and np.isneginf(logits.data).any():
        # a masked logit (-inf) has log p = -inf, and -inf · 0 would make the loss NaN:
        # raise the entries whose target weight is 0 to 0 first (0 · log 0 = 0)
        floor = np.where(weights.data < 0, -np.inf, 0).astype(logits.dtype)
        log_p = log_p.maximum(Tensor(floor))
    if reduction == "none":
        return (log_p * weights).sum(axis=1)
    return (log_p * weights).sum()


def linear(x: Any, w: Any, b: Any = None) -> Tensor:
    """``y = x · wᵀ + b``, as ``torch.nn.functional.linear``; w is (out, in)."""
    fn = "linear"
    x, w = _as_tensor(x, "input", fn), _as_tensor(w, "weight", fn)
    b = None if b is None else _as_tensor(b, "bias", fn)
    _check_ndim(w, 2, "weight", fn, "(out_features, in_features)")
    _check_dtypes(fn, input=x, weight=w, bias=b)
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
