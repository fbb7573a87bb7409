"""Calling styles and layouts, each turned into the oracle's one arrays contract.

The checker knows one contract only (the ``"arrays"`` style in NCHW): ``forward(*arrays,
**params) -> ndarray`` with the arrays and keyword names of ``tinygrad_cnn.nn.functional``,
and ``backward(*arrays, grad_out, **params) -> tuple of gradients``. :func:`adapt` wraps
an implementation written in another style or layout so that it follows that contract,
and says which cases the style cannot express (:meth:`Adapted.out_of_scope`).

Styles
------
``"arrays"``
    The contract itself. A gradient for a non-differentiable input (the int target of
    ``cross_entropy``) may be returned as None or zeros, or left out: the checker
    ignores it.
``"cs231n"``
    The CS231n assignment API, one pair of functions per layer, the backward reading
    what the forward stored in ``cache``:

    ==============  ====================================================  ====================
    op              forward                                               backward
    ==============  ====================================================  ====================
    conv2d          ``conv_forward(x, w, b, conv_param) -> (out, cache)``  ``-> (dx, dw, db)``
    max_pool2d      ``max_pool_forward(x, pool_param) -> (out, cache)``    ``-> dx``
    relu            ``relu_forward(x) -> (out, cache)``                    ``-> dx``
    linear          ``affine_forward(x, w, b) -> (out, cache)``            ``-> (dx, dw, db)``
    cross_entropy   ``softmax_loss(x, y) -> (loss, dx)``                   (none: in the loss)
    ==============  ====================================================  ====================

    Each backward is called as ``backward(dout, cache)``. ``conv_param = {"stride": s,
    "pad": p}``; ``pool_param = {"pool_height": kh, "pool_width": kw, "stride": s}``;
    the affine weight is ``(D, M)``, the transpose of ``linear``'s ``(out, in)``.
    ``softmax_loss`` is the mean loss and its gradient for an upstream gradient of 1; the
    oracle multiplies ``dx`` by ``grad_out`` itself.
``"layer"``
    Layer objects, as in the book "Deep Learning from Scratch": ``factory(*weights,
    **params)`` builds an object with ``forward(x)`` (``forward(x, t)`` for a loss) and
    ``backward(dout) -> dx``; after ``backward`` the weight gradients are read from the
    attributes named by ``grads`` (default ``("dW", "db")``). The keyword names are the
    book's:

    ===========================  ================================================
    op                           factory call
    ===========================  ================================================
    conv2d                       ``factory(w, b, stride=s, pad=p)``
    max_pool2d, avg_pool2d       ``factory(pool_h=kh, pool_w=kw, stride=s, pad=p)``
    linear                       ``factory(W, b)`` with ``W`` of shape (D, M), ``x @ W + b``
    relu, softmax, log_softmax   ``factory()`` (softmax over the last axis)
    cross_entropy                ``factory()``; ``forward(x, t)`` is the mean loss
    ===========================  ================================================

    A loss layer's backward is called with an upstream gradient of 1: ``backward()`` when
    it can be called without arguments, else ``backward(1.0)``; the oracle multiplies by
    ``grad_out`` itself. A fresh object is built for every call.

Layouts
-------
``"NCHW"`` (the contract) or ``"NHWC"``: images ``(N, H, W, C)`` and conv weights HWIO
``(KH, KW, C/groups, O)``, as TensorFlow and numpy-ml store them (conv1d: ``(N, L, C)``
and ``(K, C/groups, O)``). The oracle converts the inputs, ``grad_out``, the output and the
gradients both ways. Other ops have no image axes and are unaffected.

Whatever a style cannot express (a stride ``(1, 2)`` for a single ``"stride"``, padding
for a pooling without one, dilation, groups, another reduction, a softmax over another
axis than the last) is out of scope for that style: the case is not run and the reason is
listed.

Options added to an op later (:data:`spec.oracle.cases.NEW_OPTIONS`: pooling's
``ceil_mode``, ``count_include_pad``, ``divisor_override``; cross_entropy's ``weight``,
``ignore_index``, ``label_smoothing``) are passed, as keywords, only by the cases about
them. In the ``"arrays"`` style such a case is out of scope ("does not take ceil_mode")
when the candidate's signature has no parameter of that name (a ``**kwargs`` takes every
name), so an implementation written before the option keeps passing. Every other keyword
is treated alike: an option the signature lacks is left out of the call where the case
has its ``tinygrad_cnn.nn.functional`` default (a ``conv2d(x, w, b, stride, padding)``
runs every case with dilation 1 and one group), and the other cases are out of scope.
The ``weight`` of cross_entropy is passed as a float64 array of shape (C,). The ``"cs231n"`` and
``"layer"`` APIs have no way to say these options: their cases are out of scope there.
In NHWC, ``conv_transpose2d``'s weight ``(C_in, C_out/groups, KH, KW)`` is given as
``(KH, KW, C_out/groups, C_in)``, TensorFlow's ``conv2d_transpose`` filter layout.

A case without a bias is run with a zero bias in the styles whose conv / affine
always takes ``b`` (the same function); the gradient of that zero bias is not checked.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .cases import NEW_OPTIONS, OPS, Case

STYLES = ("arrays", "cs231n", "layer")
LAYOUTS = ("NCHW", "NHWC")

#: the ops each style has a function (or layer) for
STYLE_OPS = {
    "arrays": OPS,
    "cs231n": ("conv2d", "max_pool2d", "relu", "linear", "cross_entropy"),
    "layer": ("conv2d", "max_pool2d", "avg_pool2d", "relu", "softmax", "log_softmax",
              "linear", "cross_entropy"),
}

#: the ops whose arrays have image axes (what ``layout`` converts)
IMAGE_OPS = ("conv1d", "conv2d", "max_pool2d", "avg_pool2d", "conv_transpose2d")

#: the cs231n functions, for the messages
CS231N_NAMES = {
    "conv2d": ("conv_forward(x, w, b, conv_param)", "conv_backward(dout, cache)"),
    "max_pool2d": ("max_pool_forward(x, pool_param)", "max_pool_backward(dout, cache)"),
    "relu": ("relu_forward(x)", "relu_backward(dout, cache)"),
    "linear": ("affine_forward(x, w, b)", "affine_backward(dout, cache)"),
    "cross_entropy": ("softmax_loss(x, y)", None),
}

WEIGHTED = ("conv1d", "conv2d", "linear")


class StyleError(TypeError):
    """A candidate returned something its style does not allow (e.g. a bare array where
    ``(out, cache)`` was expected). Reported as that case's failure, without a location
    (the mistake is in what the candidate returned, not where the oracle noticed it)."""


@dataclasses.dataclass
class Adapted:
    """An implementation behind the arrays contract (NCHW, ``F.<op>`` argument names).

    Attributes
    ----------
    forward : callable
        ``forward(*arrays, **params) -> ndarray``.
    backward : callable or None
        ``backward(*arrays, grad_out, **params) -> tuple`` of gradients, one per array
        input (None, or left out, for a non-differentiable one); None when the candidate
        has no backward.
    op, style, layout : str
    scope : callable
        ``scope(case) -> list of str``: the reasons the style cannot express ``case``.
    """

    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    op: str = ""
    style: str = "arrays"
    layout: str = "NCHW"
    scope: Callable[[Case], list[str]] = dataclasses.field(repr=False,
                                                            default=lambda case: [])

    def out_of_scope(self, case: Case) -> str | None:
        """Why this style / layout cannot express ``case`` (None when it can)."""
        reasons = self.scope(case)
        return "; ".join(reasons) if reasons else None


# --------------------------------------------------------------------------- helpers


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _single(case: Case, names: tuple[str, ...], style_words: str) -> list[str]:
    """A reason when parameters ``names`` differ between the two axes."""
    bad = []
    for name in names:
        v = case.params.get(name)
        if isinstance(v, (tuple, list)) and len(set(v)) > 1:
            bad.append(f"{name} {tuple(v)}")
    if not bad:
        return []
    verb = "differs" if len(bad) == 1 else "differ"
    return [f"{' and '.join(bad)} {verb} between the axes ({style_words} takes one value "
            "for both)"]


def _one(case: Case, name: str, style_words: str, value: int = 1) -> list[str]:
    """A reason when parameter ``name`` is not ``value`` (the style has no such parameter)."""
    v = case.params.get(name, value)
    if any(x != value for x in _pair(v)):
        return [f"{name} {v!r} ({style_words} has no {name})"]
    return []


def _bias(b: np.ndarray | None, w: np.ndarray, layout: str = "NCHW") -> np.ndarray:
    """The bias to pass: a case without one is run with zeros (the same function), since
    these APIs always take ``b``. ``w`` is in the candidate's layout (OIHW / (O, I), or
    HWIO in NHWC), so the number of outputs is its first or its last axis."""
    if b is not None:
        return b
    return np.zeros(w.shape[-1] if layout == "NHWC" and w.ndim == 4 else w.shape[0])


def _drop_bias_gradient(grads: tuple[Any, ...], arrays: tuple[np.ndarray, ...]
                        ) -> tuple[Any, ...]:
    """Without a bias in the case, the style's db (for the zero bias) is not checked."""
    return grads[:2] if len(arrays) == 2 and len(grads) == 3 else grads


