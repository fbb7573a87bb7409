"""The oracle's cases: the documents' worked examples, edge cases, tie cases, random cases.

A case is built from a small *config* (sizes and parameters, a plain dict) and a seed, so
the shrinker can make it smaller by editing the config and building it again. The
documents' examples carry fixed arrays; their configs still describe their sizes.

Data are small integers (exact: every output and gradient is a rational number), except
the softmax family, whose cases are floats. The options added later (``NEW_OPTIONS``:
``ceil_mode``, ``count_include_pad``, ``divisor_override``; ``weight``, ``ignore_index``,
``label_smoothing``) appear only in cases of their own, which pass them with a value other
than the default; every other case is the same as before. Max pooling and ReLU cases hold distinct,
non-zero values unless the case is about ties (``kind == "tie"``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..shapes import output_size

OPS = ("conv1d", "conv2d", "max_pool2d", "avg_pool2d", "relu", "softmax", "log_softmax",
       "cross_entropy", "linear", "conv_transpose2d")  # a new op goes last (random streams)

#: options an op gained after its first cases: only the cases about an option pass it (as a
#: keyword, with a value other than its default), so a candidate written before it still
#: passes every other case (see :func:`spec.oracle.adapters.takes`)
NEW_OPTIONS = {
    "max_pool2d": ("ceil_mode",),
    "avg_pool2d": ("ceil_mode", "count_include_pad", "divisor_override"),
    "cross_entropy": ("weight", "ignore_index", "label_smoothing"),
}

KINDS = ("document", "edge", "tie", "random")


@dataclasses.dataclass
class Case:
    """One input of the oracle.

    Attributes
    ----------
    op : str
        The operation (one of :data:`OPS`).
    name : str
        A short identifier, e.g. ``"edge-stride-gt-kernel"``.
    kind : str
        ``"document"``, ``"edge"``, ``"tie"`` (a convention case) or ``"random"``.
    config : dict
        The sizes and parameters the case was built from (what the shrinker edits).
    arrays : dict of str to ndarray
        The array arguments in the order they are passed (positionally).
    params : dict
        The keyword arguments, named as in ``tinygrad_cnn.nn.functional``.
    grad_out : ndarray
        The upstream gradient passed to ``backward`` (same shape as the output).
    fd : bool
        Whether finite differences apply (False at ties and kinks, where the derivative
        is a convention).
    exact : bool
        Whether every number is an integer, so outputs and gradients are exact rationals.
    note : str
        What the case is about.
    """

    op: str
    name: str
    kind: str
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]
    params: dict[str, Any]
    grad_out: np.ndarray
    fd: bool = True
    exact: bool = True
    note: str = ""

    @property
    def differentiable(self) -> tuple[str, ...]:
        """Names of the array inputs that get a gradient (all but an integer target)."""
        return tuple(k for k in self.arrays if k != "target")

    def describe(self) -> str:
        """One line: op, array shapes and parameters."""
        shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in self.arrays.items())
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.op}({shapes}{', ' if params else ''}{params})"


# ------------------------------------------------------------------------- small helpers


def _one(v: tuple[int, ...]) -> int | tuple[int, ...]:
    """An int when every axis has the same value (what most implementations accept)."""
    return v[0] if all(x == v[0] for x in v) else tuple(v)


def expected_shape(op: str, config: dict[str, Any]) -> tuple[int, ...]:
    """The output shape, from ``spec.output_size`` (never from the engine)."""
    c = config
    if op == "conv2d":
        return (c["n"], c["o"],
                *(output_size(c[a], c[k], c["s"][i], c["p"][i], c["d"][i])
                  for i, (a, k) in enumerate((("h", "kh"), ("w", "kw")))))
    if op == "conv1d":
        return (c["n"], c["o"], output_size(c["l"], c["k"], c["s"], c["p"], c["d"]))
    if op == "conv_transpose2d":
        return (c["n"], c["o"], *(transposed_size(c[a], c[k], c["s"][i], c["p"][i], c["d"][i],
                                                  c["op"][i])
                                  for i, (a, k) in enumerate((("h", "kh"), ("w", "kw")))))
    if op in ("max_pool2d", "avg_pool2d"):
        d = c.get("d", (1, 1))
        ceil = bool(c.get("ceil"))
        return (c["n"], c["c"],
                *(output_size(c[a], c[k], c["s"][i], c["p"][i], d[i], ceil_mode=ceil)
                  for i, (a, k) in enumerate((("h", "kh"), ("w", "kw")))))
    if op in ("relu", "softmax", "log_softmax"):
        return tuple(c["shape"])
    if op == "cross_entropy":
        return (c["n"],) if c["reduction"] == "none" else ()
    if op == "linear":
        return (c["n"], c["o"])
    raise ValueError(f"unknown op {op!r}")


def transposed_size(n: int, k: int, s: int, p: int, d: int, output_padding: int) -> int:
    """Output size of a transposed convolution: ``(n - 1)s - 2p + d(k-1) + output_padding
    + 1``, the largest input size a conv2d with these parameters maps to ``n`` positions
    when ``output_padding = s - 1`` (the inverse of :func:`spec.output_size`)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1


