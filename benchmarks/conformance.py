"""Which real frameworks follow the course's conventions? The oracle run on each of them.

Usage::

    python benchmarks/conformance.py                      # every framework that is installed
    python benchmarks/conformance.py --frameworks torch,jax
    python benchmarks/conformance.py --markdown benchmarks/conformance.md \\
        --json benchmarks/conformance.json

Each framework's operations are checked by ``spec.oracle.check`` (in this process,
``isolate=False``), op by op, through the oracle's own adapters (TensorFlow in
``layout="NHWC"``) and with ``supports=`` saying what the framework's call cannot take
(e.g. explicit padding in ``tf.nn.max_pool2d``). Every case is one of three things:

- **agrees**: the framework's output (and gradients, by its own autodiff) equal the
  oracle's within its float64 tolerance (float32 where the framework has no float64
  kernel, said in the table);
- **differs**: the oracle's verdict and diagnosis;
- **cannot express**: outside the declared ``supports``, or the framework refused the call
  (its error is turned into ``NotImplementedError``, which the oracle counts as
  unsupported, with the framework's message).

Results are kept per framework in the JSON file with the date and the versions, so a
framework run by hand (TensorFlow, tinygrad) keeps its entry when another one is rerun;
the markdown table is rebuilt from the JSON. A second table probes TensorFlow / JAX
``padding="SAME"`` against the symmetric explicit padding of PyTorch and this course.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from spec import oracle  # noqa: E402
from spec.oracle.cases import OPS, Case  # noqa: E402

MARKDOWN = ROOT / "benchmarks" / "conformance.md"
JSON = ROOT / "benchmarks" / "conformance.json"


@dataclasses.dataclass
class Entry:
    """One op of one framework: the arrays-contract callables and what they cannot take."""

    call: str                                     # the framework's function, for the table
    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    rules: list[tuple[str, Callable[[Case], bool]]] = dataclasses.field(default_factory=list)
    layout: str = "NCHW"
    precision: str = "float64"


@dataclasses.dataclass
class Framework:
    key: str
    name: str
    packages: tuple[str, ...]
    build: Callable[[], dict[str, Entry]]
    missing: dict[str, str]                       # op -> why the framework has no such call
    env: dict[str, str] = dataclasses.field(default_factory=dict)


def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _refusal(name: str, exc: BaseException) -> NotImplementedError:
    text = re.sub(r"\{\{.*?\}\}\s*", "", str(exc)).strip()  # TensorFlow's node names
    text = text.split("Status Message: ", 1)[-1]  # ONNX Runtime's kernel message
    text = text.splitlines()[0] if text else type(exc).__name__
    return NotImplementedError(f"{name} refuses: {type(exc).__name__}: {text[:200]}")


def _guard(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A framework that raises on a case cannot express it: NotImplementedError."""
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the framework's refusal, whatever its type
            raise _refusal(name, exc) from None
    guarded.__name__ = guarded.__qualname__ = getattr(fn, "__name__", "call")
    try:
        guarded.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        pass
    return guarded