def _two(result: Any, what: str) -> tuple[Any, Any]:
    """``result`` as the pair the style promises (e.g. ``(out, cache)``)."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = (f"a {type(result).__name__} of length {len(result)}"
               if isinstance(result, (tuple, list)) else f"a {type(result).__name__}")
        raise StyleError(f"{what} returned {got}, expected a pair {what.split(' -> ')[-1]}"
                         if " -> " in what else f"{what} returned {got}, expected a pair")
    return result[0], result[1]


def _grads(result: Any, count: int, what: str) -> tuple[Any, ...]:
    """A backward's gradients as a tuple (a bare array for one gradient is fine)."""
    if count == 1 and not isinstance(result, (tuple, list)):
        return (result,)
    if not isinstance(result, (tuple, list)):
        raise StyleError(f"{what} returned a {type(result).__name__}, expected a tuple of "
                         f"{count} gradients")
    return tuple(result)


def _scalar_times(dx: Any, grad_out: np.ndarray) -> Any:
    """The loss's dx scaled by the (scalar) upstream gradient."""
    if isinstance(dx, np.ndarray) and dx.dtype.kind == "f":
        return dx * grad_out.astype(dx.dtype)
    return dx


def _as_array(value: Any) -> Any:
    """A scalar loss (Python float, NumPy scalar) as a 0-d array; anything else as is."""
    if isinstance(value, (float, np.floating)):
        return np.asarray(value)
    return value


