"""The reference: the engine's ``F.<op>`` and its autograd, in float64 or exactly.

Also the *variants* of the reference used for diagnosis: the same operation with one
classic mistake built in (flipped kernel, padding off by one, ...). A failing candidate
whose output equals a variant's output has made that mistake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F

from .cases import Case

_to_fraction = np.vectorize(lambda v: Fraction(v), otypes=[object])


def _fraction_array(a: np.ndarray) -> np.ndarray:
    if a.dtype == object:
        return a
    return _to_fraction(a.astype(np.int64) if np.all(a == np.round(a)) else a)


def engine(case: Case, arrays: dict[str, np.ndarray] | None = None,
           params: dict[str, Any] | None = None, grad_out: np.ndarray | None = None,
           exact: bool = False, op: str | None = None
           ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Output and gradients of ``F.<op>`` on the case (optionally with other arrays,
    parameters or grad_out). ``exact=True`` runs on Fractions (object arrays)."""
    arrays = case.arrays if arrays is None else arrays
    params = case.params if params is None else params
    grad_out = case.grad_out if grad_out is None else grad_out
    tensors = []
    for name, a in arrays.items():
        if name == "target":
            tensors.append(Tensor(np.asarray(a, dtype=np.int64)))
        elif exact:
            tensors.append(Tensor(_fraction_array(a), requires_grad=True))
        else:
            tensors.append(Tensor(np.asarray(a, dtype=np.float64).copy(), requires_grad=True))
    out = getattr(F, op or case.op)(*tensors, **params)
    g = _fraction_array(np.asarray(grad_out)) if exact else np.asarray(grad_out, np.float64)
    out.backward(g)
    grads = []
    for name, t in zip(arrays, tensors, strict=True):
        if name == "target":
            continue
        grad = t.grad.numpy() if t.grad is not None else np.zeros_like(t.numpy())
        grads.append(_fraction_array(np.asarray(grad, dtype=object)) if exact else grad)
    return out.numpy(), tuple(grads)


def engine_forward(case: Case, arrays: dict[str, np.ndarray] | None = None,
                   params: dict[str, Any] | None = None) -> np.ndarray:
    """The output of ``F.<op>`` in float64 (no backward, so any output shape is fine)."""
    arrays = case.arrays if arrays is None else arrays
    params = case.params if params is None else params
    tensors = [Tensor(np.asarray(a, dtype=np.int64 if k == "target" else np.float64))
               for k, a in arrays.items()]
    return getattr(F, case.op)(*tensors, **params).numpy()


# ------------------------------------------------------------------------------ variants


@dataclasses.dataclass(frozen=True)
class Variant:
    """The reference with one mistake built in.

    ``stage`` is ``"forward"`` (compare the candidate's output) or ``"backward"`` (compare
    its gradients). ``compute(case)`` returns the variant's output (forward) or gradients
    (backward), or None when the mistake makes no difference on this case.
    ``block=True`` means only the leading block of the reference's size is compared, after
    the candidate's shape equals the variant's shape (a wrong output size whose values are
    right where they exist). ``also`` names further mistakes built into the same variant
    (two mistakes made at once), reported with ``key`` when it matches.
    """

    key: str
    stage: str
    text: str
    compute: Callable[[Case], Any]
    block: bool = False
    also: tuple[str, ...] = ()  # further mistakes this variant has built in


def _flip(w: np.ndarray) -> np.ndarray:
    return np.flip(w, axis=tuple(range(2, w.ndim))).copy()


def _pairs(case: Case, key: str) -> tuple[int, ...]:
    v = case.params[key]
    n = 1 if case.op == "conv1d" else 2
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _with(case: Case, **params: Any) -> dict[str, Any]:
    return dict(case.params, **params)


def _fwd(case: Case, arrays: dict | None = None, **params: Any) -> np.ndarray | None:
    try:
        return engine_forward(case, arrays=arrays, params=_with(case, **params))
    except (ValueError, TypeError):
        return None


def _bwd(case: Case, arrays: dict | None = None, grad_out: Any = None,
         **params: Any) -> tuple | None:
    try:
        return engine(case, arrays=arrays, params=_with(case, **params), grad_out=grad_out)[1]
    except (ValueError, TypeError):
        return None


def _shape_only(case: Case, formula: Callable[[int, int, int, int, int], int]) -> Any:
    """An array of the shape a wrong size formula gives (its values are not compared
    beyond the reference's block)."""
    from .cases import expected_shape

    shape = list(expected_shape(case.op, case.config))
    c = case.config
    spatial = ([("h", "kh", 0), ("w", "kw", 1)] if case.op != "conv1d" else [("l", "k", None)])
    changed = False
    for j, (n_key, k_key, i) in enumerate(spatial):
        s, p, d = (c["s"], c["p"], c.get("d", 1)) if i is None else \
            (c["s"][i], c["p"][i], c.get("d", (1, 1))[i])
        new = formula(c[n_key], c[k_key], s, p, d)
        pos = len(shape) - len(spatial) + j
        changed |= new != shape[pos]
        shape[pos] = new
    if not changed or min(shape) < 1:
        return None
    return np.zeros(shape)


def _stride_ignored_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return n + 2 * p - d * (k - 1)


def _ceil_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1


def _ceil_instead_of_floor(case: Case) -> Any:
    """The ceil size where the floor size is asked for (not in ceil_mode cases, where the
    ceil size is right)."""
    if case.params.get("ceil_mode"):
        return None
    return _shape_only(case, _ceil_size)


def _padding_variants(case: Case) -> list[np.ndarray]:
    """The reference with padding one more, or one less, on every axis."""
    base = _pairs(case, "padding")
    outs = []
    for delta in (1, -1):
        p = tuple(v + delta for v in base)
        if min(p) < 0:
            continue
        arg = p[0] if len(set(p)) == 1 else p
        out = _fwd(case, padding=arg)
        if out is not None:
            outs.append(out)
    return outs