def _signed(forward: Callable, backward: Callable | None, fn: Callable
            ) -> tuple[Callable, Callable | None]:
    """Give the arrays-contract callables the parameters of the framework call ``fn``, so
    that the oracle leaves out the cases of an option the call does not take ("does not
    take ceil_mode") instead of passing it."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without one: every option is passed
        return forward, backward
    forward.__signature__ = sig  # type: ignore[attr-defined]
    if backward is not None:
        grad_out = inspect.Parameter("grad_out", inspect.Parameter.KEYWORD_ONLY)
        params = [p for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
        kwargs = [p for p in sig.parameters.values() if p.kind == p.VAR_KEYWORD]
        kinds = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                 if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty else p
                 for p in params]
        arrays = [p for p in kinds if p.kind != p.KEYWORD_ONLY]
        rest = [p for p in kinds if p.kind == p.KEYWORD_ONLY]
        backward.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[*arrays, grad_out, *rest, *kwargs])  # (a **kwargs stays last)
    return forward, backward


def _entry(name: str, call: str, forward: Callable, backward: Callable | None,
           **kwargs: Any) -> Entry:
    return Entry(call, _guard(name, forward),
                 _guard(name, backward) if backward is not None else None, **kwargs)


def _reduce_np(losses: Any, reduction: str, mean: Callable, total: Callable) -> Any:
    return losses if reduction == "none" else (mean(losses) if reduction == "mean"
                                               else total(losses))


# ------------------------------------------------------------------------------ PyTorch


def torch_entries() -> dict[str, Entry]:
    import torch
    import torch.nn.functional as TF

    def cross_entropy(logits, target, reduction="mean", weight=None, ignore_index=-100,
                      label_smoothing=0.0):
        weight = None if weight is None else torch.as_tensor(np.asarray(weight), dtype=logits.dtype)
        return TF.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index,
                                reduction=reduction, label_smoothing=label_smoothing)

    def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                         dilation=1):
        return TF.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)

    def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        return TF.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)

    def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                   count_include_pad=True, divisor_override=None):
        return TF.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                             divisor_override)

    calls = {
        "conv1d": ("torch.nn.functional.conv1d", lambda x, w, b=None, **p: TF.conv1d(x, w, b, **p)),
        "conv2d": ("torch.nn.functional.conv2d", lambda x, w, b=None, **p: TF.conv2d(x, w, b, **p)),
        "max_pool2d": ("torch.nn.functional.max_pool2d", max_pool2d),
        "avg_pool2d": ("torch.nn.functional.avg_pool2d", avg_pool2d),
        "relu": ("torch.nn.functional.relu", lambda x: TF.relu(x)),
        "softmax": ("torch.nn.functional.softmax", lambda x, axis: TF.softmax(x, dim=axis)),
        "log_softmax": ("torch.nn.functional.log_softmax",
                        lambda x, axis: TF.log_softmax(x, dim=axis)),
        "cross_entropy": ("torch.nn.functional.cross_entropy", cross_entropy),
        "linear": ("torch.nn.functional.linear", lambda x, w, b=None: TF.linear(x, w, b)),
        "conv_transpose2d": ("torch.nn.functional.conv_transpose2d", conv_transpose2d),
    }

    def tensor(a: np.ndarray, grad: bool = False) -> Any:
        t = torch.from_numpy(np.array(a))
        return t.requires_grad_(True) if grad and t.is_floating_point() else t

    def make(fn: Callable) -> tuple[Callable, Callable]:
        def forward(*arrays: np.ndarray, **params: Any) -> np.ndarray:
            with torch.no_grad():
                return fn(*[tensor(a) for a in arrays], **params).numpy()

        def backward(*arrays: np.ndarray, grad_out: np.ndarray, **params: Any) -> tuple:
            ts = [tensor(a, grad=True) for a in arrays]
            fn(*ts, **params).backward(torch.from_numpy(np.array(grad_out, dtype=np.float64)))
            return tuple(t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
                         for t in ts if t.is_floating_point())
        return forward, backward

    return {op: _entry("PyTorch", call, *_signed(*make(fn), fn))
            for op, (call, fn) in calls.items()}


# ---------------------------------------------------------------------------------- JAX


def jax_entries() -> dict[str, Entry]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    def conv(nd: int) -> Callable:
        dims = ("NCH", "OIH", "NCH") if nd == 1 else ("NCHW", "OIHW", "NCHW")

        def fn(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            s, p, d = ((v,) if nd == 1 else _pair(v) for v in (stride, padding, dilation))
            y = lax.conv_general_dilated(x, w, window_strides=s, padding=[(q, q) for q in p],
                                         rhs_dilation=d, dimension_numbers=dims,
                                         feature_group_count=groups)
            return y if b is None else y + b.reshape((1, -1) + (1,) * nd)
        return fn

    def window(x, kernel_size, stride, padding, dilation=1):
        k, s, p, d = (_pair(v) for v in (kernel_size, stride, padding, dilation))
        return dict(window_dimensions=(1, 1, *k), window_strides=(1, 1, *s),
                    padding=((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])),
                    window_dilation=(1, 1, *d))

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1):
        w = window(x, kernel_size, stride or kernel_size, padding, dilation)
        return lax.reduce_window(x, -jnp.inf, lax.max, **w)

    def avg_pool(x, kernel_size, stride=None, padding=0):
        w = window(x, kernel_size, stride or kernel_size, padding)
        kh, kw = _pair(kernel_size)
        return lax.reduce_window(x, 0.0, lax.add, **w) / (kh * kw)

    def cross_entropy(logits, target, reduction="mean"):
        picked = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=1), target[:, None], 1)
        return _reduce_np(-picked[:, 0], reduction, jnp.mean, jnp.sum)

    def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                         dilation=1):
        # the gradient form: dilate the input by the stride, correlate with the kernel
        # rotated by 180 degrees and its channel axes swapped per group
        (sh, sw), (ph, pw), (oh, ow), (dh, dw) = (_pair(v) for v in (
            stride, padding, output_padding, dilation))
        c, og, kh, kw = w.shape
        k = w.reshape(groups, c // groups, og, kh, kw).transpose(0, 2, 1, 3, 4)
        k = jnp.flip(k.reshape(groups * og, c // groups, kh, kw), axis=(2, 3))
        pads = [(dh * (kh - 1) - ph, dh * (kh - 1) - ph + oh),
                (dw * (kw - 1) - pw, dw * (kw - 1) - pw + ow)]
        y = lax.conv_general_dilated(x, k, (1, 1), pads, lhs_dilation=(sh, sw),
                                     rhs_dilation=(dh, dw), feature_group_count=groups,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y if b is None else y + b.reshape(1, -1, 1, 1)

    calls = {
        "conv1d": ("jax.lax.conv_general_dilated", conv(1)),
        "conv2d": ("jax.lax.conv_general_dilated", conv(2)),
        "max_pool2d": ("jax.lax.reduce_window(max, init -inf)", max_pool),
        "avg_pool2d": ("jax.lax.reduce_window(add) / (kh*kw)", avg_pool),
        "relu": ("jax.nn.relu", jax.nn.relu),
        "softmax": ("jax.nn.softmax", lambda x, axis: jax.nn.softmax(x, axis=axis)),
        "log_softmax": ("jax.nn.log_softmax", lambda x, axis: jax.nn.log_softmax(x, axis=axis)),
        "cross_entropy": ("-jax.nn.log_softmax picked at the target", cross_entropy),
        "linear": ("x @ w.T + b (jax.numpy)", lambda x, w, b=None: x @ w.T + (0 if b is None
                                                                          else b)),
        "conv_transpose2d": ("jax.lax.conv_general_dilated (lhs_dilation, flipped kernel)",
                             conv_transpose2d),
    }

    def make(fn: Callable) -> tuple[Callable, Callable]:
        def split(arrays):
            floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
            return floats, [jnp.asarray(a) for a in arrays]

        def call_with(arrays, floats, values, params):
            args = list(arrays)
            for i, v in zip(floats, values, strict=True):
                args[i] = v
            return fn(*args, **params)

        def forward(*arrays, **params):
            return np.asarray(fn(*[jnp.asarray(a) for a in arrays], **params))

        def backward(*arrays, grad_out, **params):
            floats, args = split(arrays)
            out, vjp = jax.vjp(lambda *v: call_with(args, floats, v, params),
                               *[args[i] for i in floats])
            return tuple(np.asarray(g) for g in vjp(jnp.asarray(grad_out, dtype=out.dtype)))
        return forward, backward

    return {op: _entry("JAX", call, *_signed(*make(fn), fn)) for op, (call, fn) in calls.items()}


# ------------------------------------------------------------------------------ tinygrad


def tinygrad_entries() -> dict[str, Entry]:
    from tinygrad import Tensor

    def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        return x.conv2d(w, b, groups=groups, stride=stride, dilation=dilation, padding=padding)

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        return x.max_pool2d(_pair(kernel_size), stride=stride or kernel_size,
                            dilation=dilation, padding=padding, ceil_mode=ceil_mode)

    def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        return x.avg_pool2d(_pair(kernel_size), stride=stride or kernel_size, padding=padding,
                            ceil_mode=ceil_mode, count_include_pad=count_include_pad)

    def cross_entropy(logits, target, reduction="mean", ignore_index=-100,
                      label_smoothing=0.0):
        # tinygrad's own default ignore_index is -1: PyTorch's -100 is passed explicitly
        return logits.sparse_categorical_crossentropy(target, ignore_index=ignore_index,
                                                      label_smoothing=label_smoothing,
                                                      reduction=reduction)

    def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1):
        return x.conv_transpose2d(w, b, groups=groups, stride=stride, dilation=dilation,
                                  padding=padding, output_padding=output_padding)

    calls = {
        "conv1d": ("Tensor.conv2d (1 spatial axis)", conv),
        "conv2d": ("Tensor.conv2d", conv),
        "max_pool2d": ("Tensor.max_pool2d", max_pool),
        "avg_pool2d": ("Tensor.avg_pool2d", avg_pool),
        "relu": ("Tensor.relu", lambda x: x.relu()),
        "softmax": ("Tensor.softmax", lambda x, axis: x.softmax(axis)),
        "log_softmax": ("Tensor.log_softmax", lambda x, axis: x.log_softmax(axis)),
        "cross_entropy": ("Tensor.sparse_categorical_crossentropy", cross_entropy),
        "linear": ("Tensor.linear(w.T, b)", lambda x, w, b=None: x.linear(w.T, b)),
        "conv_transpose2d": ("Tensor.conv_transpose2d", conv_transpose),
    }

    def make(fn: Callable) -> tuple[Callable, Callable]:
        def forward(*arrays, **params):
            return fn(*[Tensor(np.array(a)) for a in arrays], **params).numpy()

        def backward(*arrays, grad_out, **params):
            ts = [Tensor(np.array(a)) for a in arrays]
            floats = [t for t, a in zip(ts, arrays, strict=True) if a.dtype.kind == "f"]
            out = fn(*ts, **params)
            total = (out * Tensor(np.array(grad_out, dtype=np.float64))).sum()
            return tuple(g.numpy() for g in total.gradient(*floats))
        return forward, backward

    return {op: _entry("tinygrad", call, *_signed(*make(fn), fn))
            for op, (call, fn) in calls.items()}


# ---------------------------------------------------------------------------- TensorFlow


def _pool_no_padding(case: Case) -> bool:
    return max(_pair(case.params.get("padding", 0))) == 0


def _pool_no_dilation(case: Case) -> bool:
    return max(_pair(case.params.get("dilation", 1))) == 1


def tensorflow_entries() -> dict[str, Entry]:
    import tensorflow as tf

    def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        (ph, pw), s, d = _pair(padding), _pair(stride), _pair(dilation)
        y = tf.nn.conv2d(x, w, strides=[1, *s, 1], padding=[[0, 0], [ph, ph], [pw, pw], [0, 0]],
                         dilations=[1, *d, 1], data_format="NHWC")
        return y if b is None else y + b

    def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        y = conv2d(x[:, None], w[None], None, (1, stride), (0, padding), (1, dilation), groups)
        return y[:, 0] if b is None else y[:, 0] + b

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1):
        return tf.nn.max_pool2d(x, ksize=_pair(kernel_size), strides=_pair(stride or kernel_size),
                                padding="VALID")

    def avg_pool(x, kernel_size, stride=None, padding=0):
        return tf.nn.avg_pool2d(x, ksize=_pair(kernel_size), strides=_pair(stride or kernel_size),
                                padding="VALID")

    def cross_entropy(logits, target, reduction="mean"):
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
        return _reduce_np(losses, reduction, tf.reduce_mean, tf.reduce_sum)

    def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1):
        # NHWC; the oracle gives w as (KH, KW, C_out, C_in), conv2d_transpose's filter
        (sh, sw), (ph, pw), (oh, ow), (dh, dw) = (_pair(v) for v in (
            stride, padding, output_padding, dilation))
        kh, kw = w.shape[0], w.shape[1]
        n, h, wd = x.shape[0], x.shape[1], x.shape[2]
        shape = [n, (h - 1) * sh - 2 * ph + dh * (kh - 1) + oh + 1,
                 (wd - 1) * sw - 2 * pw + dw * (kw - 1) + ow + 1, w.shape[2]]
        y = tf.nn.conv2d_transpose(x, w, shape, strides=[1, sh, sw, 1],
                                   padding=[[0, 0], [ph, ph], [pw, pw], [0, 0]],
                                   dilations=[1, dh, dw, 1])
        return y if b is None else y + b

    no_padding = ("explicit padding: tf.nn.max_pool2d / avg_pool2d take only 'VALID' or "
                  "'SAME' (and 'SAME' is not symmetric padding, see below)", _pool_no_padding)
    no_dilation = ("dilation: tf.nn.max_pool2d has none", _pool_no_dilation)
    no_groups = ("groups: tf.nn.conv2d_transpose has none",
                 lambda case: case.params.get("groups", 1) == 1)
    calls = {
        "conv1d": ("tf.nn.conv2d (NHWC, height 1)", conv1d, []),
        "conv2d": ("tf.nn.conv2d (NHWC, explicit padding)", conv2d, []),
        "max_pool2d": ("tf.nn.max_pool2d (NHWC, 'VALID')", max_pool, [no_padding, no_dilation]),
        "avg_pool2d": ("tf.nn.avg_pool2d (NHWC, 'VALID')", avg_pool, [no_padding]),
        "relu": ("tf.nn.relu", tf.nn.relu, []),
        "softmax": ("tf.nn.softmax", lambda x, axis: tf.nn.softmax(x, axis=axis), []),
        "log_softmax": ("tf.nn.log_softmax", lambda x, axis: tf.nn.log_softmax(x, axis=axis),
                        []),
        "cross_entropy": ("tf.nn.sparse_softmax_cross_entropy_with_logits", cross_entropy, []),
        "linear": ("tf.matmul(x, w, transpose_b=True) + b",
                   lambda x, w, b=None: tf.matmul(x, w, transpose_b=True) + (0 if b is None
                                                                             else b), []),
        "conv_transpose2d": ("tf.nn.conv2d_transpose (NHWC, explicit padding)",
                             conv_transpose, [no_groups]),
    }

    def make(fn: Callable) -> tuple[Callable, Callable]:
        def forward(*arrays, **params):
            return fn(*[tf.constant(a) for a in arrays], **params).numpy()

        def backward(*arrays, grad_out, **params):
            ts = [tf.constant(a) for a in arrays]
            floats = [t for t, a in zip(ts, arrays, strict=True) if a.dtype.kind == "f"]
            with tf.GradientTape() as tape:
                for t in floats:
                    tape.watch(t)
                out = fn(*ts, **params)
            grads = tape.gradient(out, floats, output_gradients=tf.constant(grad_out,
                                                                              dtype=out.dtype))
            return tuple(np.zeros(t.shape) if g is None else g.numpy()
                         for t, g in zip(floats, grads, strict=True))
        return forward, backward

    from spec.oracle.adapters import IMAGE_OPS

    return {op: _entry("TensorFlow", call, *_signed(*make(fn), fn), rules=rules,
                       layout="NHWC" if op in IMAGE_OPS else "NCHW")
            for op, (call, fn, rules) in calls.items()}


# -------------------------------------------------------------------------- ONNX Runtime


def onnxruntime_entries() -> dict[str, Entry]:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions: dict[Any, Any] = {}

    def run(node_type: str, arrays: list[np.ndarray], names: list[str], attrs: dict,
            dtype: Any) -> np.ndarray:
        elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
        feeds = {}
        infos = []
        for name, a in zip(names, arrays, strict=True):
            if a.dtype.kind == "f":
                a = a.astype(dtype)
                infos.append(helper.make_tensor_value_info(name, elem, a.shape))
            else:
                a = a.astype(np.int64)
                infos.append(helper.make_tensor_value_info(name, TensorProto.INT64, a.shape))
            feeds[name] = a
        key = (node_type, tuple(infos[i].SerializeToString() for i in range(len(infos))),
               json.dumps(attrs, sort_keys=True), elem)
        if key not in sessions:
            node = helper.make_node(node_type, names, ["y"], **attrs)
            graph = helper.make_graph([node], "g", infos,
                                      [helper.make_tensor_value_info("y", elem, None)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            model.ir_version = min(model.ir_version, 9)
            sessions[key] = ort.InferenceSession(model.SerializeToString(), options,
                                                 providers=["CPUExecutionProvider"])
        return sessions[key].run(None, feeds)[0]

    def window_attrs(nd, kernel, stride, padding, dilation=None):
        k, s, p = ((v,) if nd == 1 else _pair(v) for v in (kernel, stride, padding))
        attrs = {"kernel_shape": list(k), "strides": list(s), "pads": list(p) * 2}
        if dilation is not None:
            attrs["dilations"] = list((dilation,) if nd == 1 else _pair(dilation))
        return attrs

    def conv(nd):
        def fn(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, dtype=np.float64):
            attrs = window_attrs(nd, w.shape[2:] if nd == 2 else w.shape[2], stride, padding,
                                 dilation)
            attrs["group"] = groups
            arrays = [x, w] + ([b] if b is not None else [])
            return run("Conv", arrays, ["x", "w", "b"][:len(arrays)], attrs, dtype)
        return fn

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 dtype=np.float64):
        attrs = window_attrs(2, kernel_size, stride or kernel_size, padding, dilation)
        attrs["ceil_mode"] = int(ceil_mode)
        return run("MaxPool", [x], ["x"], attrs, dtype)

    def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, dtype=np.float64):
        attrs = window_attrs(2, kernel_size, stride or kernel_size, padding)
        attrs["count_include_pad"] = int(count_include_pad)
        attrs["ceil_mode"] = int(ceil_mode)
        return run("AveragePool", [x], ["x"], attrs, dtype)

    def cross_entropy(logits, target, reduction="mean", weight=None, ignore_index=-100,
                      dtype=np.float64):
        arrays = [logits, target] + ([np.asarray(weight)] if weight is not None else [])
        return run("SoftmaxCrossEntropyLoss", arrays, ["x", "t", "w"][:len(arrays)],
                   {"reduction": reduction, "ignore_index": ignore_index}, dtype)

    def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1, dtype=np.float64):
        attrs = window_attrs(2, w.shape[2:], stride, padding, dilation)
        attrs["group"] = groups
        attrs["output_padding"] = list(_pair(output_padding))
        arrays = [x, w] + ([b] if b is not None else [])
        return run("ConvTranspose", arrays, ["x", "w", "b"][:len(arrays)], attrs, dtype)

    def linear(x, w, b=None, dtype=np.float64):
        arrays = [x, w] + ([b] if b is not None else [])
        return run("Gemm", arrays, ["x", "w", "b"][:len(arrays)], {"transB": 1}, dtype)

    calls = {
        "conv1d": ("Conv (opset 17)", conv(1)),
        "conv2d": ("Conv (opset 17)", conv(2)),
        "max_pool2d": ("MaxPool (opset 17)", max_pool),
        "avg_pool2d": ("AveragePool (opset 17, count_include_pad=1)", avg_pool),
        "relu": ("Relu", lambda x, dtype=np.float64: run("Relu", [x], ["x"], {}, dtype)),
        "softmax": ("Softmax (opset 17)", lambda x, axis, dtype=np.float64: run(
            "Softmax", [x], ["x"], {"axis": axis}, dtype)),
        "log_softmax": ("LogSoftmax (opset 17)", lambda x, axis, dtype=np.float64: run(
            "LogSoftmax", [x], ["x"], {"axis": axis}, dtype)),
        "cross_entropy": ("SoftmaxCrossEntropyLoss (opset 17)", cross_entropy),
        "linear": ("Gemm (transB=1)", linear),
        "conv_transpose2d": ("ConvTranspose (opset 17)", conv_transpose),
    }

    out = {}
    probe = {op: next(c for c in oracle.all_cases(op) if c.kind != "tie") for op in calls}
    for op, (call, fn) in calls.items():
        case = probe[op]
        try:  # a float64 kernel, or float32 (then the oracle's float32 tolerance applies)
            fn(*case.arrays.values(), **case.params)
            dtype = np.float64
        except Exception:  # noqa: BLE001 - no double kernel for this op
            dtype = np.float32

        def forward(*arrays, _fn=fn, _dtype=dtype, **params):
            return np.asarray(_fn(*arrays, dtype=_dtype, **params))
        sig = inspect.signature(fn)
        forward = _signed(forward, None, fn)[0]
        forward.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p for n, p in sig.parameters.items() if n != "dtype"])
        out[op] = _entry("ONNX Runtime", call,
                         forward, None, precision=np.dtype(dtype).name)
    return out


# ----------------------------------------------------------------------------- registry

FRAMEWORKS = {
    "torch": Framework("torch", "PyTorch", ("torch",), torch_entries, {}),
    "jax": Framework("jax", "JAX", ("jax", "jaxlib"), jax_entries, {}),
    "tinygrad": Framework("tinygrad", "tinygrad", ("tinygrad",), tinygrad_entries, {},
                          env={"DEV": "CPU"}),
    "tensorflow": Framework("tensorflow", "TensorFlow", ("tensorflow-cpu", "tensorflow"),
                            tensorflow_entries, {}),
    "onnxruntime": Framework("onnxruntime", "ONNX Runtime", ("onnxruntime", "onnx"),
                             onnxruntime_entries, {}),
}


def versions(framework: Framework) -> dict[str, str]:
    out = {}
    for package in framework.packages:
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _supports(rules: list[tuple[str, Callable[[Case], bool]]]) -> Callable[[Case], bool] | None:
    if not rules:
        return None

    def expressible(case: Case) -> bool:
        return all(test(case) for _, test in rules)
    expressible.__name__ = "; ".join(text for text, _ in rules)
    return expressible


def _check_accepts(name: str) -> bool:
    return name in inspect.signature(oracle.check).parameters


def _unsupported(report: Any, rules: list[tuple[str, Callable[[Case], bool]]]
                 ) -> dict[str, list[str]]:
    """Why each case was not run: the declared rule it breaks, or the framework's refusal."""
    reasons: dict[str, list[str]] = {}
    for u in getattr(report, "unsupported", []):
        case = getattr(u, "case", None)
        name = case.name if case is not None else u[0]
        broken = [text for text, test in rules if case is not None and not test(case)]
        for why in broken:
            reasons.setdefault(why, []).append(name)
        if not broken and getattr(u, "source", "") == "style":
            # the signature of the framework call has no such parameter
            why = (getattr(u, "reason", None) or u[1]).replace(
                "does not take", "the call takes no")
            reasons.setdefault(why, []).append(name)
        elif not broken:
            why = getattr(u, "reason", None) or u[1]
            stage = next((f"its {s} " for s in ("forward", "backward")
                          if why.startswith(f"its {s}")), "")
            why = why.split("refuses: ", 1)[-1] if "refuses: " in why else why
            why = re.sub(r"^its (forward|backward) raised ", "", why)
            for cut in (" (at ", ", got ", ". "):  # the oracle's location, the case's
                why = why.split(cut, 1)[0]          # values, all but the first sentence
            why = f"the framework refuses the call ({stage}raises): " + why.rstrip(". ")
            reasons.setdefault(why, []).append(name)
    return reasons