# ------------------------------------------------------------------ the later options


def takes(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name``: a parameter of that name (not
    positional-only) or a ``**kwargs``. A callable whose signature cannot be read (a
    builtin, say) is assumed to take it."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return True
        if p.name == name and p.kind is not p.POSITIONAL_ONLY:
            return True
    return False


def _later_options(case: Case) -> list[str]:
    """The options of ``case`` that its op gained later (in the order of NEW_OPTIONS)."""
    return [k for k in NEW_OPTIONS.get(case.op, ()) if k in case.params]


@functools.cache
def _defaults(op: str) -> dict[str, Any]:
    """The keyword defaults of ``tinygrad_cnn.nn.functional.<op>`` (``dilation=1``, ...)."""
    import tinygrad_cnn.nn.functional as F

    parameters = inspect.signature(getattr(F, op)).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not p.empty}


def _is_default(value: Any, default: Any) -> bool:
    """Whether a case's ``value`` is the functional default (``(1, 1)`` is ``1``)."""
    if isinstance(value, (tuple, list)) and not isinstance(default, (tuple, list)):
        return bool(value) and all(_is_default(v, default) for v in value)
    if value is None or default is None:
        return value is default
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # compared elementwise: not a plain default
        return False


def _signature_scope(op: str, forward: Callable[..., Any],
                     backward: Callable[..., Any] | None) -> Callable[[Case], list[str]]:
    """The arrays style's scope: a case passing an option that the candidate's signature
    has no parameter for is out of scope, unless the value is the functional default (a
    ``conv2d(x, w, b, stride, padding)`` computes ``dilation=1, groups=1``; the option is
    then left out of the call, see `_lacking_defaults_dropped`)."""
    cache: dict[tuple[str, str], bool] = {}
    defaults = _defaults(op)

    def has(which: str, fn: Callable[..., Any], name: str) -> bool:
        if (which, name) not in cache:
            cache[which, name] = takes(fn, name)
        return cache[which, name]

    def scope(case: Case) -> list[str]:
        reasons = []
        later = _later_options(case)
        for name in later + [k for k in case.params if k not in later]:
            if name in defaults and _is_default(case.params[name], defaults[name]):
                continue  # left out of the call when the candidate has no such parameter
            if not has("forward", forward, name):
                reasons.append(f"does not take {name}")
            elif backward is not None and not has("backward", backward, name):
                reasons.append(f"its backward does not take {name}")
        return reasons

    return scope