def _group_mixed(case: Case) -> list[np.ndarray] | None:
    """Grouped conv where every group reads the first group's input channels, or where
    output channel o reads group o % G instead of o // (O/G)."""
    g = case.params["groups"]
    if g == 1:
        return None
    x, w = case.arrays["x"], case.arrays["w"]
    o, cg = w.shape[0], w.shape[1]
    outs = []
    for group_of in (lambda oc: 0, lambda oc: oc % g):
        parts = []
        for oc in range(o):
            grp = group_of(oc)
            arrays = {"x": x[:, grp * cg:(grp + 1) * cg], "w": w[oc:oc + 1]}
            if "b" in case.arrays:
                arrays["b"] = case.arrays["b"][oc:oc + 1]
            out = _fwd(case, arrays=arrays, groups=1)
            if out is None:
                return None
            parts.append(out)
        outs.append(np.concatenate(parts, axis=1))
    return outs


def _flipped_kernel(case: Case) -> np.ndarray | None:
    return _fwd(case, arrays=dict(case.arrays, w=_flip(case.arrays["w"])))


def _no_bias(case: Case) -> np.ndarray | None:
    if "b" not in case.arrays:
        return None
    return _fwd(case, arrays={k: v for k, v in case.arrays.items() if k != "b"})


def _dilation_ignored(case: Case) -> np.ndarray | None:
    if max(_pairs(case, "dilation")) == 1:
        return None
    return _fwd(case, dilation=1)


def _stride_everywhere(case: Case) -> np.ndarray | None:
    if max(_pairs(case, "stride")) == 1:
        return None
    return _fwd(case, stride=1)


def _window_steps_by_one(case: Case) -> np.ndarray | None:
    """The right output size, but window (i, j) read at (i, j) instead of (i*s, j*s): the
    first rows and columns of the stride-1 result."""
    if max(_pairs(case, "stride")) == 1:
        return None
    full, ref = _fwd(case, stride=1), _fwd(case)
    if full is None or ref is None:
        return None
    return full[(...,) + tuple(slice(0, n) for n in ref.shape[2:])]


def _conv_weight_transposed(case: Case) -> list[tuple] | None:
    grads = _bwd(case)
    if grads is None:
        return None
    dw = grads[1]
    outs = [(grads[0], dw.swapaxes(-1, -2).copy(), *grads[2:])] if dw.ndim == 4 else []
    outs.append((grads[0], dw.swapaxes(0, 1).copy(), *grads[2:]))
    return outs


def _conv_input_grad_unflipped(case: Case) -> tuple | None:
    """dx computed by correlating grad_out with the kernel as is (it needs the kernel
    rotated by 180 degrees): that is the true dx of the flipped-kernel forward."""
    grads = _bwd(case)
    flipped = _bwd(case, arrays=dict(case.arrays, w=_flip(case.arrays["w"])))
    if grads is None or flipped is None:
        return None
    return (flipped[0], *grads[1:])


def _ignores_grad_out(case: Case) -> tuple | None:
    if np.all(case.grad_out == 1):
        return None
    return _bwd(case, grad_out=np.ones_like(case.grad_out))


# ----------------------------------------------------------------------- pooling helpers


def _windows(case: Case):
    """(n, c, i, j, list of (row, col) inside the input) for every max-pool window."""
    x = case.arrays["x"]
    kh, kw = _pairs(case, "kernel_size")
    sh, sw = _pairs(case, "stride")
    ph, pw = _pairs(case, "padding")
    dh, dw = _pairs(case, "dilation") if "dilation" in case.params else (1, 1)
    from .cases import expected_shape

    _, _, oh, ow = expected_shape(case.op, case.config)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    cells = [(i * sh + p * dh - ph, j * sw + q * dw - pw)
                             for p in range(kh) for q in range(kw)]
                    inside = [(r, s) for r, s in cells
                              if 0 <= r < x.shape[2] and 0 <= s < x.shape[3]]
                    yield n, c, i, j, inside, len(cells)


def _max_grad_to(case: Case, rule: str) -> tuple | None:
    """Max-pool dx with the window's gradient sent to 'every' element, to the 'last' max,
    or 'split' equally among the tied maxima."""
    x = case.arrays["x"]
    dx = np.zeros_like(x)
    g = case.grad_out
    for n, c, i, j, inside, _ in _windows(case):
        vals = [x[n, c, r, s] for r, s in inside]
        top = max(vals)
        maxima = [cell for cell, v in zip(inside, vals, strict=True) if v == top]
        if rule == "every":
            targets, share = inside, 1.0
        elif rule == "last":
            targets, share = maxima[-1:], 1.0
        else:
            targets, share = maxima, 1.0 / len(maxima)
        for r, s in targets:
            dx[n, c, r, s] += g[n, c, i, j] * share
    return (dx,)


def _max_pool_dx(case: Case, ties: str, combine: str) -> np.ndarray:
    """Max-pool dx with the window's gradient sent to the 'first' maximum or to 'every'
    tied maximum, and the windows' contributions combined by
    'add' (``+=``, right), 'cell' (``dx[argmax] = g``: a later window overwrites the cell),
    'window' (``dx[window] = mask * g``: a later window overwrites its whole region,
    zeros included) or 'offset' (a col2im with ``=``: for each kernel offset in turn,
    every window's value at that offset is assigned, so a later offset overwrites)."""
    x, g = case.arrays["x"], case.grad_out
    kh, kw = _pairs(case, "kernel_size")
    sh, sw = _pairs(case, "stride")
    ph, pw = _pairs(case, "padding")
    dh, dw = _pairs(case, "dilation") if "dilation" in case.params else (1, 1)
    dx = np.zeros_like(x)
    targets = {}
    for n, c, i, j, inside, _ in _windows(case):
        vals = [x[n, c, r, s] for r, s in inside]
        top = max(vals)
        maxima = [cell for cell, v in zip(inside, vals, strict=True) if v == top]
        chosen = maxima[:1] if ties == "first" else maxima
        targets[n, c, i, j] = chosen
        if combine == "add":
            for r, s in chosen:
                dx[n, c, r, s] += g[n, c, i, j]
        elif combine == "cell":
            for r, s in chosen:
                dx[n, c, r, s] = g[n, c, i, j]
        elif combine == "window":
            for r, s in inside:
                dx[n, c, r, s] = g[n, c, i, j] if (r, s) in chosen else 0.0
    if combine == "offset":
        for p in range(kh):
            for q in range(kw):
                for (n, c, i, j), chosen in targets.items():
                    r, s = i * sh + p * dh - ph, j * sw + q * dw - pw
                    if 0 <= r < x.shape[2] and 0 <= s < x.shape[3]:
                        dx[n, c, r, s] = g[n, c, i, j] if (r, s) in chosen else 0.0
    return dx