def _values_run(report: Any) -> str:
    """The parameter values of the cases that ran (for an oracle without Report.checked)."""
    seen: dict[str, list[Any]] = {}
    for r in report.results:
        for k, v in r.case.params.items():
            if v not in seen.setdefault(k, []):
                seen[k].append(v)
    return "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in seen.items()) or \
        f"{len(report.results)} cases (this op has no parameters)"


def run_op(framework: Framework, op: str, entry: Entry, seed: int = 0,
           timeout: float | None = 600.0) -> dict[str, Any]:
    """The oracle on one op of one framework, as a JSON-ready row."""
    kwargs: dict[str, Any] = {"seed": seed, "timeout": timeout, "layout": entry.layout}
    supports = _supports(entry.rules)
    if _check_accepts("isolate"):
        kwargs["isolate"] = False
    if supports is not None:
        if not _check_accepts("supports"):
            raise RuntimeError("spec.oracle.check has no 'supports' argument here: this "
                               "script needs the oracle with scopes (DESIGN.md's signature)")
        kwargs["supports"] = supports
    start = time.perf_counter()
    report = oracle.check(op, entry.forward, entry.backward, **kwargs)
    seconds = time.perf_counter() - start
    failed = report.failed
    differs = []
    for r in failed:
        problem = r.problems[0]
        differs.append({"case": r.case.name, "describe": r.case.describe(),
                        "stage": problem.stage, "where": problem.where,
                        "category": problem.category, "message": problem.message[:300],
                        "diagnoses": list(r.diagnoses)})
    summary = getattr(report, "checked", None) or (_values_run(report), "")
    return {
        "op": op, "call": entry.call, "layout": entry.layout, "precision": entry.precision,
        "backward": entry.backward is not None,
        "ran": len(report.results), "agrees": len(report.results) - len(failed),
        "differs": differs, "diagnoses": list(report.diagnoses),
        "cannot_express": _unsupported(report, entry.rules),
        "checked": summary[0] if isinstance(summary, tuple) else "",
        "seconds": round(seconds, 1),
    }