def _lacking_defaults_dropped(op: str, fn: Callable[..., Any] | None
                              ) -> Callable[..., Any] | None:
    """``fn`` called without the keyword options its signature lacks whose value is the
    functional default (the case is out of scope otherwise: `_signature_scope`)."""
    if fn is None:
        return None
    defaults = _defaults(op)
    lacking = [name for name in defaults if not takes(fn, name)]
    if not lacking:
        return fn

    @functools.wraps(fn)
    def call(*arrays: Any, **params: Any) -> Any:
        for name in lacking:
            if name in params and _is_default(params[name], defaults[name]):
                del params[name]
        return fn(*arrays, **params)

    return call


def _options_unsaid(op: str, style: str) -> Callable[[Case], list[str]]:
    """The cs231n and layer styles' scope for the later options: they cannot say them."""
    words = (CS231N_NAMES[op][0] if style == "cs231n" and op in CS231N_NAMES
             else f"factory{_LAYER_CALL.get(op, '(...)')}")

    def scope(case: Case) -> list[str]:
        return [f"{name}={case.params[name]!r} ({words} has no {name})"
                for name in _later_options(case)]

    return scope


def _weight_as_array(fn: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """cross_entropy's ``weight`` (a tuple in the case, so that it can be compared and
    printed) handed to the candidate as a fresh float64 array, as PyTorch's is a tensor."""
    if fn is None:
        return None

    @functools.wraps(fn)
    def call(*arrays: Any, **params: Any) -> Any:
        if isinstance(params.get("weight"), tuple):
            params["weight"] = np.asarray(params["weight"], dtype=np.float64)
        return fn(*arrays, **params)

    return call


# -------------------------------------------------------------------------- cs231n


def _cs231n(op: str, forward: Callable[..., Any], backward: Callable[..., Any] | None,
            layout: str = "NCHW") -> tuple[Callable[..., Any], Callable[..., Any] | None,
                       Callable[[Case], list[str]]]:
    f_name, b_name = CS231N_NAMES[op]
    f_what = f"{f_name} -> (out, cache)"

    if op == "conv2d":
        def call(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1):
            return _two(forward(x, w, _bias(b, w, layout), {"stride": _pair(stride)[0],
                                          "pad": _pair(padding)[0]}), f_what)

        def scope(case: Case) -> list[str]:
            return (_single(case, ("stride", "padding"), "conv_param")
                    + _one(case, "dilation", "conv_param")
                    + _one(case, "groups", "conv_forward"))
    elif op == "max_pool2d":
        def call(x, *, kernel_size, stride=None, padding=0, dilation=1):
            kh, kw = _pair(kernel_size)
            s = _pair(kernel_size if stride is None else stride)[0]
            return _two(forward(x, {"pool_height": kh, "pool_width": kw, "stride": s}), f_what)

        def scope(case: Case) -> list[str]:
            return (_single(case, ("stride",), "pool_param")
                    + _one(case, "padding", "pool_param", 0)
                    + _one(case, "dilation", "pool_param"))
    elif op == "relu":
        def call(x):
            return _two(forward(x), f_what)

        def scope(case: Case) -> list[str]:
            return []
    elif op == "linear":
        def call(x, w, b=None):
            return _two(forward(x, np.ascontiguousarray(w.T), _bias(b, w)), f_what)

        def scope(case: Case) -> list[str]:
            return []
    else:  # cross_entropy: softmax_loss(x, y) -> (loss, dx)
        def call(logits, target, *, reduction="mean"):
            return _two(forward(logits, target), "softmax_loss(x, y) -> (loss, dx)")

        def scope(case: Case) -> list[str]:
            red = case.params.get("reduction", "mean")
            return [] if red == "mean" else [
                f"reduction={red!r} (softmax_loss(x, y) returns the mean loss)"]

    def adapted_forward(*arrays: np.ndarray, **params: Any) -> Any:
        return _as_array(call(*arrays, **params)[0])

    if op == "cross_entropy":
        def adapted_backward(*arrays: np.ndarray, grad_out: np.ndarray, **params: Any) -> Any:
            return (_scalar_times(call(*arrays, **params)[1], grad_out), None)

        return adapted_forward, adapted_backward, scope
    if backward is None:
        return adapted_forward, None, scope
    count = {"conv2d": 3, "linear": 3}.get(op, 1)
    b_what = f"{b_name} -> " + ("(dx, dw, db)" if count == 3 else "dx")

    def adapted_backward(*arrays: np.ndarray, grad_out: np.ndarray, **params: Any) -> Any:
        _, cache = call(*arrays, **params)
        grads = _grads(backward(grad_out, cache), count, b_what)
        if op == "linear" and len(grads) == 3 and isinstance(grads[1], np.ndarray):
            grads = (grads[0], grads[1].T, grads[2])
        return _drop_bias_gradient(grads, arrays)

    return adapted_forward, adapted_backward, scope


# --------------------------------------------------------------------------- layer


def _no_argument_call(method: Callable[..., Any]) -> bool:
    """Whether ``method`` can be called without arguments."""
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in sig.parameters.values())