def _differs(value: np.ndarray, *others: np.ndarray) -> bool:
    return all(not np.array_equal(value, o) for o in others)


def _ties_every_max(case: Case) -> tuple | None:
    """Every tied maximum of a window gets the window's gradient ((window == max) * g)."""
    every = _max_pool_dx(case, "every", "add")
    return (every,) if _differs(every, _max_pool_dx(case, "first", "add")) else None


def _overlap_overwrite(case: Case, ties: str) -> list[tuple] | None:
    """Overlapping windows overwrite each other's gradient (``=`` instead of ``+=``), by
    cell, by window region or by kernel offset (col2im); with ``ties='every'`` also every
    tied maximum gets the gradient. Only the forms that make a difference here."""
    right = _max_pool_dx(case, "first", "add")
    base = _max_pool_dx(case, ties, "add")
    singles = [] if ties == "first" else [_max_pool_dx(case, "first", m)
                                          for m in ("cell", "window", "offset")]
    outs = []
    for combine in ("cell", "window", "offset"):
        v = _max_pool_dx(case, ties, combine)
        if _differs(v, right, base, *singles) and all(_differs(v, o[0]) for o in outs):
            outs.append((v,))
    return outs or None


def _conv_dw_overwrite(case: Case) -> tuple | None:
    """conv2d dw where each window's contribution overwrites instead of accumulates
    (``dw[f] = window * g`` in the naive loop over n, f, i, j): only the last window of the
    last image is left. Groups 1 only; None where that is the true gradient (one window)."""
    if case.params["groups"] != 1:
        return None
    grads = _bwd(case)
    if grads is None:
        return None
    x, g = case.arrays["x"], case.grad_out
    n, _, oh, ow = g.shape
    if n * oh * ow == 1:
        return None
    (sh, sw), (ph, pw), (dh, dw) = (_pairs(case, k) for k in ("stride", "padding", "dilation"))
    kh, kw = case.arrays["w"].shape[2:]
    xp = np.pad(x[n - 1], ((0, 0), (ph, ph), (pw, pw)))
    i, j = oh - 1, ow - 1
    window = xp[:, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
    last = g[n - 1, :, i, j][:, None, None, None] * window[None]
    return (grads[0], last.astype(grads[1].dtype), *grads[2:])


def _conv_dx_overwrite(case: Case) -> list[tuple] | None:
    """conv2d dx where overlapping windows overwrite instead of accumulate: a col2im with
    '=' (for each kernel offset in turn), a loop over the windows assigning each window's
    region, or the naive loop over filters and windows assigning w[f] * g. Groups 1 only;
    only the forms that make a difference here."""
    if case.params["groups"] != 1:
        return None
    grads = _bwd(case)
    if grads is None:
        return None
    x, w, g = case.arrays["x"], case.arrays["w"], case.grad_out
    (sh, sw), (ph, pw), (dh, dw) = (_pairs(case, k) for k in ("stride", "padding", "dilation"))
    n, c, h, wd = x.shape
    _, _, kh, kw = w.shape
    _, _, oh, ow = g.shape
    outs = []
    by_offset = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    for p in range(kh):
        for q in range(kw):
            by_offset[:, :, p * dh:p * dh + sh * (oh - 1) + 1:sh,
                      q * dw:q * dw + sw * (ow - 1) + 1:sw] = np.einsum(
                "noij,oc->ncij", g, w[:, :, p, q])
    by_window = np.zeros_like(by_offset)
    for i in range(oh):
        for j in range(ow):
            by_window[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                      j * sw:j * sw + dw * (kw - 1) + 1:dw] = np.einsum(
                "no,ocpq->ncpq", g[:, :, i, j], w)
    by_filter = np.zeros_like(by_offset)  # for f, for i, for j: region = w[f] * g (naive)
    for f in range(w.shape[0]):
        for i in range(oh):
            for j in range(ow):
                by_filter[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                          j * sw:j * sw + dw * (kw - 1) + 1:dw] = \
                    w[f][None] * g[:, f, i, j][:, None, None, None]
    for padded in (by_offset, by_window, by_filter):
        dx = padded[:, :, ph:ph + h, pw:pw + wd]
        if _differs(dx, grads[0]) and all(_differs(dx, o[0]) for o in outs):
            outs.append((dx, *grads[1:]))
    return outs or None


def _max_zero_padding(case: Case) -> np.ndarray | None:
    if max(_pairs(case, "padding")) == 0:
        return None
    x = case.arrays["x"]
    from .cases import expected_shape

    out = np.zeros(expected_shape(case.op, case.config))
    for n, c, i, j, inside, total in _windows(case):
        vals = [x[n, c, r, s] for r, s in inside]
        out[n, c, i, j] = max(vals + ([0.0] if len(inside) < total else []))
    return out


def _avg_count_valid(case: Case, stage: str) -> Any:
    if max(_pairs(case, "padding")) == 0 or not case.params.get("count_include_pad", True) \
            or case.params.get("divisor_override") is not None:
        return None
    try:
        params = dict(case.params, count_include_pad=False)
        if stage == "forward":
            return engine_forward(case, params=params)
        return engine(case, params=params)[1]
    except (ValueError, TypeError):
        return None


# ------------------------------------------------------------------ the later options


def _without(case: Case, name: str, stage: str) -> Any:
    """The reference with option ``name`` left out (its default): the option ignored."""
    if name not in case.params:
        return None
    params = {k: v for k, v in case.params.items() if k != name}
    try:
        if stage == "forward":
            return engine_forward(case, params=params)
        return engine(case, params=params)[1]
    except (ValueError, TypeError):
        return None


def _ceil_without_start_rule(case: Case) -> Any:
    """ceil_mode by ``ceil(...) + 1`` alone, without PyTorch's rule that drops a last
    window starting in the right padding (a wrong output size)."""
    if not case.params.get("ceil_mode"):
        return None
    return _shape_only(case, _ceil_size)


def _transposed_unflipped(case: Case) -> np.ndarray | None:
    """A transposed convolution computed as a correlation of the spread, padded input with
    the kernel as it is: the reference with every kernel rotated by 180 degrees."""
    if case.arrays["w"][0, 0].size == 1:
        return None
    return _fwd(case, arrays=dict(case.arrays, w=_flip(case.arrays["w"])))


def _transposed_unswapped(case: Case) -> np.ndarray | None:
    """conv_transpose2d's weight (C_in, C_out/G, KH, KW) read as a conv2d weight (out, in):
    w[c, o] taken as w[o, c] in each group (only expressible when C_in/G == C_out/G)."""
    w, g = case.arrays["w"], case.params["groups"]
    c, og, kh, kw = w.shape
    if c // g != og or og == 1:
        return None
    swapped = w.reshape(g, og, og, kh, kw).swapaxes(1, 2).reshape(w.shape)
    if np.array_equal(swapped, w):
        return None
    return _fwd(case, arrays=dict(case.arrays, w=np.ascontiguousarray(swapped)))


def _loss_parts(case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
    """cross_entropy's pieces in float64: log_softmax rows, labels, the mask of the targets
    kept, the class weights (ones without ``weight``) and the smoothing."""
    z = np.asarray(case.arrays["logits"], dtype=np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    labels = np.asarray(case.arrays["target"], dtype=np.int64)
    kept = labels != case.params.get("ignore_index", -100)
    weight = np.asarray(case.params.get("weight", np.ones(z.shape[1])), dtype=np.float64)
    return log_p, labels, kept, weight, case.params.get("label_smoothing", 0.0)


def _loss_from(case: Case, stage: str, coefficients: np.ndarray, divisor: float) -> Any:
    """A cross-entropy ``loss_n = -sum_c W[n, c] log_softmax(z)[n, c]`` (what every variant
    of the options is), reduced with the case's reduction ("mean" divides by ``divisor``),
    as its output (forward) or its gradient ``(sum_c W[n, c]) softmax(z)[n] - W[n]`` times
    the upstream gradient (backward). None when the mean has no value (divisor 0)."""
    log_p = _loss_parts(case)[0]
    reduction = case.params["reduction"]
    if reduction == "mean" and divisor == 0:
        return None
    losses = -(coefficients * log_p).sum(axis=1)
    if stage == "forward":
        if reduction == "none":
            return losses
        return np.asarray(losses.sum() / (divisor if reduction == "mean" else 1))
    g = np.asarray(case.grad_out, dtype=np.float64)
    scale = g[:, None] if reduction == "none" else \
        g / (divisor if reduction == "mean" else 1)
    grad = coefficients.sum(axis=1, keepdims=True) * np.exp(log_p) - coefficients
    return (grad * scale,)


def _coefficients(labels: np.ndarray, kept: np.ndarray, weight: np.ndarray, smoothing: Any,
                  classes: int, others: bool = False, uniform_by_target: bool = False,
                  per_class: bool = True) -> np.ndarray:
    """W of :func:`_loss_from`: ``(1 - e) w[y_n]`` at the target, plus ``e/C w[c]`` at
    every class (PyTorch), zero for a row not kept. The mistakes: ``others`` spreads e
    over the C - 1 other classes (e/(C-1) each), ``uniform_by_target`` weights the
    smoothing term by the target's weight w[y_n] instead of w[c], ``per_class=False``
    leaves out the 1/C (e at every class)."""
    n = len(labels)
    safe = np.where(kept, labels, 0) % classes
    w_target = weight[safe] * kept
    coeff = np.zeros((n, classes))
    coeff[np.arange(n), safe] = (1 - smoothing) * w_target
    if smoothing:
        if others:
            spread = np.full((n, classes), smoothing / max(classes - 1, 1))
            spread[np.arange(n), safe] = 0
            coeff += spread * (w_target[:, None] if uniform_by_target else weight[None, :]) \
                * kept[:, None]
        else:
            share = smoothing / (classes if per_class else 1)
            coeff += share * (w_target[:, None] if uniform_by_target else weight[None, :]) \
                * kept[:, None]
    return coeff


def _loss_option_variant(case: Case, stage: str, mistake: str) -> Any:
    """cross_entropy with one mistake in its weight / ignore_index / label_smoothing
    handling (None where the mistake makes no difference to this case)."""
    if case.op != "cross_entropy" or not _later_options(case):
        return None
    log_p, labels, kept, weight, eps = _loss_parts(case)
    n, classes = log_p.shape
    weighted = "weight" in case.params
    ignoring = "ignore_index" in case.params and not kept.all()
    mean = case.params["reduction"] == "mean"
    right = _coefficients(labels, kept, weight, eps, classes)
    right_divisor = float((weight[np.where(kept, labels, 0)] * kept).sum())
    forms: list[tuple[np.ndarray, float]] = []
    if mistake == "ignored-targets-counted-in-mean" and ignoring and mean:
        forms.append((right, float(n)))
        if weighted:  # the ignored rows' weights (of the class the index wraps to) counted
            in_range = (labels >= -classes) & (labels < classes)
            forms.append((right, float(weight[labels[in_range] % classes].sum())))
    elif mistake == "ignore-index-ignored" and ignoring:
        if ((labels >= -classes) & (labels < classes)).all():  # NumPy indexing wraps -1
            everything = np.ones(n, dtype=bool)
            wrapped = labels % classes
            forms.append((_coefficients(wrapped, everything, weight, eps, classes),
                          float(weight[wrapped].sum())))
    elif mistake == "class-weights-ignored" and weighted:
        ones = np.ones(classes)
        forms.append((_coefficients(labels, kept, ones, eps, classes), float(kept.sum())))
    elif mistake == "weighted-mean-divided-by-n" and weighted and mean:
        forms.append((right, float(kept.sum())))  # (all N: ignored-targets-counted-in-mean)
    elif mistake == "label-smoothing-ignored" and eps:
        forms.append((_coefficients(labels, kept, weight, 0, classes), right_divisor))
    elif mistake == "label-smoothing-wrong" and eps:
        for kwargs in ({"others": True}, {"per_class": False}, {"uniform_by_target": True}):
            if kwargs.get("uniform_by_target") and not weighted:
                continue
            forms.append((_coefficients(labels, kept, weight, eps, classes, **kwargs),
                          right_divisor))
    outs = []
    for coeff, divisor in forms:
        value = _loss_from(case, stage, coeff, divisor)
        if value is not None:
            outs.append(value)
    return outs or None


def _later_options(case: Case) -> list[str]:
    from .cases import NEW_OPTIONS

    return [k for k in NEW_OPTIONS.get(case.op, ()) if k in case.params]


# ----------------------------------------------------------------------- softmax family


def _naive(case: Case, stage: str) -> Any:
    """Softmax / log-softmax / cross-entropy by the textbook formula without the max shift
    (exp overflows to inf for logits of ~1e3, giving inf / inf = NaN)."""
    op = case.op
    x = case.arrays["logits" if op == "cross_entropy" else "x"]
    axis = case.params.get("axis", 1)
    with np.errstate(all="ignore"):
        e = np.exp(x)
        s = e / e.sum(axis=axis, keepdims=True)
        if op == "softmax":
            if stage == "forward":
                return s
            g = case.grad_out
            return (s * (g - (g * s).sum(axis=axis, keepdims=True)),)
        if op == "log_softmax":
            if stage == "forward":
                return np.log(s)
            g = case.grad_out
            return (g - s * g.sum(axis=axis, keepdims=True),)
        t = case.arrays["target"]
        y = np.zeros_like(x)
        y[np.arange(len(t)), t] = 1
        losses = -(np.log(s) * y).sum(axis=1)
        red = case.params["reduction"]
        if stage == "forward":
            return losses if red == "none" else (losses.sum() if red == "sum" else
                                                 np.asarray(losses.mean()))
        g = np.asarray(case.grad_out, dtype=np.float64)
        scale = g[:, None] if red == "none" else g / (len(t) if red == "mean" else 1)
        return ((s - y) * scale,)


def _log_of_softmax(case: Case) -> np.ndarray | None:
    """log(softmax(x)) with the max shift but no log-sum-exp: the softmax of a non-maximal
    logit underflows to 0 for logits far apart, and its log is -inf (a loss +inf). None
    where it makes no difference."""
    op = case.op
    x = case.arrays["logits" if op == "cross_entropy" else "x"]
    axis = case.params.get("axis", 1)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        logs = np.log(e / e.sum(axis=axis, keepdims=True))
        if op == "cross_entropy":
            t = case.arrays["target"]
            losses = -logs[np.arange(len(t)), t]
            logs = _reduce(losses, case.params["reduction"])
    return logs if not np.isfinite(logs).all() else None


def _reduce(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return losses
    return np.asarray(losses.sum() if reduction == "sum" else losses.mean())


EPSILONS = tuple(10.0 ** -k for k in range(3, 13))


def _epsilon_in_log(case: Case) -> list[np.ndarray]:
    """log(softmax(x) + eps) (log_softmax) or -log(p[target] + eps) (the loss), for the
    epsilons people write (1e-3 ... 1e-12)."""
    op = case.op
    x = case.arrays["logits" if op == "cross_entropy" else "x"]
    axis = case.params.get("axis", 1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    outs = []
    for eps in EPSILONS:
        if op == "cross_entropy":
            t = case.arrays["target"]
            outs.append(_reduce(-np.log(p[np.arange(len(t)), t] + eps),
                                case.params["reduction"]))
        else:
            outs.append(np.log(p + eps))
    return outs


def _has_large(case: Case) -> bool:
    x = case.arrays.get("logits", case.arrays.get("x"))
    return bool(np.abs(x).max() > 700)


def _softmax_wrong_axis(case: Case) -> list[np.ndarray] | None:
    x = case.arrays["x"]
    axis = case.params["axis"] % x.ndim
    outs = [_fwd(case, axis=a) for a in range(x.ndim) if a != axis and x.shape[a] > 1]
    outs = [o for o in outs if o is not None]
    return outs or None


def _softmax_diagonal(case: Case) -> tuple | None:
    x = case.arrays["x"]
    s = engine_forward(case)
    if case.op == "softmax":
        return (s * (1 - s) * case.grad_out,)
    return (case.grad_out * (1 - np.exp(s)),) if x.size else None


def _loss_missing_mean(case: Case) -> tuple | None:
    if case.params["reduction"] != "mean" or case.arrays["logits"].shape[0] == 1:
        return None
    grads = _bwd(case)
    return None if grads is None else (grads[0] * case.arrays["logits"].shape[0],)


def _loss_divided_forward(case: Case) -> list[np.ndarray] | None:
    red = case.params["reduction"]
    other = {"mean": ["sum"], "sum": ["mean"], "none": []}[red]
    outs = [_fwd(case, reduction=r) for r in other]
    return [o for o in outs if o is not None] or None


def _linear_weight_transposed(case: Case) -> tuple | None:
    grads = _bwd(case)
    return None if grads is None else (grads[0], grads[1].T.copy(), *grads[2:])


def _linear_untransposed(case: Case) -> np.ndarray | None:
    w = case.arrays["w"]
    if w.shape[0] != w.shape[1]:
        return None
    return _fwd(case, arrays=dict(case.arrays, w=w.T.copy()))


def _relu_grad_at_zero_one(case: Case) -> tuple | None:
    x = case.arrays["x"]
    if not np.any(x == 0):
        return None
    return (case.grad_out * (x >= 0),)


def _negated(case: Case, stage: str) -> Any:
    out, grads = engine(case)
    return -out if stage == "forward" else tuple(-g for g in grads)


# ------------------------------------------------------------------------ the catalogue

TEXT = {
    "flipped-kernel":
        "flipped kernel: the output equals the reference computed with every kernel rotated "
        "by 180 degrees. Deep-learning 'convolution' is cross-correlation: "
        "y[i, j] = sum_pq w[p, q] * x[i*s + p, j*s + q], with no flip of w.",
    "padding-off-by-one":
        "padding off by one: the output equals the reference with padding p + 1 or p - 1 on "
        "each side. Pad exactly p zeros on each side (2p in total): "
        "out = floor((n + 2p - d(k-1) - 1) / s) + 1.",
    "stride-ignored-in-output-size":
        "stride ignored in the output size: the output has the size of a stride-1 output, "
        "n + 2p - d(k-1), where out = floor((n + 2p - d(k-1) - 1) / s) + 1; the values that "
        "exist where they should are right.",
    "stride-ignored":
        "stride ignored: the output equals the stride-1 result (every window position); "
        "step the window by s: row i starts at i*s.",
    "window-steps-by-one":
        "the window steps by one, whatever the stride: the output has the right size, but "
        "output [i, j] is computed from the window at input row i, column j (the first "
        "rows and columns of the stride-1 result); the window of output [i, j] starts at "
        "row i*s, column j*s.",
    "ceil-instead-of-floor":
        "ceil instead of floor in the output size: out = floor((n + 2p - d(k-1) - 1) / s) + 1 "
        "keeps only windows that fit entirely in the padded input; a partial window at the "
        "end is dropped (PyTorch's default ceil_mode=False).",
    "dilation-ignored":
        "dilation ignored: the output equals the reference with dilation 1. A dilated kernel "
        "reads x[i*s + p*d], and spans d(k-1) + 1 elements.",
    "channels-mixed-across-groups":
        "channels mixed across groups: group g must read only input channels "
        "g*C/G .. (g+1)*C/G - 1 and produce output channels g*O/G .. (g+1)*O/G - 1; the "
        "output equals a convolution whose output channels read the wrong group.",
    "bias-dropped":
        "bias dropped: the output equals the reference without b; add b[o] to every "
        "position of output channel o.",
    "weight-gradient-transposed":
        "weight gradient transposed: dL/dw equals the reference's with two axes swapped "
        "(kernel rows and columns, or input and output channels / features). For a "
        "convolution dL/dw[o, c, p, q] = sum_{n,i,j} g[n, o, i, j] * x_pad[n, c, i*s + p*d, "
        "j*s + q*d]; for linear (w of shape (out, in)) dL/dw = grad_out.T @ x, of w's shape.",
    "input-gradient-without-flip":
        "input gradient without the flip: dL/dx equals a 'full' correlation of grad_out with "
        "the kernel as is; it needs the kernel rotated by 180 degrees (equivalently, "
        "scatter g[i, j] * w[p, q] back to x[i*s + p, j*s + q]).",
    "max-pool-gradient-to-every-element":
        "max-pool gradient sent to every element of the window: only the maximal element "
        "(the first one in row-major order when there are ties, as in PyTorch) receives "
        "the window's gradient; the others get 0.",
    "avg-pool-wrong-count-at-border":
        "average pooling divides by the wrong count at the border: the output equals the "
        "average over the non-padding elements only (count_include_pad=False). PyTorch's "
        "default divides every window by kh*kw, padding zeros included.",
    "softmax-without-max-shift":
        "softmax without the max shift: exp(x) overflows (inf / inf = NaN) for logits of "
        "about 1e3 and more. Subtract the row maximum first: softmax(x) = "
        "exp(x - max x) / sum exp(x - max x); log_softmax = x - max - log sum exp(x - max).",
    "loss-gradient-missing-1/N":
        "loss gradient missing 1/N: with reduction='mean' the loss is the mean over the N "
        "samples, so dL/dlogits = (softmax(logits) - onehot(target)) / N; this gradient is N "
        "times too large.",
    "max-pool-zero-padding":
        "max pooling padded with 0 instead of -inf: a padded element must never be the "
        "maximum (PyTorch pads max pooling with -inf).",
    "ties-last-max":
        "max-pool ties: the gradient went to the last maximal element; the convention "
        "checked here (PyTorch's) gives it all to the first one in row-major order.",
    "ties-split":
        "max-pool ties: the gradient was split equally among the tied maxima; the "
        "convention checked here (PyTorch's) gives it all to the first one.",
    "relu-grad-at-zero":
        "relu'(0) = 1 used; the convention checked here (PyTorch's) is relu'(0) = 0.",
    "log-of-softmax":
        "log of softmax without log-sum-exp: the max shift is there, but log(softmax(x)) "
        "takes the log of probabilities that underflow to 0 for logits far apart (-inf, a "
        "loss of +inf). Compute log_softmax = (x - max) - log sum exp(x - max) directly, "
        "and the loss as -log_softmax[target].",
    "epsilon-in-log":
        "an epsilon inside the log: the output equals the reference computed as "
        "log(p + eps) for a small eps (one of 1e-3 ... 1e-12), e.g. -log(p[target] + 1e-7). "
        "It hides log(0) but changes every value (by about eps / p); use the log-sum-exp "
        "form instead, which never takes log(0).",
    "ties-every-max":
        "max-pool ties: every tied maximum of a window got the window's gradient, as "
        "(window == max) * dout does; the convention checked here (PyTorch's) gives it all "
        "to the first maximum in row-major order (argmax), so the gradient is not counted "
        "twice.",
    "overlap-overwrite":
        "overlapping windows overwrite instead of accumulate: where windows overlap (stride "
        "< kernel) an input element belongs to several windows (in max pooling it can be "
        "the maximum of several) and its gradient is the sum of what each window sends "
        "back; '=' keeps only the last one. Use dx[...] += ..., also in col2im.",
    "weight-gradient-overwritten":
        "weight gradient overwritten instead of accumulated: dL/dw equals the contribution "
        "of the last window of the last image alone ('dw[f] = window * dout[n, f, i, j]'); "
        "every window of every image adds to it: use dw[f] += ...",
    "ignores-grad-out":
        "backward ignores grad_out: the gradients equal those of sum(output); multiply by "
        "the upstream gradient (chain rule).",
    "wrong-axis":
        "softmax taken along the wrong axis: normalize along the axis given as 'axis'.",
    "softmax-diagonal-jacobian":
        "softmax backward uses only the diagonal of the Jacobian, s * (1 - s) * g; the full "
        "vector-Jacobian product is s * (g - sum(g * s)).",
    "loss-reduction":
        "wrong reduction: the loss equals the reference with reduction 'sum' instead of "
        "'mean' (or the other way round).",
    "weight-untransposed":
        "weight used untransposed: linear computes y = x @ w.T + b with w of shape "
        "(out_features, in_features).",
    "sign-flipped":
        "sign flipped: the result equals minus the reference.",
    "output-padding-ignored":
        "output_padding ignored: the output equals the reference with output_padding 0, "
        "output_padding rows / columns too few at the bottom / right. A transposed "
        "convolution's size is (n - 1)s - 2p + d(k-1) + output_padding + 1: output_padding "
        "picks which of the s input sizes of a strided conv2d the result has.",
    "transposed-conv-kernel-unflipped":
        "transposed convolution without the kernel flip: the output equals the reference "
        "computed with every kernel rotated by 180 degrees. Written as a correlation of the "
        "spread and padded input, the transposed convolution needs the kernel rotated "
        "(w[:, :, ::-1, ::-1]); as a scatter it needs none: "
        "y[o, i*s + p*d - pad, j*s + q*d - pad] += x[c, i, j] * w[c, o, p, q].",
    "transposed-conv-channels-unswapped":
        "transposed convolution with the channel axes unswapped: the weight is "
        "(C_in, C_out/groups, KH, KW) (PyTorch's layout for the transpose: its axis 0 runs "
        "over the input channels), but it was used as a conv2d weight (out, in), w[o, c] "
        "instead of w[c, o]; swap axes 0 and 1 (within each group) before correlating.",
    "ceil-mode-ignored":
        "ceil_mode ignored: the output equals the reference with ceil_mode=False (the floor "
        "size). With ceil_mode=True out = ceil((n + 2p - d(k-1) - 1) / s) + 1: a last, "
        "partial window that starts inside the input or the left padding is kept.",
    "ceil-mode-last-window":
        "ceil_mode without PyTorch's last-window rule: the output has the size "
        "ceil((n + 2p - d(k-1) - 1) / s) + 1 even where that last window would start in "
        "the right padding; PyTorch drops such a window (one position less), so every "
        "window starts inside the input or the left padding.",
    "count-include-pad-ignored":
        "count_include_pad=False ignored: the output equals the default average, which "
        "divides every window by kh*kw padding included; with count_include_pad=False a "
        "window divides by the number of input cells it covers.",
    "divisor-override-ignored":
        "divisor_override ignored: the output equals the reference without it; with "
        "divisor_override=D every window's sum is divided by D, whatever it covers.",
    "ignored-targets-counted-in-mean":
        "ignored targets counted in the mean: the ignored targets add nothing, but the sum "
        "was divided by N (or by the weights of all N targets); reduction='mean' divides "
        "by the number (the summed weight) of the targets not ignored.",
    "ignore-index-ignored":
        "ignore_index not applied: the loss equals the reference with every target "
        "counted (an index of -1 picks the last class, as NumPy indexing does); targets "
        "equal to ignore_index must add nothing and not count in the mean.",
    "class-weights-ignored":
        "class weights ignored: the loss equals the unweighted reference; each target n "
        "contributes w[target[n]] * -log p[n, target[n]].",
    "weighted-mean-divided-by-n":
        "weighted mean divided by N: with class weights, reduction='mean' divides the "
        "weighted sum by the sum of the targets' weights, sum_n w[target[n]] (PyTorch), "
        "not by the number of targets.",
    "label-smoothing-ignored":
        "label_smoothing ignored: the loss equals the reference with label_smoothing=0.",
    "label-smoothing-wrong":
        "label smoothing applied wrongly: the target distribution is (1 - e) * one-hot + "
        "e / C at every class, the target class included (PyTorch); not e / (C - 1) at the "
        "other classes only, not e without the 1/C, and with class weights the smoothing "
        "term of class c is weighted by w[c] (not by the target's weight).",
    "constant-factor":
        "off by a constant factor: the result is a constant multiple of the reference "
        "(compare the values above); look for a missing or extra normalization (1/N, "
        "1/(kh*kw)) or a factor applied twice.",
}


def variants(op: str) -> list[Variant]:
    """The diagnosable mistakes for ``op``, most specific first."""
    v: list[Variant] = []

    def add(key: str, stage: str, compute: Callable[[Case], Any], block: bool = False,
            also: tuple[str, ...] = ()):
        v.append(Variant(key, stage, TEXT[key], compute, block, also))

    def add_window_geometry():  # the sliding-window mistakes conv and pooling share
        add("padding-off-by-one", "forward", _padding_variants)
        add("stride-ignored", "forward", _stride_everywhere)
        add("window-steps-by-one", "forward", _window_steps_by_one)
        add("stride-ignored-in-output-size", "forward",
            lambda c: _shape_only(c, _stride_ignored_size), block=True)
        add("ceil-instead-of-floor", "forward", _ceil_instead_of_floor, block=True)

    if op in ("conv1d", "conv2d"):
        add("flipped-kernel", "forward", _flipped_kernel)
        add("bias-dropped", "forward", _no_bias)
        add("dilation-ignored", "forward", _dilation_ignored)
        add("channels-mixed-across-groups", "forward", _group_mixed)
        add_window_geometry()
        add("input-gradient-without-flip", "backward", _conv_input_grad_unflipped)
        if op == "conv2d":
            add("overlap-overwrite", "backward", _conv_dx_overwrite)
            add("weight-gradient-overwritten", "backward", _conv_dw_overwrite)
        add("weight-gradient-transposed", "backward", _conv_weight_transposed)
    if op in ("max_pool2d", "avg_pool2d"):
        if op == "max_pool2d":
            add("max-pool-zero-padding", "forward", _max_zero_padding)
            add("dilation-ignored", "forward", _dilation_ignored)
            add("max-pool-gradient-to-every-element", "backward",
                lambda c: _max_grad_to(c, "every"))
            add("ties-every-max", "backward", _ties_every_max)
            add("ties-last-max", "backward", lambda c: _max_grad_to(c, "last"))
            add("ties-split", "backward", lambda c: _max_grad_to(c, "split"))
            add("overlap-overwrite", "backward", lambda c: _overlap_overwrite(c, "first"))
            add("overlap-overwrite", "backward", lambda c: _overlap_overwrite(c, "every"),
                also=("ties-every-max",))
        else:
            add("avg-pool-wrong-count-at-border", "forward",
                lambda c: _avg_count_valid(c, "forward"))
            add("avg-pool-wrong-count-at-border", "backward",
                lambda c: _avg_count_valid(c, "backward"))
        add_window_geometry()
    if op == "conv_transpose2d":
        add("output-padding-ignored", "forward",
            lambda c: _fwd(c, output_padding=0) if max(_pairs(c, "output_padding")) else None)
        add("transposed-conv-kernel-unflipped", "forward", _transposed_unflipped)
        add("transposed-conv-channels-unswapped", "forward", _transposed_unswapped)
        add("bias-dropped", "forward", _no_bias)
        add("dilation-ignored", "forward", _dilation_ignored)
        add("padding-off-by-one", "forward", _padding_variants)
        add("stride-ignored", "forward", _stride_everywhere)
        add("weight-gradient-transposed", "backward", _conv_weight_transposed)
    if op in ("max_pool2d", "avg_pool2d"):
        add("ceil-mode-ignored", "forward", lambda c: _without(c, "ceil_mode", "forward"))
        add("ceil-mode-last-window", "forward", _ceil_without_start_rule, block=True)
    if op == "avg_pool2d":
        for key, name in (("count-include-pad-ignored", "count_include_pad"),
                          ("divisor-override-ignored", "divisor_override")):
            for stage in ("forward", "backward"):
                add(key, stage, lambda c, n=name, st=stage: _without(c, n, st))
    if op == "cross_entropy":
        for key in ("ignored-targets-counted-in-mean", "ignore-index-ignored",
                    "class-weights-ignored", "weighted-mean-divided-by-n",
                    "label-smoothing-ignored", "label-smoothing-wrong"):
            for stage in ("forward", "backward"):
                add(key, stage, lambda c, k=key, st=stage: _loss_option_variant(c, st, k))

    def plain(fn: Callable[[Case], Any]) -> Callable[[Case], Any]:
        """A loss variant that does not model the later options: none where they are set."""
        return lambda c: None if _later_options(c) else fn(c)

    if op in ("log_softmax", "cross_entropy"):
        add("log-of-softmax", "forward", plain(_log_of_softmax))
        add("epsilon-in-log", "forward", plain(_epsilon_in_log))
    if op in ("softmax", "log_softmax", "cross_entropy"):
        add("softmax-without-max-shift", "forward",
            plain(lambda c: _naive(c, "forward") if _has_large(c) else None))
        add("softmax-without-max-shift", "backward",
            plain(lambda c: _naive(c, "backward") if _has_large(c) else None))
    if op in ("softmax", "log_softmax"):
        add("wrong-axis", "forward", _softmax_wrong_axis)
        add("softmax-diagonal-jacobian", "backward", _softmax_diagonal)
    if op == "cross_entropy":
        add("loss-gradient-missing-1/N", "backward", plain(_loss_missing_mean))
        add("loss-reduction", "forward", _loss_divided_forward)
    if op == "linear":
        add("bias-dropped", "forward", _no_bias)
        add("weight-untransposed", "forward", _linear_untransposed)
        add("weight-gradient-transposed", "backward", _linear_weight_transposed)
    if op == "relu":
        add("relu-grad-at-zero", "backward", _relu_grad_at_zero_one)
    add("ignores-grad-out", "backward", _ignores_grad_out)
    add("sign-flipped", "forward", lambda c: _negated(c, "forward"))
    add("sign-flipped", "backward", lambda c: _negated(c, "backward"))
    return v


def variant_value(case: Case, key: str) -> Any:
    """The value of the (first) variant ``key`` on ``case`` (None if it has none)."""
    for variant in variants(case.op):
        if variant.key == key:
            try:
                return variant.compute(case)
            except Exception:  # noqa: BLE001 - cannot be formed here
                return None
    return None