def run_framework(key: str, ops: tuple[str, ...] = OPS, seed: int = 0) -> dict[str, Any]:
    """Every op of one framework; raises ImportError when it is not installed."""
    framework = FRAMEWORKS[key]
    for k, v in framework.env.items():
        os.environ.setdefault(k, v)
    entries = framework.build()
    rows = []
    for op in ops:
        if op not in entries:
            rows.append({"op": op, "call": "", "missing": framework.missing.get(
                op, "no such operation"), "ran": 0, "agrees": 0, "differs": [],
                "diagnoses": [], "cannot_express": {}, "checked": ""})
            continue
        rows.append(run_op(framework, op, entries[op], seed))
    return {"framework": framework.name, "versions": versions(framework),
            "date": datetime.date.today().isoformat(), "seed": seed,
            "python": platform.python_version(), "numpy": np.__version__,
            "machine": platform.machine(), "rows": rows}


# ------------------------------------------------------------------------ SAME padding


def same_padding_probe() -> list[dict[str, Any]]:
    """TensorFlow / JAX padding="SAME" beside the symmetric padding p = (k - 1) // 2: for
    each size, kernel and stride, SAME's pads (before, after), its output size, and whether
    its values equal the symmetric padding's. Measured with JAX (SAME is XLA's, the same
    rule as TensorFlow's); the symmetric side with this project's engine."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from jax import lax

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    rng = np.random.default_rng(0)
    rows = []
    for n, k, s in [(5, 3, 1), (6, 3, 2), (7, 3, 2), (6, 2, 1), (7, 4, 2), (8, 5, 3)]:
        x = rng.integers(-4, 5, size=(1, 1, n, n)).astype(np.float64)
        w = rng.integers(-3, 4, size=(1, 1, k, k)).astype(np.float64)
        same = np.asarray(lax.conv_general_dilated(x, w, (s, s), "SAME"))
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        before, after = total // 2, total - total // 2
        p = (k - 1) // 2
        sym = F.conv2d(Tensor(x), Tensor(w), stride=s, padding=p).numpy()
        asym = F.conv2d(F.pad(Tensor(x), (before, after, before, after)), Tensor(w),
                        stride=s).numpy()
        rows.append({"n": n, "k": k, "s": s, "same_pads": [before, after],
                     "same_size": same.shape[-1], "formula_holds": bool(
                         same.shape == asym.shape and np.allclose(same, asym)),
                     "symmetric_p": p, "symmetric_size": sym.shape[-1],
                     "equal": bool(same.shape == sym.shape and np.allclose(same, sym))})
    return rows


# ---------------------------------------------------------------------------- markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def markdown(results: dict[str, Any]) -> str:
    """The committed table: one row per framework and op, then the differences."""
    lines = ["# Conformance of real frameworks", "",
             "The oracle (`spec.oracle.check`) run on each framework's own operations: "
             "**agrees** = output and gradients (the framework's autodiff) equal the "
             "oracle's in float64 (float32 where said); **differs** = the oracle's verdict "
             "and diagnosis; **cannot express** = a case the framework's call cannot take "
             "(declared, or refused by the framework). Generated by "
             "`python benchmarks/conformance.py`.", ""]
    frameworks = results.get("frameworks", {})
    lines += ["| framework | versions | measured | cases agreeing |", "|---|---|---|---|"]
    for key in FRAMEWORKS:
        if key not in frameworks:
            continue
        fw = frameworks[key]
        vers = ", ".join(f"{k} {v}" for k, v in fw["versions"].items())
        ran = sum(r["ran"] for r in fw["rows"])
        agree = sum(r["agrees"] for r in fw["rows"])
        lines.append(f"| {fw['framework']} | {vers} | {fw['date']} (Python {fw['python']}, "
                     f"NumPy {fw['numpy']}, seed {fw['seed']}) | {agree} of {ran} |")
    lines += ["", "| framework | op | call | parameters checked | agrees | differs | "
              "cannot express |", "|---|---|---|---|---|---|---|"]
    for key in FRAMEWORKS:
        if key not in frameworks:
            continue
        fw = frameworks[key]
        for r in fw["rows"]:
            if r.get("missing"):
                lines.append(f"| {fw['framework']} | `{r['op']}` | | | | | all: "
                             f"{_cell(r['missing'])} |")
                continue
            agrees = f"{r['agrees']} of {r['ran']}"
            if not r.get("backward", True):
                agrees += " (forward only)"
            if r.get("precision") == "float32":
                agrees += " (float32)"
            if r["differs"]:
                keys = sorted({k for d in r["differs"] for k in d["diagnoses"]}
                              | set(r["diagnoses"]))
                differs = (f"{len(r['differs'])}: {_names([d['case'] for d in r['differs']])}"
                           + (f"; diagnosis {', '.join(f'`{k}`' for k in keys)}" if keys
                              else f"; {r['differs'][0]['stage']} "
                                   f"{r['differs'][0]['category']}"))
            else:
                differs = ""
            cannot = "; ".join(f"{len(names)}: {why}" for why, names in
                               r["cannot_express"].items())
            lines.append(f"| {fw['framework']} | `{r['op']}` | {_cell(r['call'])} | "
                         f"{_cell(r['checked'])} | {_cell(agrees)} | {_cell(differs)} | "
                         f"{_cell(cannot)} |")
    details = []
    for key in FRAMEWORKS:
        fw = frameworks.get(key)
        for r in (fw or {}).get("rows", []):
            for d in r["differs"]:
                details.append(f"- {fw['framework']} `{r['op']}` `{d['case']}` "
                               f"({_cell(d['describe'])}): {d['stage']} {d['where']}: "
                               f"{_cell(d['message'])}"
                               + (f" Diagnosis: {', '.join(d['diagnoses'])}."
                                  if d["diagnoses"] else ""))
    if details:
        lines += ["", "## Every difference", "", *details]
    probe = results.get("same_padding")
    if probe:
        lines += ["", "## padding=\"SAME\" beside symmetric padding", "",
                  "TensorFlow's and XLA's `padding=\"SAME\"` gives `ceil(n / s)` outputs and "
                  "pads `total = max((out - 1) s + k - n, 0)`, putting `total // 2` before and "
                  "the rest after. PyTorch and this course pad `p` on both sides. Measured "
                  f"with JAX {probe['jax']} (n x n input, k x k kernel, stride s):", "",
                  "| n | k | s | SAME pads (before, after) | SAME size | formula holds | "
                  "symmetric p | its size | same values |", "|---|---|---|---|---|---|---|---|---|"]
        for row in probe["rows"]:
            lines.append(f"| {row['n']} | {row['k']} | {row['s']} | {tuple(row['same_pads'])} | "
                         f"{row['same_size']} | {'yes' if row['formula_holds'] else 'no'} | "
                         f"{row['symmetric_p']} | {row['symmetric_size']} | "
                         f"{'yes' if row['equal'] else 'no'} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated, among " + ", ".join(FRAMEWORKS))
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=JSON)
    parser.add_argument("--markdown", type=Path, default=MARKDOWN)
    parser.add_argument("--no-probe", action="store_true", help="skip the SAME padding probe")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.frameworks.split(",") if k.strip()]
    ops = tuple(o.strip() for o in args.ops.split(",") if o.strip())
    unknown = [k for k in keys if k not in FRAMEWORKS] + [o for o in ops if o not in OPS]
    if unknown:
        print(f"conformance: unknown framework or op {', '.join(unknown)}", file=sys.stderr)
        return 2
    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    results.setdefault("frameworks", {})
    for key in keys:
        try:
            entry = run_framework(key, ops, args.seed)
        except ImportError as exc:
            print(f"{FRAMEWORKS[key].name}: not installed ({exc}); its entry is kept as it was")
            continue
        results["frameworks"][key] = entry
        agree = sum(r["agrees"] for r in entry["rows"])
        print(f"{entry['framework']}: {agree} of {sum(r['ran'] for r in entry['rows'])} "
              "cases agree")
    if not args.no_probe:
        try:
            results["same_padding"] = {"jax": importlib.metadata.version("jax"),
                                       "date": datetime.date.today().isoformat(),
                                       "rows": same_padding_probe()}
        except ImportError:
            print("JAX is not installed: the SAME padding probe is kept as it was")
    args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    args.markdown.write_text(markdown(results))
    print(f"wrote {args.markdown} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