def _method(obj: Any, name: str) -> Callable[..., Any]:
    method = getattr(obj, name, None)
    if not callable(method):
        raise StyleError(f"the layer object ({type(obj).__name__}) has no {name}() method")
    return method


def _layer(op: str, factory: Callable[..., Any], grads: tuple[str, ...], layout: str = "NCHW"
           ) -> tuple[Callable[..., Any], Callable[..., Any], Callable[[Case], list[str]]]:
    words = f"factory{_LAYER_CALL[op]}"

    if op == "conv2d":
        def build(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1):
            return factory(w, _bias(b, w, layout), stride=_pair(stride)[0],
                           pad=_pair(padding)[0]), (x,)

        def scope(case: Case) -> list[str]:
            return (_single(case, ("stride", "padding"), words)
                    + _one(case, "dilation", words) + _one(case, "groups", words))
    elif op in ("max_pool2d", "avg_pool2d"):
        def build(x, *, kernel_size, stride=None, padding=0, dilation=1):
            kh, kw = _pair(kernel_size)
            s = _pair(kernel_size if stride is None else stride)[0]
            return factory(pool_h=kh, pool_w=kw, stride=s, pad=_pair(padding)[0]), (x,)

        def scope(case: Case) -> list[str]:
            return (_single(case, ("stride", "padding"), words)
                    + _one(case, "dilation", words))
    elif op == "linear":
        def build(x, w, b=None):
            return factory(np.ascontiguousarray(w.T), _bias(b, w)), (x,)

        def scope(case: Case) -> list[str]:
            return []
    elif op in ("relu", "softmax", "log_softmax"):
        def build(x, *, axis=-1):
            return factory(), (x,)

        def scope(case: Case) -> list[str]:
            if op == "relu":
                return []
            x = case.arrays["x"]
            axis = case.params.get("axis", -1)
            if axis % x.ndim != x.ndim - 1:
                return [f"axis={axis} of a {x.ndim}-D input (a layer normalizes over the "
                        "last axis)"]
            return []
    else:  # cross_entropy: forward(x, t) -> mean loss
        def build(logits, target, *, reduction="mean"):
            return factory(), (logits, target)

        def scope(case: Case) -> list[str]:
            red = case.params.get("reduction", "mean")
            return [] if red == "mean" else [
                f"reduction={red!r} (a loss layer's forward(x, t) returns the mean loss)"]

    def adapted_forward(*arrays: np.ndarray, **params: Any) -> Any:
        layer, inputs = build(*arrays, **params)
        return _as_array(_method(layer, "forward")(*inputs))

    def adapted_backward(*arrays: np.ndarray, grad_out: np.ndarray, **params: Any) -> Any:
        layer, inputs = build(*arrays, **params)
        _method(layer, "forward")(*inputs)
        back = _method(layer, "backward")
        if op == "cross_entropy":
            dx = back() if _no_argument_call(back) else back(1.0)
            return (_scalar_times(dx, grad_out), None)
        dx = back(grad_out)
        if isinstance(dx, tuple) and len(dx) == 1:
            dx = dx[0]
        out = [dx]
        for name in grads:
            if not hasattr(layer, name):
                raise StyleError(f"the layer object ({type(layer).__name__}) has no "
                                 f"attribute {name!r} after backward (grads={grads!r} names "
                                 "the attributes holding the weight gradients)")
            out.append(getattr(layer, name))
        if op == "linear" and isinstance(out[1], np.ndarray):
            out[1] = out[1].T
        return _drop_bias_gradient(tuple(out), arrays)

    return adapted_forward, adapted_backward, scope