def valid(op: str, config: dict[str, Any]) -> bool:
    """Whether a config describes a legal call (positive output sizes, divisible groups)."""
    c = config
    if any(isinstance(v, int) and not isinstance(v, bool) and v < 0
           for k, v in c.items() if k not in ("axis", "ignore")):
        return False
    if op == "conv_transpose2d":
        if c["g"] < 1 or c["c"] % c["g"] or c["o"] % c["g"] or c["n"] < 1 or c["o"] < 1:
            return False
        if min(*c["s"], *c["d"]) < 1 or min(c["p"]) < 0 or min(c["op"]) < 0:
            return False
        if any(a >= max(s, d) for a, s, d in zip(c["op"], c["s"], c["d"], strict=True)):
            return False  # output_padding must be smaller than the stride or the dilation
    if op in ("conv1d", "conv2d"):
        if c["g"] < 1 or c["c"] % c["g"] or c["o"] % c["g"] or c["n"] < 1 or c["o"] < 1:
            return False
        pairs = [c["s"], c["d"]] if op == "conv2d" else [(c["s"],), (c["d"],)]
        if any(v < 1 for pair in pairs for v in pair):
            return False
    if op in ("max_pool2d", "avg_pool2d"):
        if c["n"] < 1 or c["c"] < 1 or min(c["kh"], c["kw"]) < 1 or min(c["s"]) < 1:
            return False
        if 2 * c["p"][0] > c["kh"] or 2 * c["p"][1] > c["kw"] or min(c.get("d", (1,))) < 1:
            return False
        if c.get("div") is not None and c["div"] < 1:
            return False
    if op in ("relu", "softmax", "log_softmax") and min(c["shape"]) < 1:
        return False
    if op in ("cross_entropy", "linear") and min(c["n"], c.get("c", 1), c.get("i", 1),
                                                     c.get("o", 1)) < 1:
        return False
    if op == "cross_entropy" and "ignore" in c and c["reduction"] == "mean" \
            and c.get("ignored", 1) >= c["n"]:
        return False  # every target ignored: the mean is 0/0 (NaN), nothing to compare
    try:
        shape = expected_shape(op, config)
    except (KeyError, TypeError):
        return False
    return all(s >= 1 for s in shape)


def _ints(rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int,
          nonzero: bool = False) -> np.ndarray:
    a = rng.integers(lo, hi + 1, size=shape)
    if nonzero:
        a = np.where(a == 0, rng.choice([-1, 1], size=shape) * rng.integers(1, hi + 1, shape), a)
    return a.astype(np.float64)


def _distinct(rng: np.random.Generator, shape: tuple[int, ...], nonzero: bool = False
              ) -> np.ndarray:
    """Distinct integers centred on 0 (no ties anywhere); optionally without 0."""
    size = int(np.prod(shape))
    values = np.arange(size) - size // 2
    if nonzero:
        values = np.where(values >= 0, values + 1, values)
    return rng.permutation(values).reshape(shape).astype(np.float64)


def _asymmetric_kernel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Small integer weights that change when every kernel is rotated by 180 degrees."""
    w = _ints(rng, shape, -2, 2)
    spatial = tuple(range(2, len(shape)))
    if int(np.prod(shape[2:])) > 1:
        while (np.array_equal(w, np.flip(w, axis=spatial))
               or np.array_equal(w, -np.flip(w, axis=spatial))):
            w = _ints(rng, shape, -2, 2)
    return w


def _grad_out(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Non-zero, non-constant integers, so a backward that ignores grad_out is caught."""
    g = _ints(rng, shape, -3, 3, nonzero=True)
    if g.size == 1:
        g = np.full(shape, 2.0)
    return g


# ------------------------------------------------------------------------------ building