_LAYER_CALL = {
    "conv2d": "(W, b, stride, pad)",
    "max_pool2d": "(pool_h, pool_w, stride, pad)",
    "avg_pool2d": "(pool_h, pool_w, stride, pad)",
    "linear": "(W, b)",
    "relu": "()", "softmax": "()", "log_softmax": "()", "cross_entropy": "()",
}


# -------------------------------------------------------------------------- layouts


def to_layout(op: str, name: str, a: Any, layout: str) -> Any:
    """An NCHW array (or OIHW weight) in ``layout``; anything else unchanged."""
    if layout == "NCHW" or op not in IMAGE_OPS or not isinstance(a, np.ndarray):
        return a
    image = op != "conv1d"
    if name == "w":
        perm = (2, 3, 1, 0) if image else (2, 1, 0)
    elif name in ("x", "grad_out"):
        perm = (0, 2, 3, 1) if image else (0, 2, 1)
    else:
        return a
    return np.ascontiguousarray(a.transpose(perm)) if a.ndim == len(perm) else a


def from_layout(op: str, name: str, a: Any, layout: str) -> Any:
    """The inverse of :func:`to_layout` (a result of the wrong rank is left as it is, for
    the checker to report)."""
    if layout == "NCHW" or op not in IMAGE_OPS or not isinstance(a, np.ndarray):
        return a
    image = op != "conv1d"
    if name == "w":
        perm = (3, 2, 0, 1) if image else (2, 1, 0)
    elif name in ("x", "output"):
        perm = (0, 3, 1, 2) if image else (0, 2, 1)
    else:
        return a
    return np.ascontiguousarray(a.transpose(perm)) if a.ndim == len(perm) else a


_ARRAY_NAMES = {"conv1d": ("x", "w", "b"), "conv2d": ("x", "w", "b"),
                "conv_transpose2d": ("x", "w", "b"),
                "max_pool2d": ("x",), "avg_pool2d": ("x",), "relu": ("x",),
                "softmax": ("x",), "log_softmax": ("x",),
                "cross_entropy": ("logits", "target"), "linear": ("x", "w", "b")}


def _with_layout(op: str, layout: str, forward: Callable[..., Any],
                 backward: Callable[..., Any] | None
                 ) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    if layout == "NCHW" or op not in IMAGE_OPS:
        return forward, backward
    names = _ARRAY_NAMES[op]

    def convert(arrays: tuple[np.ndarray, ...]) -> list[Any]:
        return [to_layout(op, n, a, layout) for n, a in zip(names, arrays, strict=False)]

    def adapted_forward(*arrays: np.ndarray, **params: Any) -> Any:
        return from_layout(op, "output", forward(*convert(arrays), **params), layout)

    if backward is None:
        return adapted_forward, None

    def adapted_backward(*arrays: np.ndarray, grad_out: np.ndarray, **params: Any) -> Any:
        raw = backward(*convert(arrays), grad_out=to_layout(op, "grad_out", grad_out, layout),
                       **params)
        if isinstance(raw, np.ndarray):
            return from_layout(op, "x", raw, layout)
        if not isinstance(raw, (tuple, list)):
            return raw
        return tuple(from_layout(op, n, g, layout) for n, g in zip(names, raw, strict=False)
                     ) + tuple(raw[len(names):])

    return adapted_forward, adapted_backward