def build(op: str, name: str, kind: str, config: dict[str, Any], seed: int,
          arrays: dict[str, np.ndarray] | None = None, note: str = "") -> Case:
    """Make a case from a config (random data from ``seed`` unless ``arrays`` is given)."""
    rng = np.random.default_rng(seed)
    c = config
    ties = bool(c.get("ties"))
    fd = not ties
    exact = op not in ("softmax", "log_softmax", "cross_entropy")
    if op in ("conv1d", "conv2d"):
        if op == "conv2d":
            xs, ws = (c["n"], c["c"], c["h"], c["w"]), (c["o"], c["c"] // c["g"], c["kh"], c["kw"])
            params = {"stride": _one(c["s"]), "padding": _one(c["p"]),
                      "dilation": _one(c["d"]), "groups": c["g"]}
        else:
            xs, ws = (c["n"], c["c"], c["l"]), (c["o"], c["c"] // c["g"], c["k"])
            params = {"stride": c["s"], "padding": c["p"], "dilation": c["d"], "groups": c["g"]}
        if arrays is None:
            arrays = {"x": _ints(rng, xs, -3, 3), "w": _asymmetric_kernel(rng, ws)}
            if c["bias"]:
                arrays["b"] = _ints(rng, (c["o"],), -3, 3, nonzero=True)
    elif op == "conv_transpose2d":
        xs, ws = (c["n"], c["c"], c["h"], c["w"]), (c["c"], c["o"] // c["g"], c["kh"], c["kw"])
        params = {"stride": _one(c["s"]), "padding": _one(c["p"]),
                  "output_padding": _one(c["op"]), "groups": c["g"], "dilation": _one(c["d"])}
        if arrays is None:
            arrays = {"x": _ints(rng, xs, -3, 3), "w": _asymmetric_kernel(rng, ws)}
            if c["bias"]:
                arrays["b"] = _ints(rng, (c["o"],), -3, 3, nonzero=True)
    elif op in ("max_pool2d", "avg_pool2d"):
        xs = (c["n"], c["c"], c["h"], c["w"])
        params = {"kernel_size": _one((c["kh"], c["kw"])), "stride": _one(c["s"]),
                  "padding": _one(c["p"])}
        if op == "max_pool2d":
            params["dilation"] = _one(c.get("d", (1, 1)))
        if c.get("ceil"):  # the new options: only when set, as keywords
            params["ceil_mode"] = True
        if op == "avg_pool2d" and c.get("cip") is False:
            params["count_include_pad"] = False
        if op == "avg_pool2d" and c.get("div") is not None:
            params["divisor_override"] = c["div"]
        if arrays is None:
            x = _ints(rng, xs, 0, 1) if ties else _distinct(rng, xs)
            arrays = {"x": x}
    elif op == "relu":
        params = {}
        if arrays is None:
            shape = tuple(c["shape"])
            arrays = {"x": _ints(rng, shape, -1, 1) if ties else _distinct(rng, shape, True)}
    elif op in ("softmax", "log_softmax"):
        params = {"axis": c["axis"]}
        if arrays is None:
            x = rng.uniform(-3, 3, size=tuple(c["shape"])).round(3)
            if c.get("scale", 1) != 1:
                x = np.sign(x) * c["scale"] * (0.5 + np.abs(x) / 6)  # magnitudes ~1e4
            arrays = {"x": x}
    elif op == "cross_entropy":
        params = {"reduction": c["reduction"]}
        if arrays is None:
            logits = rng.uniform(-3, 3, size=(c["n"], c["c"])).round(3)
            if c.get("scale", 1) != 1:
                logits = np.sign(logits) * c["scale"] * (0.5 + np.abs(logits) / 6)
            arrays = {"logits": logits,
                      "target": rng.integers(0, c["c"], size=c["n"]).astype(np.int64)}
        _loss_options(c, params, arrays, rng)
    elif op == "linear":
        params = {}
        if arrays is None:
            arrays = {"x": _ints(rng, (c["n"], c["i"]), -3, 3),
                      "w": _ints(rng, (c["o"], c["i"]), -2, 2)}
            if c["bias"]:
                arrays["b"] = _ints(rng, (c["o"],), -3, 3, nonzero=True)
    else:
        raise ValueError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    g = _grad_out(np.random.default_rng(seed + 7919), expected_shape(op, c))
    return Case(op, name, kind, dict(config), arrays, params, g, fd=fd, exact=exact, note=note)


def _loss_options(c: dict[str, Any], params: dict[str, Any], arrays: dict[str, np.ndarray],
                  rng: np.random.Generator) -> None:
    """cross_entropy's later options, from the config: ``weights`` (class weights 1/2,
    1, 3/2, ... in a random order, passed as a tuple), ``ignore`` (the ignore_index; the
    first ``ignored`` targets are set to it) and ``smoothing`` (the label_smoothing)."""
    n, classes = c["n"], c["c"]
    if c.get("weights"):
        params["weight"] = tuple(float(v) for v in rng.permutation(classes) * 0.5 + 0.5)
    if "ignore" in c:
        params["ignore_index"] = c["ignore"]
        target = arrays["target"].copy()
        if c["ignore"] in range(classes):  # a real class: no other target is that class
            target[target == c["ignore"]] = (c["ignore"] + 1) % classes
        target[:min(c.get("ignored", 1), n)] = c["ignore"]
        arrays["target"] = target
    if c.get("smoothing"):
        params["label_smoothing"] = c["smoothing"]


# ------------------------------------------------------------- the documents' examples

DOC001_IMAGE = [[3, 5, 2, 8, 1], [9, 7, 5, 4, 3], [2, 0, 6, 1, 6], [6, 3, 7, 9, 2],
                [1, 4, 9, 5, 1]]
DOC001_FILTER = [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
DOC003_IMAGE = [[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0],
                [1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0]]
DOC003_FILTER1 = [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
DOC003_FILTER2 = [[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]]
DOC004_IMAGE = [[0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0],
                [0, 0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 1, 0], [0, 0, 1, 1, 1, 0, 0],
                [0, 0, 0, 0, 0, 0, 0]]
DOC004_DETECTOR = [[0, 0, 1], [1, 0, 0], [0, 1, 1]]


def _a(rows: Any, *lead: int) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float64)
    return a.reshape(*lead, *a.shape)


def _doc003_feature_maps() -> np.ndarray:
    """The 2 x 4 x 4 output of filters 1 and 2 on the 6 x 6 image (stride 1), by windows."""
    win = np.lib.stride_tricks.sliding_window_view(_a(DOC003_IMAGE), (3, 3))
    return np.stack([np.einsum("ijpq,pq->ij", win, _a(f))
                     for f in (DOC003_FILTER1, DOC003_FILTER2)])[None]


def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _conv_cfg(n: int = 1, c: int = 1, h: int = 5, w: int = 5, o: int = 1, kh: int = 3,
              kw: int = 3, s: Any = 1, p: Any = 0, d: Any = 1, g: int = 1,
              bias: bool = True) -> dict[str, Any]:
    return {"n": n, "c": c, "h": h, "w": w, "o": o, "kh": kh, "kw": kw, "s": _pair(s),
            "p": _pair(p), "d": _pair(d), "g": g, "bias": bias}


def _pool_cfg(n: int = 1, c: int = 1, h: int = 4, w: int = 4, kh: int = 2, kw: int = 2,
              s: Any = 2, p: Any = 0, d: Any = 1, ties: bool = False,
              max_pool: bool = True, ceil: bool = False, cip: bool = True,
              div: int | None = None) -> dict[str, Any]:
    cfg = {"n": n, "c": c, "h": h, "w": w, "kh": kh, "kw": kw, "s": _pair(s), "p": _pair(p)}
    if max_pool:
        cfg["d"] = _pair(d)
    if ties:
        cfg["ties"] = True
    if ceil:  # the later options, only when set (the older configs stay as they were)
        cfg["ceil"] = True
    if not cip:
        cfg["cip"] = False
    if div is not None:
        cfg["div"] = div
    return cfg


def _tconv_cfg(n: int = 1, c: int = 1, h: int = 3, w: int = 3, o: int = 1, kh: int = 3,
               kw: int = 3, s: Any = 1, p: Any = 0, d: Any = 1, op: Any = 0, g: int = 1,
               bias: bool = True) -> dict[str, Any]:
    """A transposed convolution: ``c`` input channels, ``o`` output channels, weights
    (c, o/g, kh, kw); ``op`` is the output_padding."""
    return {"n": n, "c": c, "h": h, "w": w, "o": o, "kh": kh, "kw": kw, "s": _pair(s),
            "p": _pair(p), "d": _pair(d), "op": _pair(op), "g": g, "bias": bias}


def document_cases(op: str) -> list[Case]:
    """The worked examples of the course documents (seeds 001, 003 and 004)."""
    out: list[Case] = []
    if op == "conv2d":
        out.append(build(op, "doc001-5x5-filter-3x3", "document",
                         _conv_cfg(h=5, w=5, bias=False), 1,
                         {"x": _a(DOC001_IMAGE, 1, 1), "w": _a(DOC001_FILTER, 1, 1)},
                         "course document 001: 5x5 input feature map, 3x3 filter, stride 1"))
        filters = np.stack([_a(DOC003_FILTER1), _a(DOC003_FILTER2)])[:, None]
        for s in (1, 2):
            out.append(build(op, f"doc003-6x6-filters-1-2-stride-{s}", "document",
                             _conv_cfg(h=6, w=6, o=2, s=s, bias=False), 3,
                             {"x": _a(DOC003_IMAGE, 1, 1), "w": filters},
                             f"course document 003: 6x6 image, filters 1 and 2, stride {s}"))
        out.append(build(op, "doc004-7x7-feature-detector", "document",
                         _conv_cfg(h=7, w=7, bias=False), 4,
                         {"x": _a(DOC004_IMAGE, 1, 1), "w": _a(DOC004_DETECTOR, 1, 1)},
                         "course document 004: 7x7 input image, 3x3 feature detector, stride 1"))
    elif op == "conv_transpose2d":
        # the backprop page: dL/dx of document 001's convolution for dL/dy = 1 everywhere is
        # the transposed convolution of a 3x3 block of ones with its filter
        out.append(build(op, "doc001-input-gradient-of-the-convolution", "document",
                         _tconv_cfg(h=3, w=3, bias=False), 1,
                         {"x": np.ones((1, 1, 3, 3)), "w": _a(DOC001_FILTER, 1, 1)},
                         "course document 001's convolution backwards: dL/dx of the 5x5 "
                         "input for dL/dy = 1 on the 3x3 output"))
        filters = np.stack([_a(DOC003_FILTER1), _a(DOC003_FILTER2)])[:, None]
        out.append(build(op, "doc003-input-gradient-stride-2", "document",
                         _tconv_cfg(h=2, w=2, c=2, s=2, op=1, bias=False), 3,
                         {"x": _a([[[1, 2], [3, 4]], [[-1, 1], [2, -2]]], 1), "w": filters},
                         "course document 003's stride-2 convolution (6x6 image, filters 1 "
                         "and 2) backwards: a 2x2 map per filter back to 6x6, "
                         "output_padding 1 (5x5 inputs map to 2x2 too)"))
    elif op in ("max_pool2d", "avg_pool2d"):
        mp = op == "max_pool2d"  # equal values are a tie for max pooling only
        note = ("course document 003: 2x2 pooling of the two 4x4 feature maps of its "
                "filters 1 and 2")
        out.append(build(op, "doc003-2x2-pooling-of-feature-maps", "document",
                         _pool_cfg(c=2, ties=mp, max_pool=mp), 3, {"x": _doc003_feature_maps()},
                         note + (" (filter 2's map has a window of four equal values: a tie)"
                                 if mp else "")))
    return out


# ------------------------------------------------------------------------ edge cases


def _edge_configs(op: str) -> list[tuple[str, dict[str, Any], str]]:
    if op == "conv2d":
        return [
            ("kernel-as-large-as-input", _conv_cfg(h=3, w=3), "a 3x3 kernel on a 3x3 input"),
            ("stride-gt-kernel", _conv_cfg(h=8, w=8, kh=2, kw=2, s=3), "stride 3, kernel 2"),
            ("windows-do-not-tile", _conv_cfg(h=6, w=7, s=2),
             "6x7 input, kernel 3, stride 2: the last row / column is never covered"),
            ("padding-1", _conv_cfg(h=4, w=4, p=1), "padding 1"),
            ("padding-k-minus-1", _conv_cfg(h=3, w=4, p=2), "padding 2 = k - 1 (full)"),
            ("padding-stride", _conv_cfg(h=5, w=5, s=2, p=1, c=2, o=2), "padding 1, stride 2"),
            ("dilation-2", _conv_cfg(h=6, w=7, kh=2, kw=3, d=2), "dilation 2"),
            ("dilation-padding", _conv_cfg(h=5, w=5, d=2, p=2, c=2), "dilation 2, padding 2"),
            ("groups-2", _conv_cfg(h=4, w=4, c=4, o=4, kh=2, kw=2, g=2), "groups 2"),
            ("groups-2-wide", _conv_cfg(h=4, w=4, c=2, o=4, kh=2, kw=2, g=2),
             "groups 2, two output channels per group"),
            ("depthwise", _conv_cfg(h=4, w=4, c=3, o=3, kh=2, kw=2, g=3), "depthwise (C=O=G)"),
            ("batch-2-channels-3", _conv_cfg(n=2, c=3, o=2, h=4, w=5, kh=2, kw=2),
             "a batch of 2, 3 input channels"),
            ("kernel-1x1", _conv_cfg(c=3, o=2, h=3, w=3, kh=1, kw=1), "1x1 kernel"),
            ("kernel-2x3", _conv_cfg(h=4, w=5, kh=2, kw=3), "non-square 2x3 kernel"),
            ("kernel-3x1-stride-pair", _conv_cfg(h=5, w=4, kh=3, kw=1, s=(1, 2), p=(0, 1)),
             "3x1 kernel, stride (1, 2), padding (0, 1)"),
            ("no-bias", _conv_cfg(h=4, w=4, c=2, o=2, bias=False), "no bias (b not passed)"),
        ]
    if op == "conv1d":
        c1 = (lambda n=1, c=1, l=6, o=1, k=3, s=1, p=0, d=1, g=1, bias=True:  # noqa: E731
              {"n": n, "c": c, "l": l, "o": o, "k": k, "s": s, "p": p, "d": d, "g": g,
               "bias": bias})
        return [
            ("kernel-as-large-as-input", c1(l=3), "kernel 3 on length 3"),
            ("stride-gt-kernel", c1(l=9, k=2, s=3), "stride 3, kernel 2"),
            ("windows-do-not-tile", c1(l=8, s=2), "length 8, kernel 3, stride 2"),
            ("padding-k-minus-1", c1(l=4, p=2), "padding 2 = k - 1"),
            ("dilation-2", c1(l=7, d=2, p=1), "dilation 2, padding 1"),
            ("groups-2", c1(c=4, o=2, g=2, l=5, k=2), "groups 2"),
            ("depthwise", c1(c=3, o=3, g=3, l=5, k=2), "depthwise"),
            ("batch-2", c1(n=2, c=2, o=3, l=5), "a batch of 2"),
            ("kernel-1", c1(c=2, o=2, l=4, k=1), "kernel of size 1"),
            ("no-bias", c1(c=2, o=2, bias=False), "no bias (b not passed)"),
        ]
    if op == "conv_transpose2d":
        t = _tconv_cfg
        return [
            ("stride-1", t(), "stride 1: the 'full' convolution with the flipped kernel"),
            ("stride-2", t(h=3, w=3, s=2), "stride 2: one zero between input elements"),
            ("output-padding-1", t(h=3, w=3, s=2, op=1),
             "stride 2, output_padding 1: one more row and column at the end"),
            ("stride-pair-output-padding-pair", t(h=2, w=3, kh=2, kw=3, s=(2, 3), op=(1, 2)),
             "stride (2, 3), output_padding (1, 2)"),
            ("padding-1", t(h=3, w=4, s=2, p=1), "stride 2, padding 1 (crops the output)"),
            ("padding-2", t(h=4, w=4, p=2), "padding 2 = k - 1: as large as the input"),
            ("dilation-2", t(h=3, w=3, d=2), "dilation 2"),
            ("output-padding-dilation", t(h=3, w=3, kh=2, kw=2, d=2, op=1),
             "stride 1, dilation 2, output_padding 1 (smaller than the dilation)"),
            ("channels-2-to-3", t(c=2, o=3, h=2, w=3, kh=2, kw=2, s=2),
             "2 input channels, 3 output channels: weights (C_in, C_out, KH, KW)"),
            ("channels-2-to-2", t(c=2, o=2, h=3, w=3, kh=2, kw=2, s=2),
             "2 input and 2 output channels"),
            ("groups-2", t(c=4, o=2, g=2, h=2, w=2, kh=2, kw=2, s=2), "groups 2"),
            ("groups-2-wide", t(c=2, o=4, g=2, h=2, w=3, kh=2, kw=2),
             "groups 2, two output channels per group"),
            ("kernel-1x1-stride-2", t(c=2, o=2, h=3, w=3, kh=1, kw=1, s=2),
             "1x1 kernel, stride 2: input elements spread apart, zeros between"),
            ("kernel-2x3", t(h=3, w=2, kh=2, kw=3), "non-square 2x3 kernel"),
            ("batch-2", t(n=2, c=2, o=1, h=2, w=2, kh=2, kw=2, s=2), "a batch of 2"),
            ("no-bias", t(c=2, o=2, h=2, w=2, s=2, bias=False), "no bias (b not passed)"),
        ]
    if op in ("max_pool2d", "avg_pool2d"):
        mp = op == "max_pool2d"
        cfgs = [
            ("kernel-as-large-as-input", _pool_cfg(h=3, w=3, kh=3, kw=3, s=1, max_pool=mp),
             "a 3x3 window on a 3x3 input"),
            ("stride-gt-kernel", _pool_cfg(h=7, w=7, s=3, max_pool=mp), "kernel 2, stride 3"),
            ("windows-do-not-tile", _pool_cfg(h=5, w=7, max_pool=mp),
             "5x7 input, kernel 2, stride 2: the last row / column is left out"),
            ("overlapping", _pool_cfg(h=4, w=5, kh=3, kw=3, s=1, max_pool=mp),
             "kernel 3, stride 1: windows overlap, gradients add up"),
            ("padding-1", _pool_cfg(h=4, w=4, kh=3, kw=3, s=2, p=1, max_pool=mp),
             "kernel 3, stride 2, padding 1"),
            ("padding-kernel-2", _pool_cfg(h=3, w=5, p=1, max_pool=mp),
             "kernel 2, stride 2, padding 1"),
            ("batch-2-channels-2", _pool_cfg(n=2, c=2, h=4, w=4, max_pool=mp),
             "a batch of 2, 2 channels"),
            ("kernel-1x1", _pool_cfg(h=3, w=3, kh=1, kw=1, s=1, max_pool=mp), "1x1 window"),
            ("kernel-2x3", _pool_cfg(h=4, w=6, kh=2, kw=3, s=(2, 3), max_pool=mp),
             "non-square 2x3 window, stride (2, 3)"),
            ("stride-pair", _pool_cfg(h=5, w=5, kh=2, kw=2, s=(1, 2), max_pool=mp),
             "stride (1, 2)"),
        ]
        if mp:
            cfgs.append(("dilation-2", _pool_cfg(h=5, w=6, s=1, d=2), "dilation 2"))
        return cfgs + _pool_option_configs(mp)
    if op == "relu":
        return [("vector", {"shape": (7,)}, "a 1-D input"),
                ("nchw", {"shape": (2, 2, 3, 3)}, "a 4-D input")]
    if op in ("softmax", "log_softmax"):
        return [
            ("rows", {"shape": (3, 5), "axis": -1}, "3 rows of 5 logits, axis -1"),
            ("axis-0", {"shape": (4, 3), "axis": 0}, "along axis 0"),
            ("axis-1-of-3d", {"shape": (2, 3, 2), "axis": 1}, "a 3-D input, axis 1"),
            ("large-logits", {"shape": (2, 4), "axis": -1, "scale": 1e4},
             "logits of about +-1e4: exp overflows without the max shift"),
            ("one-class", {"shape": (3, 1), "axis": -1}, "a single class"),
        ]
    if op == "cross_entropy":
        return [
            ("mean", {"n": 4, "c": 3, "reduction": "mean"}, "reduction='mean' (the default)"),
            ("sum", {"n": 3, "c": 4, "reduction": "sum"}, "reduction='sum'"),
            ("none", {"n": 3, "c": 3, "reduction": "none"}, "reduction='none'"),
            ("batch-of-one", {"n": 1, "c": 5, "reduction": "mean"}, "a batch of one"),
            ("large-logits", {"n": 3, "c": 4, "reduction": "mean", "scale": 1e4},
             "logits of about +-1e4"),
            ("one-class", {"n": 2, "c": 1, "reduction": "mean"}, "a single class: loss 0"),
            *_loss_option_configs(),
        ]
    if op == "linear":
        return [
            ("bias", {"n": 3, "i": 4, "o": 2, "bias": True}, "3 samples, 4 -> 2"),
            ("square", {"n": 2, "i": 3, "o": 3, "bias": True}, "a square weight"),
            ("no-bias", {"n": 2, "i": 3, "o": 4, "bias": False}, "no bias (b not passed)"),
            ("batch-of-one", {"n": 1, "i": 1, "o": 1, "bias": True}, "one sample, one feature"),
        ]
    raise ValueError(f"unknown op {op!r}")


def _pool_option_configs(mp: bool) -> list[tuple[str, dict[str, Any], str]]:
    """The cases of ceil_mode (both poolings), count_include_pad and divisor_override
    (average pooling): each sets its option to a value other than the default."""
    p = functools.partial(_pool_cfg, max_pool=mp)
    cfgs = [
        ("ceil-mode", p(h=5, w=5, ceil=True),
         "ceil_mode: 5x5 input, kernel 2, stride 2: a last, partial window on each axis"),
        ("ceil-mode-overlapping", p(h=6, w=5, kh=3, kw=3, s=2, ceil=True),
         "ceil_mode, kernel 3, stride 2: overlapping windows, the last one partial"),
        ("ceil-mode-last-window-in-padding", p(h=5, w=5, s=2, p=1, ceil=True),
         "ceil_mode, padding 1: a last window would start in the right padding, so it is "
         "dropped (PyTorch's rule): the size is the floor size here"),
        ("ceil-mode-padding", p(h=4, w=6, kh=3, kw=3, s=2, p=1, ceil=True),
         "ceil_mode, kernel 3, stride 2, padding 1: the last window starts in the input"),
    ]
    if not mp:
        cfgs += [
            ("count-include-pad-false", p(h=4, w=4, kh=3, kw=3, s=2, p=1, cip=False),
             "count_include_pad=False: a border window divides by its input cells only"),
            ("count-include-pad-false-ceil", p(h=5, w=4, kh=2, kw=3, s=2, p=1, ceil=True,
                                               cip=False),
             "count_include_pad=False with ceil_mode"),
            ("divisor-override", p(h=4, w=5, s=2, div=3),
             "divisor_override=3: every window's sum divided by 3"),
            ("divisor-override-padding", p(h=3, w=3, kh=3, kw=3, s=1, p=1, div=4),
             "divisor_override=4 with padding 1 (the count is never used)"),
        ]
    return cfgs


def _loss_option_configs() -> list[tuple[str, dict[str, Any], str]]:
    """The cases of cross_entropy's weight, ignore_index and label_smoothing."""
    return [
        ("class-weights", {"n": 5, "c": 3, "reduction": "mean", "weights": True},
         "class weights: the mean divides by the sum of the targets' weights"),
        ("class-weights-sum", {"n": 4, "c": 4, "reduction": "sum", "weights": True},
         "class weights, reduction='sum'"),
        ("class-weights-none", {"n": 3, "c": 3, "reduction": "none", "weights": True},
         "class weights, reduction='none'"),
        ("ignore-index", {"n": 5, "c": 3, "reduction": "mean", "ignore": -1, "ignored": 2},
         "ignore_index=-1 on 2 of 5 targets: they add nothing and are not counted"),
        ("ignore-index-a-class", {"n": 4, "c": 3, "reduction": "mean", "ignore": 1},
         "ignore_index=1, a real class: targets of class 1 are ignored"),
        ("ignore-index-none", {"n": 4, "c": 3, "reduction": "none", "ignore": -1},
         "ignore_index with reduction='none': an ignored target's loss is 0"),
        ("ignore-index-weights", {"n": 5, "c": 4, "reduction": "mean", "ignore": -1,
                                  "ignored": 2, "weights": True},
         "ignore_index and class weights: divide by the kept targets' weights"),
        ("ignore-index-all-sum", {"n": 3, "c": 3, "reduction": "sum", "ignore": -1,
                                  "ignored": 3},
         "every target ignored, reduction='sum': loss 0, no gradient"),
        ("label-smoothing", {"n": 4, "c": 3, "reduction": "mean", "smoothing": 0.1},
         "label_smoothing=0.1: the target is 0.9 one-hot + 0.1 uniform"),
        ("label-smoothing-weights", {"n": 4, "c": 4, "reduction": "mean", "smoothing": 0.2,
                                     "weights": True},
         "label_smoothing=0.2 with class weights"),
        ("label-smoothing-ignore-none", {"n": 4, "c": 3, "reduction": "none",
                                         "smoothing": 0.3, "ignore": -1},
         "label_smoothing, ignore_index, reduction='none'"),
    ]


def edge_cases(op: str) -> list[Case]:
    """Boundary shapes and parameters (each builds with its own fixed seed)."""
    configs = _edge_configs(op)
    if op in ("max_pool2d", "avg_pool2d"):  # after the others: their seeds stay as they were
        # a non-square window with one stride for both axes: the only non-square window
        # the styles with a single stride (cs231n's pool_param, a Pooling layer) can take
        configs = configs + [("kernel-3x2-stride-1",
                              _pool_cfg(h=4, w=5, kh=3, kw=2, s=1, max_pool=op == "max_pool2d"),
                              "non-square 3x2 window, stride 1")]
    return [build(op, f"edge-{name}", "edge", cfg, 100 + i, note=note)
            for i, (name, cfg, note) in enumerate(configs)]


# ------------------------------------------------------------------- ties (conventions)


def tie_cases(op: str) -> list[Case]:
    """Where the derivative is a convention: max ties (PyTorch: the first max in row-major
    order of the window gets all of the gradient) and ReLU at 0 (relu'(0) = 0)."""
    if op == "max_pool2d":
        first_last = np.array([[1, 3, 0, 3], [3, 2, 1, 2]], dtype=np.float64)[None, None]
        return [
            build(op, "tie-first-max-gets-gradient", "tie", _pool_cfg(h=2, w=4, ties=True), 0,
                  {"x": first_last}, "two equal maxima in each window: the first one wins"),
            build(op, "tie-all-equal-window", "tie", _pool_cfg(h=2, w=2, ties=True), 0,
                  {"x": np.full((1, 1, 2, 2), 5.0)}, "a window of four equal values"),
            build(op, "tie-overlapping-windows", "tie",
                  _pool_cfg(h=4, w=4, kh=3, kw=3, s=1, ties=True), 11,
                  note="0/1 values in overlapping windows: many ties"),
            build(op, "tie-padding", "tie",
                  _pool_cfg(h=4, w=4, kh=3, kw=3, s=2, p=1, ties=True), 12,
                  note="0/1 values with padding (-inf never wins)"),
        ]
    if op == "relu":
        return [build(op, "tie-relu-at-zero", "tie", {"shape": (3, 4), "ties": True}, 5,
                      note="values -1, 0, 1: relu'(0) = 0 (PyTorch)")]
    return []


# ----------------------------------------------------------------------- random cases


def _random_config(op: str, rng: np.random.Generator) -> dict[str, Any]:
    def r(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    if op == "conv2d":
        g = r(1, 2)
        return _conv_cfg(n=r(1, 2), c=g * r(1, 2), o=g * r(1, 2), h=r(3, 7), w=r(3, 7),
                         kh=r(1, 3), kw=r(1, 3), s=(r(1, 3), r(1, 3)), p=(r(0, 2), r(0, 2)),
                         d=(r(1, 2), r(1, 2)), g=g, bias=bool(r(0, 1)))
    if op == "conv_transpose2d":
        g = r(1, 2)
        s, d = (r(1, 3), r(1, 3)), (r(1, 2), r(1, 2))
        return _tconv_cfg(n=r(1, 2), c=g * r(1, 2), o=g * r(1, 2), h=r(1, 4), w=r(1, 4),
                          kh=r(1, 3), kw=r(1, 3), s=s, p=(r(0, 2), r(0, 2)), d=d,
                          op=tuple(r(0, max(a, b) - 1) for a, b in zip(s, d, strict=True)),
                          g=g, bias=bool(r(0, 1)))
    if op == "conv1d":
        g = r(1, 2)
        return {"n": r(1, 2), "c": g * r(1, 2), "o": g * r(1, 2), "l": r(3, 9), "k": r(1, 4),
                "s": r(1, 3), "p": r(0, 2), "d": r(1, 2), "g": g, "bias": bool(r(0, 1))}
    if op in ("max_pool2d", "avg_pool2d"):
        kh, kw = r(1, 3), r(1, 3)
        return _pool_cfg(n=r(1, 2), c=r(1, 2), h=r(2, 7), w=r(2, 7), kh=kh, kw=kw,
                         s=(r(1, 3), r(1, 3)), p=(r(0, kh // 2), r(0, kw // 2)),
                         d=(r(1, 2), r(1, 2)), max_pool=op == "max_pool2d")
    if op == "relu":
        return {"shape": tuple(r(1, 4) for _ in range(r(1, 4)))}
    if op in ("softmax", "log_softmax"):
        shape = tuple(r(1, 5) for _ in range(r(1, 3)))
        return {"shape": shape, "axis": r(-len(shape), len(shape) - 1)}
    if op == "cross_entropy":
        return {"n": r(1, 5), "c": r(2, 6),
                "reduction": ("mean", "sum", "none")[r(0, 2)]}
    if op == "linear":
        return {"n": r(1, 4), "i": r(1, 5), "o": r(1, 4), "bias": bool(r(0, 1))}
    raise ValueError(f"unknown op {op!r}")


def random_cases(op: str, seed: int = 0, count: int = 4) -> list[Case]:
    """``count`` valid random configs with random data, reproducible from ``seed``."""
    rng = np.random.default_rng([seed, OPS.index(op)])
    out: list[Case] = []
    while len(out) < count:
        cfg = _random_config(op, rng)
        if valid(op, cfg):
            out.append(build(op, f"random-{len(out)}", "random", cfg,
                             int(rng.integers(2**31)), note="random sizes and data"))
    return out


def all_cases(op: str, seed: int = 0) -> list[Case]:
    """Every case for ``op``: documents, edge cases, ties, then random cases."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    return document_cases(op) + edge_cases(op) + tie_cases(op) + random_cases(op, seed)


# --------------------------------------------------------------------------- shrinking


def _smaller(key: str, value: Any, minimum: int) -> Iterator[Any]:
    if isinstance(value, bool):
        if value:
            yield False
    elif isinstance(value, int):
        if value > minimum:
            yield minimum
            if value - 1 > minimum:
                yield value - 1
    elif isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        for i, v in enumerate(value):
            for smaller in _smaller(key, v, minimum):
                yield value[:i] + (smaller,) + value[i + 1:]


_MINIMUM = {"p": 0, "op": 0, "axis": -99, "scale": 1, "ties": 1}


def shrink_moves(op: str, config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Valid configs one step smaller than ``config`` (sizes, batch, ignored targets,
    channels, kernel, stride, padding, dilation, output_padding, groups, bias). The later
    options themselves (ceil_mode, weights, ...) are kept: the case stays about them."""
    order = ["n", "ignored", "c", "o", "g", "h", "w", "l", "i", "kh", "kw", "k", "s", "p", "d",
             "op", "bias", "shape"]
    for key in order:
        if key not in config:
            continue
        for value in _smaller(key, config[key], _MINIMUM.get(key, 1)):
            new = dict(config, **{key: value})
            if key == "g":  # keep channels per group: shrink groups with the channels
                per_c, per_o = config["c"] // config["g"], config["o"] // config["g"]
                new.update(c=per_c * value, o=per_o * value)
            if valid(op, new):
                yield new