# ---------------------------------------------------------------------------- adapt


def adapt(op: str, forward: Callable[..., Any], backward: Callable[..., Any] | None = None,
          *, style: str = "arrays", layout: str = "NCHW",
          grads: tuple[str, ...] | list[str] | None = None) -> Adapted:
    """Wrap an implementation written in ``style`` and ``layout`` in the arrays contract.

    Parameters
    ----------
    op : str
        One of :data:`spec.oracle.cases.OPS`.
    forward : callable
        The forward function (``"arrays"``, ``"cs231n"``) or the layer factory
        (``"layer"``).
    backward : callable, optional
        The backward function (``"arrays"``, ``"cs231n"``; not for ``softmax_loss``, which
        returns its gradient, nor for ``"layer"``, whose objects have ``backward``).
    style : {"arrays", "cs231n", "layer"}
    layout : {"NCHW", "NHWC"}
    grads : tuple of str, optional
        ``"layer"`` style only: the attributes holding the weight gradients after
        ``backward``, weight first (default ``("dW", "db")`` for conv2d and linear).

    Returns
    -------
    Adapted

    Raises
    ------
    ValueError
        An unknown style or layout, an op the style has no function for, a missing
        callable, or an argument the style does not take.
    """
    if style not in STYLES:
        raise ValueError(f"style: expected one of {', '.join(map(repr, STYLES))}, got {style!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {', '.join(map(repr, LAYOUTS))}, "
                         f"got {layout!r}")
    if op not in STYLE_OPS[style]:
        raise ValueError(f"op {op!r} has no {style!r} form; style {style!r} covers "
                         f"{', '.join(STYLE_OPS[style])}")
    if not callable(forward):
        what = "the layer factory" if style == "layer" else "forward"
        raise ValueError(f"forward: {what} is required and must be callable, got "
                         f"{type(forward).__name__}")
    if backward is not None and not callable(backward):
        raise ValueError(f"backward: expected a callable or None, got {type(backward).__name__}")
    if style != "layer" and grads is not None:
        raise ValueError(f"grads: only the 'layer' style reads gradients from attributes; "
                         f"got grads={grads!r} with style={style!r}")
    if style == "arrays":
        fwd, bwd = forward, backward
        scope = _signature_scope(op, forward, backward)
        if op == "cross_entropy":
            fwd, bwd = _weight_as_array(forward), _weight_as_array(backward)
        fwd, bwd = _lacking_defaults_dropped(op, fwd), _lacking_defaults_dropped(op, bwd)
    elif style == "cs231n":
        if op == "cross_entropy" and backward is not None:
            raise ValueError("backward: softmax_loss(x, y) returns (loss, dx) itself; pass it "
                             "as forward only")
        fwd, bwd, scope = _cs231n(op, forward, backward, layout)
    else:
        if backward is not None:
            raise ValueError("backward: the 'layer' style takes one factory; the backward of "
                             "the objects it builds is used")
        if grads is None:
            grads = ("dW", "db") if op in WEIGHTED else ()
        if isinstance(grads, str) or not all(isinstance(g, str) for g in grads):
            raise ValueError(f"grads: expected a tuple of attribute names, got {grads!r}")
        grads = tuple(grads)
        needed = 2 if op in WEIGHTED else 0
        if len(grads) != needed:
            raise ValueError(f"grads: {op} has {needed} weight array(s), so grads names "
                             f"{needed} attribute(s) (weight, bias); got {grads!r}")
        fwd, bwd, scope = _layer(op, forward, grads, layout)
    if style != "arrays" and op in NEW_OPTIONS:
        style_scope, unsaid = scope, _options_unsaid(op, style)
        scope = lambda case: unsaid(case) + style_scope(case)  # noqa: E731
    fwd, bwd = _with_layout(op, layout, fwd, bwd)
    return Adapted(fwd, bwd, op, style, layout, scope or (lambda case: []))
