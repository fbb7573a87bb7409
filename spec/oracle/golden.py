"""Language-neutral golden files: the oracle's cases as JSON (format version 2).

``export(DIR)`` writes one file per op (``conv2d.json``, ...), ``INDEX.json`` (the
generator's version and commit, the sha256 of every file, the compatibility policy),
``golden.schema.json`` (a JSON Schema every case file validates against), the reference
runners ``golden_runner.c`` (with ``golden.h``) and ``golden_runner.js``, and a
``README.md`` that explains every field to someone who does not read Python.

Per case: the inputs, ``grad_out`` (the vector of the vector-Jacobian product), the
expected output and gradients, a ``compare`` rule for float64 and for float32 results,
``tags`` saying what the case exercises, and ``mutants``: the output or gradients of each
classic mistake the oracle knows that changes this case, so that any runner can name the
mistake ("your dL/dw equals the 'weight-gradient-transposed' mutant").

Encoding of a float tensor (``"encoding"``): ``"rational"``, every element an exact
rational as a string ``"p"`` or ``"p/q"`` (reduced, ``q > 1``); or ``"float"``, every
element a JSON number (float64, shortest round-trip form, ``-0.0`` kept) or one of the
strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. Integer tensors (``int64``) hold JSON
integers. A scalar has ``shape`` ``[]`` and one element. Version 1 files are not read any
more (:func:`load` says so); export again.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .cases import OPS, Case, all_cases, expected_shape
from .reference import TEXT, engine, variants

SCHEMA = "tinygrad_cnn.oracle.golden"
VERSION = 2

#: the reference runners shipped in every export (C99 with its header, and Node)
RUNNERS = Path(__file__).parent / "runners"
RUNNER_FILES = ("golden.h", "golden_runner.c", "golden_runner.js")

#: float64 rule for exact cases: the expected values are exact rationals, which a float64
#: result meets up to rounding (1/9 is not a float64 number)
EXACT_FLOAT64 = {"rtol": 1e-12, "atol": 1e-12}
#: float64 rule for the other cases (the Python oracle's)
FLOAT64 = {"rtol": 1e-7, "atol": 1e-9}
#: float32 rule for every case (inputs rounded to float32, computed in float32)
FLOAT32 = {"rtol": 1e-4, "atol": 1e-5}

COMPATIBILITY = (
    "The file format has one version number, 'version' (2). A reader written for version 2 "
    "reads every file that says version 2: later exports of version 2 may add keys (a "
    "reader ignores keys it does not know), new cases, tags, mutant keys and ops, but "
    "never change the meaning of a key or remove one. Any such change increases 'version'; "
    "a reader must refuse a version it was not written for. Version 1 (no 'compare', "
    "'tags', 'mutants' or 'encoding'; exact cases without a tolerance) is not written or "
    "read any more.")

SIGNATURES = {
    "conv1d": "conv1d(x[N, C, L], w[O, C/groups, K], b[O]?, stride, padding, dilation, groups)",
    "conv2d": "conv2d(x[N, C, H, W], w[O, C/groups, KH, KW], b[O]?, stride, padding, "
              "dilation, groups)",
    "conv_transpose2d": "conv_transpose2d(x[N, C, H, W], w[C, O/groups, KH, KW], b[O]?, "
                        "stride, padding, output_padding, groups, dilation)",
    "max_pool2d": "max_pool2d(x[N, C, H, W], kernel_size, stride, padding, dilation, "
                  "ceil_mode?)",
    "avg_pool2d": "avg_pool2d(x[N, C, H, W], kernel_size, stride, padding, ceil_mode?, "
                  "count_include_pad?, divisor_override?)",
    "relu": "relu(x)",
    "softmax": "softmax(x, axis)",
    "log_softmax": "log_softmax(x, axis)",
    "cross_entropy": "cross_entropy(logits[N, C], target[N] int64, reduction, weight[C]?, "
                     "ignore_index?, label_smoothing?)",
    "linear": "linear(x[N, in], w[out, in], b[out]?)",
}

CONVENTIONS = [
    "NCHW layout, weights OIHW; convolution is cross-correlation (no kernel flip)",
    "out = floor((n + 2p - d(k-1) - 1) / s) + 1 on every spatial axis",
    "stride, padding, dilation, kernel_size: an integer for both axes, or [h, w]",
    "b absent from 'inputs' means no bias",
    "max pooling pads with -infinity; a tie sends the whole gradient to the first maximum "
    "in row-major order of the window (PyTorch)",
    "average pooling divides by kh*kw, padding included (PyTorch's count_include_pad=True)",
    "relu'(0) = 0",
    "softmax, log_softmax: along 'axis'; a negative axis counts from the end (-1 is the "
    "last axis)",
    "cross_entropy: target holds class indices; reduction 'mean' divides by N, 'sum' adds, "
    "'none' returns the N losses; the target gets no gradient",
    "conv_transpose2d: the adjoint of conv2d, weights (C_in, C_out/groups, KH, KW); "
    "y[n, g*O/G + o, i*s + p*d - pad, j*s + q*d - pad] += x[n, g*C/G + c, i, j] * "
    "w[g*C/G + c, o, p, q]; out = (n - 1)s - 2p + d(k-1) + output_padding + 1",
    "ceil_mode (pooling): out = ceil((n + 2p - d(k-1) - 1) / s) + 1, one less when that last "
    "window would start at or after n + p (in the right padding); a window's part past the "
    "padded input is never counted",
    "count_include_pad=false (avg_pool2d): a window divides by the input cells it covers; "
    "divisor_override=D: every window divides by D",
    "cross_entropy weight: loss_n = w[target[n]] * -log p[n, target[n]]; 'mean' divides by "
    "the sum of w[target[n]] over the targets not ignored; ignore_index: such targets add 0 "
    "and are not counted; label_smoothing e: the target distribution is (1 - e) one-hot + "
    "e / C, each class c weighted by w[c] (PyTorch)",
]

_RATIONAL = re.compile(r"^-?(0|[1-9][0-9]*)(/[1-9][0-9]*)?$")
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# ---------------------------------------------------------------------------- encoding


def rational(v: Any) -> str:
    """An exact number as ``"p"`` or ``"p/q"`` (reduced)."""
    f = Fraction(v)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _float(v: float) -> float | str:
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def tensor(a: Any, dtype: str = "float64", exact: bool = False) -> dict[str, Any]:
    """A tensor in the golden encoding: ``exact=True`` for an array of exact numbers
    (Fractions or integers: encoding "rational"); float64 values otherwise (encoding
    "float"); ``dtype="int64"`` for integers (no encoding)."""
    arr = np.asarray(a)
    flat = arr.reshape(-1)
    doc: dict[str, Any] = {"shape": list(arr.shape), "dtype": dtype}
    if dtype == "int64":
        return {**doc, "data": [int(v) for v in flat]}
    if exact:
        return {**doc, "encoding": "rational", "data": [rational(v) for v in flat]}
    return {**doc, "encoding": "float", "data": [_float(v) for v in flat]}


def decode(t: dict[str, Any], exact: bool = False) -> np.ndarray:
    """A golden tensor as an ndarray: float64 (int64 for an integer tensor), or Fractions
    (an object array) with ``exact=True`` (rational tensors only)."""
    shape = tuple(t["shape"])
    if t["dtype"] == "int64":
        return np.asarray(t["data"], dtype=np.int64).reshape(shape)
    if t.get("encoding") == "rational":
        values = [Fraction(v) for v in t["data"]]
        if exact:
            return np.asarray(values or [], dtype=object).reshape(shape)
        return np.asarray([float(v) for v in values], dtype=np.float64).reshape(shape)
    if exact:
        raise ValueError("decode: exact=True needs a tensor with encoding 'rational', got "
                         f"{t.get('encoding')!r}")
    values = [_NONFINITE[v] if isinstance(v, str) else float(v) for v in t["data"]]
    return np.asarray(values, dtype=np.float64).reshape(shape)


# ------------------------------------------------------------------------------- tags


def _pair(v: Any) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def tags(case: Case) -> list[str]:
    """What the case exercises: its kind first, then the features that matter for the
    classic mistakes (padding, stride > kernel, overlapping windows, groups, ...)."""
    out = [case.kind]
    c, p, op = case.config, case.params, case.op

    def add(tag: str, condition: Any) -> None:
        if condition and tag not in out:
            out.append(tag)

    if op == "conv_transpose2d":
        ks, ss, ps, ds, ops = (c["kh"], c["kw"]), c["s"], c["p"], c["d"], c["op"]
        add("padding", max(ps) > 0)
        add("stride>1", max(ss) > 1)
        add("output-padding", max(ops) > 0)
        add("dilation", max(ds) > 1)
        add("non-square-kernel", len(set(ks)) > 1)
        add("1x1-kernel", max(ks) == 1)
        add("different-axes", any(isinstance(v, tuple) for v in p.values()))
        add("batch>1", c["n"] > 1)
        add("groups", c["g"] > 1)
        add("channels>1", c["c"] > 1)
        add("channels-differ", c["c"] != c["o"])
        add("no-bias", "b" not in case.arrays)
        w = case.arrays["w"]
        add("symmetric-kernel", w[0].size > 1 and np.array_equal(w, np.flip(w, (2, 3))))
    if op in ("max_pool2d", "avg_pool2d"):
        add("ceil-mode", p.get("ceil_mode"))
        add("count-include-pad-false", p.get("count_include_pad") is False)
        add("divisor-override", p.get("divisor_override") is not None)
    if op == "cross_entropy":
        add("class-weights", "weight" in p)
        add("ignore-index", "ignore_index" in p)
        add("label-smoothing", "label_smoothing" in p)
    if op in ("conv1d", "conv2d", "max_pool2d", "avg_pool2d"):
        if op == "conv1d":
            ks, ss, ps, ds = (c["k"],), (c["s"],), (c["p"],), (c["d"],)
            sizes = (c["l"],)
        elif op == "conv2d":
            ks, ss, ps, ds = (c["kh"], c["kw"]), c["s"], c["p"], c["d"]
            sizes = (c["h"], c["w"])
        else:
            ks, ss, ps, ds = (c["kh"], c["kw"]), c["s"], c["p"], c.get("d", (1, 1))
            sizes = (c["h"], c["w"])
        spans = [d * (k - 1) + 1 for k, d in zip(ks, ds, strict=True)]
        positions = expected_shape(op, c)[2:]
        add("padding", max(ps) > 0)
        add("stride>1", max(ss) > 1)
        add("stride>kernel", any(s > k for s, k in zip(ss, spans, strict=True)))
        add("windows-overlap", any(s < k and n > 1 for s, k, n in
                                   zip(ss, spans, positions, strict=True)))
        add("windows-do-not-tile", any((n + 2 * pd - k) % s for n, pd, k, s in
                                       zip(sizes, ps, spans, ss, strict=True)))
        add("dilation", max(ds) > 1)
        add("kernel-as-large-as-input", any(k == n + 2 * pd for k, n, pd in
                                            zip(spans, sizes, ps, strict=True)))
        add("non-square-kernel", len(set(ks)) > 1)
        add("1x1-kernel", max(ks) == 1)
        add("different-axes", any(isinstance(v, tuple) for v in p.values()))
        add("batch>1", c["n"] > 1)
        if op in ("conv1d", "conv2d"):
            w = case.arrays["w"]
            add("groups", c["g"] > 1)
            add("depthwise", c["g"] > 1 and c["g"] == c["c"])
            add("channels>1", c["c"] > 1)
            add("no-bias", "b" not in case.arrays)
            spatial = tuple(range(2, w.ndim))
            add("symmetric-kernel", w[0].size > 1 and np.array_equal(w, np.flip(w, spatial)))
        else:
            add("channels>1", c["c"] > 1)
    if op == "relu":
        add("zero-input", np.any(case.arrays["x"] == 0))
    if op in ("softmax", "log_softmax"):
        x = case.arrays["x"]
        axis = p["axis"] % x.ndim
        add("axis-not-last", axis != x.ndim - 1)
        add("large-logits", np.abs(x).max() > 700)
        add("single-class", x.shape[axis] == 1)
    if op == "cross_entropy":
        logits = case.arrays["logits"]
        add(f"reduction-{p['reduction']}", True)
        add("large-logits", np.abs(logits).max() > 700)
        add("single-class", logits.shape[1] == 1)
        add("batch-of-one", logits.shape[0] == 1)
    if op == "linear":
        add("no-bias", "b" not in case.arrays)
        add("batch-of-one", case.arrays["x"].shape[0] == 1)
    add("tie", not case.fd)
    return out


# ---------------------------------------------------------------------------- mutants


def mutants(case: Case, output: np.ndarray, gradients: tuple[np.ndarray, ...]
            ) -> list[dict[str, Any]]:
    """The classic mistakes that change this case, each with the mutant's output
    (stage "forward", with its gradients when they are known) or gradients (stage
    "backward"; also a forward mistake that leaves this case's output unchanged but not
    its gradients). A mistake with several forms (e.g. padding one more or one less) gives
    one mutant per form; a wrong output size gives ``match: "leading-block"`` with the
    mutant's shape only."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, bytes]] = set()
    for variant in variants(case.op):
        try:
            value = variant.compute(case)
        except Exception:  # noqa: BLE001 - a variant that cannot be formed: no mutant
            continue
        if value is None:
            continue
        for form in value if isinstance(value, list) else [value]:
            if variant.stage == "forward":
                form = np.asarray(form, dtype=np.float64)
                if variant.block:
                    entry = {"key": variant.key, "stage": "forward",
                             "match": "leading-block", "output_shape": list(form.shape)}
                    ident = (variant.key, "block", str(form.shape).encode())
                elif _indistinguishable(form, output):
                    # the same output (a symmetric kernel flipped, say), yet the mistaken
                    # forward's gradients may differ: a backward mutant
                    grads = (forward_mutant_gradients(case, variant.key, form)
                             if form.shape == output.shape else None)
                    if grads is None or all(_indistinguishable(g, e) for g, e in
                                            zip(grads, gradients, strict=True)):
                        continue
                    entry = {"key": variant.key, "stage": "backward", "match": "values",
                             "gradients": [{"name": n, **tensor(g)} for n, g in
                                           zip(case.differentiable, grads, strict=True)]}
                    ident = (variant.key, "backward", b"".join(g.tobytes() for g in grads))
                else:
                    entry = {"key": variant.key, "stage": "forward", "match": "values",
                             "output": tensor(form)}
                    ident = (variant.key, "forward", form.tobytes() + str(form.shape).encode())
                    if form.shape == output.shape:
                        grads = forward_mutant_gradients(case, variant.key, form)
                        if grads is not None and not all(
                                _indistinguishable(g, e)
                                for g, e in zip(grads, gradients, strict=True)):
                            entry["gradients"] = [
                                {"name": n, **tensor(g)}
                                for n, g in zip(case.differentiable, grads, strict=True)]
            else:
                grads = [np.asarray(g, dtype=np.float64) for g in form]
                if len(grads) != len(gradients) or all(
                        _indistinguishable(g, e) for g, e in zip(grads, gradients, strict=True)):
                    continue
                entry = {"key": variant.key, "stage": "backward", "match": "values",
                         "gradients": [{"name": n, **tensor(g)} for n, g in
                                       zip(case.differentiable, grads, strict=True)]}
                ident = (variant.key, "backward", b"".join(g.tobytes() for g in grads))
            if variant.also:
                entry["also"] = list(variant.also)
            if ident not in seen:
                seen.add(ident)
                out.append(entry)
    return out


def _derivations(case: Case, key: str) -> list[tuple[dict, dict, Any]]:
    """How a forward mistake is the engine on changed inputs or parameters: a list of
    (arrays, params, post) where ``post`` turns the engine's gradients on the changed inputs
    into gradients with respect to the case's own inputs."""
    arrays, params = case.arrays, case.params
    same = lambda gs: tuple(gs)  # noqa: E731
    if key == "flipped-kernel":
        flip = lambda w: np.flip(w, axis=tuple(range(2, w.ndim)))  # noqa: E731
        return [(dict(arrays, w=flip(arrays["w"]).copy()), params,
                 lambda gs: (gs[0], flip(gs[1]).copy(), *gs[2:]))]
    if key == "bias-dropped" and "b" in arrays:
        b = arrays["b"]
        return [({k: v for k, v in arrays.items() if k != "b"}, params,
                 lambda gs: (*gs, np.zeros_like(b, dtype=np.float64)))]
    if key == "weight-untransposed":
        return [(dict(arrays, w=arrays["w"].T.copy()), params,
                 lambda gs: (gs[0], gs[1].T.copy(), *gs[2:]))]
    changed: list[dict[str, Any]] = []
    if key == "padding-off-by-one":
        base = _pair(params["padding"]) if case.op != "conv1d" else (params["padding"],)
        for delta in (1, -1):
            p = tuple(v + delta for v in base)
            if min(p) >= 0:
                changed.append({"padding": p[0] if len(set(p)) == 1 else p})
    elif key == "dilation-ignored":
        changed.append({"dilation": 1})
    elif key == "stride-ignored":
        changed.append({"stride": 1})
    elif key == "wrong-axis":
        ndim = arrays["x"].ndim
        changed += [{"axis": a} for a in range(ndim)]
    elif key == "loss-reduction":
        changed += [{"reduction": r} for r in ("mean", "sum")]
    elif key == "avg-pool-wrong-count-at-border":
        changed.append({"count_include_pad": False})
    return [(arrays, dict(params, **c), same) for c in changed]


def forward_mutant_gradients(case: Case, key: str, form: np.ndarray
                             ) -> tuple[np.ndarray, ...] | None:
    """The gradients of a forward mutant (the vector-Jacobian product of the mistaken
    forward with the case's ``grad_out``), for the mistakes that are the engine on changed
    inputs or parameters and whose output has the expected shape; None otherwise. A
    runner uses them to tell that a failing backward is consistent with a forward
    mistake (a flipped-kernel implementation's gradients are those of the flipped
    kernel)."""
    for arrays, params, post in _derivations(case, key):
        try:
            out, grads = engine(case, arrays=arrays, params=params)
        except (ValueError, TypeError):
            continue
        out = np.asarray(out, dtype=np.float64)
        if out.shape == form.shape and np.allclose(out, form, rtol=1e-12, atol=1e-12,
                                                   equal_nan=True):
            return tuple(np.asarray(g, dtype=np.float64) for g in post(grads))
    return None


# ------------------------------------------------------------------------------ cases


def _indistinguishable(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the loosest compare rule (float32) cannot tell the two apart: such a mutant
    would "match" a right float32 result, so it is left out."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and (passes(a, tensor(b), FLOAT32) or passes(b, tensor(a), FLOAT32))


def case_to_json(case: Case) -> dict[str, Any]:
    """One case with its expected output and gradients (exact when the case is exact),
    its comparison rule, tags and mutants."""
    out, grads = engine(case, exact=case.exact)
    out64, grads64 = engine(case) if case.exact else (out, grads)
    inputs = []
    for name, a in case.arrays.items():
        if name == "target":
            entry = {"name": name, **tensor(a, "int64"), "differentiable": False}
        else:
            entry = {"name": name, **tensor(a, exact=case.exact), "differentiable": True}
        inputs.append(entry)
    return {
        "name": case.name, "kind": case.kind, "tags": tags(case), "note": case.note,
        "exact": case.exact,
        "finite_differences_apply": case.fd,
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in case.params.items()},
        "inputs": inputs,
        "grad_out": tensor(case.grad_out, exact=case.exact),
        "output": tensor(out, exact=case.exact),
        "gradients": [{"name": n, **tensor(g, exact=case.exact)}
                      for n, g in zip(case.differentiable, grads, strict=True)],
        "compare": {"float64": dict(EXACT_FLOAT64 if case.exact else FLOAT64),
                    "float32": dict(FLOAT32)},
        "mutants": mutants(case, np.asarray(out64, dtype=np.float64),
                           tuple(np.asarray(g, dtype=np.float64) for g in grads64)),
    }


def passes(actual: Any, expected: dict[str, Any], rule: dict[str, float]) -> bool:
    """The ``compare`` rule, as a runner applies it: same shape; every element either the
    same non-finite value as expected (NaN matches NaN), or finite with
    ``|actual - expected| <= atol * max(1, M) + rtol * |expected|``, M the largest finite
    ``|expected|`` of the tensor."""
    e = decode(expected)
    a = np.asarray(actual, dtype=np.float64)
    if a.shape != e.shape:
        return False
    finite = np.isfinite(e)
    same_special = (np.isnan(a) & np.isnan(e)) | (~finite & (a == e))
    if not np.array_equal(same_special, ~finite):
        return False
    scale = max(1.0, float(np.abs(e[finite]).max())) if finite.any() else 1.0
    with np.errstate(all="ignore"):
        ok = np.abs(a[finite] - e[finite]) <= rule["atol"] * scale + \
            rule["rtol"] * np.abs(e[finite])
    return bool(np.all(ok)) and bool(np.all(np.isfinite(a[finite])))


def matching_mutants(case: dict[str, Any], output: Any = None,
                     gradients: list[Any] | None = None, dtype: str = "float64") -> list[str]:
    """The mutant keys a (wrong) output or list of gradients equals, as a runner finds
    them with the case's ``compare`` rule."""
    rule = case["compare"][dtype]
    expected_shape_ = case["output"]["shape"]
    found = []
    for m in case["mutants"]:
        hit = False
        if m["stage"] == "forward" and output is not None:
            a = np.asarray(output, dtype=np.float64)
            if m["match"] == "leading-block":
                region = tuple(slice(0, s) for s in expected_shape_)
                hit = (list(a.shape) == m["output_shape"]
                       and all(x >= s for x, s in zip(a.shape, expected_shape_, strict=True))
                       and passes(a[region], case["output"], rule))
            else:
                hit = passes(a, m["output"], rule)
        if not hit and gradients is not None and "gradients" in m:
            hit = len(gradients) == len(m["gradients"]) and all(
                passes(g, t, rule) for g, t in zip(gradients, m["gradients"], strict=True))
        if hit and m["key"] not in found:
            found.append(m["key"])
    return found


# ----------------------------------------------------------------------------- export


def _commit() -> str | None:
    """The git commit of the generator's checkout, or None (not a git checkout, no git)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", text) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(directory: str | Path, seed: int = 0) -> list[Path]:
    """Write ``<op>.json`` for every op, ``golden.schema.json``, ``README.md`` and
    ``INDEX.json`` (last: it holds the others' sha256); return the paths."""
    from tinygrad_cnn import __version__

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written, files = [], []
    for op in OPS:
        cases = [case_to_json(c) for c in all_cases(op, seed)]
        doc = {"schema": SCHEMA, "version": VERSION, "op": op, "signature": SIGNATURES[op],
               "arguments": _arguments(op, seed), "conventions": CONVENTIONS,
               "mistakes": {k: TEXT[k] for k in _keys(cases)}, "seed": seed,
               "cases": cases}
        path = root / f"{op}.json"
        path.write_text(_dump(doc))
        written.append(path)
        files.append({"op": op, "file": path.name, "cases": len(cases),
                      "exact_cases": sum(c["exact"] for c in cases),
                      "mutants": sum(len(c["mutants"]) for c in cases),
                      "sha256": _sha256(path)})
    schema_path = root / "golden.schema.json"
    schema_path.write_text(json.dumps(SCHEMA_DOCUMENT, indent=1) + "\n")
    runners = []
    for name in RUNNER_FILES:
        runner = root / name
        runner.write_bytes((RUNNERS / name).read_bytes())
        runners.append(runner)
    readme = root / "README.md"
    readme.write_text(readme_text(seed, sum(f["cases"] for f in files)))
    index = {
        "schema": SCHEMA + ".index", "version": VERSION,
        "generator": {"name": "tinygrad-cnn oracle export", "version": __version__,
                      "commit": _commit()},
        "seed": seed, "compatibility": COMPATIBILITY, "conventions": CONVENTIONS,
        "files": files,
        "other_files": [{"file": p.name, "sha256": _sha256(p)}
                        for p in (schema_path, *runners, readme)],
    }
    (root / "INDEX.json").write_text(json.dumps(index, indent=1) + "\n")
    return [*written, schema_path, *runners, readme, root / "INDEX.json"]


def _keys(cases: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for c in cases:
        for m in c["mutants"]:
            for k in (m["key"], *m.get("also", ())):
                if k not in keys:
                    keys.append(k)
    return keys


def _arguments(op: str, seed: int) -> dict[str, list[str]]:
    """The array arguments in call order and the parameter names (the union over cases)."""
    arrays: list[str] = []
    params: list[str] = []
    for c in all_cases(op, seed):
        arrays += [k for k in c.arrays if k not in arrays]
        params += [k for k in c.params if k not in params]
    return {"arrays": arrays, "params": params}


def _dump(doc: dict[str, Any]) -> str:
    """Readable JSON: the header one key per line, then one case per line (strict JSON:
    never NaN or Infinity literals)."""
    head = [f" {json.dumps(k, allow_nan=False)}: {json.dumps(v, allow_nan=False)},"
            for k, v in doc.items() if k != "cases"]
    cases = [json.dumps(c, separators=(", ", ": "), allow_nan=False) for c in doc["cases"]]
    return "{\n" + "\n".join(head) + '\n "cases": [\n  ' + ",\n  ".join(cases) + "\n ]\n}\n"


def load(path: str | Path) -> dict[str, Any]:
    """Read a case file of version 2 (a clear ValueError for any other version)."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a tinygrad_cnn golden case file (schema "
                         f"{doc.get('schema') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: golden format version {doc.get('version')!r}; this reader "
                         f"reads version {VERSION} only (version 1 is no longer read: run "
                         "`tinygrad-cnn oracle export DIR` again)")
    return doc


# ----------------------------------------------------------------------------- schema


SCHEMA_DOCUMENT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://tinygrad-cnn.invalid/golden.schema.json",
    "title": "tinygrad_cnn oracle golden case file, version 2",
    "description": "One op's cases. See README.md for the meaning of every field.",
    "type": "object",
    "required": ["schema", "version", "op", "signature", "arguments", "conventions",
                 "mistakes", "seed", "cases"],
    "properties": {
        "schema": {"const": SCHEMA},
        "version": {"const": VERSION},
        "op": {"enum": list(OPS)},
        "signature": {"type": "string"},
        "arguments": {"type": "object", "required": ["arrays", "params"],
                      "properties": {"arrays": {"type": "array", "items": {"type": "string"}},
                                     "params": {"type": "array",
                                                "items": {"type": "string"}}}},
        "conventions": {"type": "array", "items": {"type": "string"}},
        "mistakes": {"type": "object", "additionalProperties": {"type": "string"}},
        "seed": {"type": "integer", "minimum": 0},
        "cases": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/case"}},
    },
    "$defs": {
        "number": {
            "description": "A float64 element: a JSON number, or NaN / Infinity / -Infinity "
                           "as a string (encoding 'float'); an exact rational 'p' or 'p/q' "
                           "(encoding 'rational').",
            "oneOf": [{"type": "number"},
                      {"enum": list(_NONFINITE)},
                      {"type": "string", "pattern": _RATIONAL.pattern}]},
        "tensor": {
            "type": "object",
            "required": ["shape", "dtype", "data"],
            "properties": {
                "name": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "dtype": {"enum": ["float64", "int64"]},
                "encoding": {"enum": ["rational", "float"]},
                "differentiable": {"type": "boolean"},
                "data": {"type": "array"},
            },
            "allOf": [
                {"if": {"properties": {"dtype": {"const": "int64"}}},
                 "then": {"properties": {"data": {"items": {"type": "integer"}}},
                          "not": {"required": ["encoding"]}}},
                {"if": {"properties": {"encoding": {"const": "rational"}},
                        "required": ["encoding"]},
                 "then": {"properties": {"data": {"items": {
                     "type": "string", "pattern": _RATIONAL.pattern}}}}},
                {"if": {"properties": {"encoding": {"const": "float"}},
                        "required": ["encoding"]},
                 "then": {"properties": {"data": {"items": {"oneOf": [
                     {"type": "number"}, {"enum": list(_NONFINITE)}]}}}}},
                {"if": {"properties": {"dtype": {"const": "float64"}}},
                 "then": {"required": ["encoding"]}},
            ],
        },
        "rule": {"type": "object", "required": ["rtol", "atol"],
                 "properties": {"rtol": {"type": "number", "minimum": 0},
                                "atol": {"type": "number", "minimum": 0}}},
        "mutant": {
            "type": "object",
            "required": ["key", "stage", "match"],
            "properties": {
                "key": {"type": "string"},
                "stage": {"enum": ["forward", "backward"]},
                "match": {"enum": ["values", "leading-block"]},
                "also": {"type": "array", "items": {"type": "string"}},
                "output": {"$ref": "#/$defs/tensor"},
                "output_shape": {"type": "array", "items": {"type": "integer"}},
                "gradients": {"type": "array", "items": {"$ref": "#/$defs/tensor"}},
            },
            "oneOf": [
                {"properties": {"stage": {"const": "forward"}, "match": {"const": "values"}},
                 "required": ["output"]},
                {"properties": {"stage": {"const": "forward"},
                                "match": {"const": "leading-block"}},
                 "required": ["output_shape"]},
                {"properties": {"stage": {"const": "backward"}}, "required": ["gradients"]},
            ],
        },
        "case": {
            "type": "object",
            "required": ["name", "kind", "tags", "note", "exact", "finite_differences_apply",
                         "params", "inputs", "grad_out", "output", "gradients", "compare",
                         "mutants"],
            "properties": {
                "name": {"type": "string"},
                "kind": {"enum": ["document", "edge", "tie", "random"]},
                "tags": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "note": {"type": "string"},
                "exact": {"type": "boolean"},
                "finite_differences_apply": {"type": "boolean"},
                "params": {"type": "object"},
                "inputs": {"type": "array", "items": {"$ref": "#/$defs/tensor"}},
                "grad_out": {"$ref": "#/$defs/tensor"},
                "output": {"$ref": "#/$defs/tensor"},
                "gradients": {"type": "array", "items": {"$ref": "#/$defs/tensor"}},
                "compare": {"type": "object", "required": ["float64", "float32"],
                            "properties": {"float64": {"$ref": "#/$defs/rule"},
                                           "float32": {"$ref": "#/$defs/rule"}}},
                "mutants": {"type": "array", "items": {"$ref": "#/$defs/mutant"}},
            },
        },
    },
}


# ----------------------------------------------------------------------------- README

#: every tag a case can carry, in words (the README's list; the tests check it is complete)
TAG_TEXT = {
    "document": "kind: a worked example from the course documents",
    "edge": "kind: a boundary shape or parameter",
    "tie": "a convention case (also a kind): equal maxima in a pooling window, or relu at "
           "0, where the derivative is not defined and the expected gradient follows "
           "PyTorch's convention",
    "random": "kind: random sizes and parameters from the seed",
    "padding": "padding > 0 on some axis",
    "stride>1": "a stride larger than 1",
    "stride>kernel": "the stride is larger than the (dilated) kernel: some input elements "
                     "are in no window",
    "windows-overlap": "the stride is smaller than the (dilated) kernel: windows overlap, so "
                       "gradients from several windows add up on one input element",
    "windows-do-not-tile": "the windows do not end exactly at the (padded) input's end: the "
                           "rest is left out (floor in the output size)",
    "dilation": "dilation > 1",
    "kernel-as-large-as-input": "the (dilated) kernel is as large as the padded input: one "
                                "output position",
    "non-square-kernel": "kernel height and width differ",
    "1x1-kernel": "a kernel of size 1",
    "different-axes": "a parameter is given as [h, w] with two different values",
    "batch>1": "more than one sample",
    "channels>1": "more than one input channel",
    "groups": "groups > 1: grouped convolution",
    "depthwise": "groups == input channels",
    "no-bias": "no bias: 'b' is absent from the inputs",
    "symmetric-kernel": "every kernel equals itself rotated by 180 degrees, so a flipped "
                        "kernel cannot be detected by this case",
    "zero-input": "some inputs are exactly 0 (relu'(0) = 0)",
    "axis-not-last": "softmax / log_softmax along another axis than the last",
    "large-logits": "logits of about +-1e4: exp overflows without the max shift",
    "single-class": "one class only",
    "batch-of-one": "one sample",
    "reduction-mean": "cross_entropy with reduction 'mean'",
    "reduction-sum": "cross_entropy with reduction 'sum'",
    "reduction-none": "cross_entropy with reduction 'none'",
    "output-padding": "conv_transpose2d with output_padding > 0: extra rows / columns at the "
                      "bottom / right",
    "channels-differ": "conv_transpose2d with a number of input channels other than of "
                       "output channels (a weight read with its channel axes swapped "
                       "cannot even be used)",
    "ceil-mode": "pooling with ceil_mode=true (a later option: passed only by its cases)",
    "count-include-pad-false": "avg_pool2d with count_include_pad=false (a later option)",
    "divisor-override": "avg_pool2d with divisor_override (a later option)",
    "class-weights": "cross_entropy with class weights, 'weight' (a later option)",
    "ignore-index": "cross_entropy with ignore_index (a later option); the targets equal to "
                    "it are ignored",
    "label-smoothing": "cross_entropy with label_smoothing (a later option)",
}

KIND_TEXT = {
    "document": "the worked examples of the course's documents, with their printed numbers "
                "(a 5x5 input with a 3x3 filter; a 6x6 image with two filters at stride 1 "
                "and 2 and the 2x2 pooling of the results; a 7x7 image with a 3x3 feature "
                "detector; for conv_transpose2d, the input gradients of the first two "
                "convolutions)",
    "edge": "one boundary situation each: a kernel as large as the input, stride larger "
            "than the kernel, windows that do not tile the input, padding up to k - 1, "
            "dilation, groups, no bias, logits of 1e4, a single class, ...",
    "tie": "the conventions where the derivative is not defined: equal maxima in a "
           "max-pooling window (the first one in row-major order gets the gradient) and "
           "relu at exactly 0 (derivative 0)",
    "random": "random sizes, parameters and data, reproducible from the seed",
}


def readme_text(seed: int, count: int) -> str:
    """The README.md of an export: every field, the encoding, the comparison and the
    mutants, in words for someone who does not read Python."""
    ops = "\n".join(f"| `{op}` | `{SIGNATURES[op]}` |" for op in OPS)
    kinds = "\n".join(f"- **{k}**: {v}." for k, v in KIND_TEXT.items())
    tag_list = "\n".join(f"- `{k}`: {v}." for k, v in TAG_TEXT.items())
    conventions = "\n".join(f"- {c}." for c in CONVENTIONS)
    return f"""# Golden files of the tinygrad_cnn oracle (format version {VERSION})

{count} test cases for {len(OPS)} operations of a convolutional network, written by
`tinygrad-cnn oracle export` (random cases from seed {seed}). Each case holds the inputs,
the expected output and the expected gradients, computed by the tinygrad_cnn engine, in
exact rational arithmetic wherever the inputs are integers. They test an implementation
in any language: read a case, call your code, compare. Nothing here needs Python.

## Files

- `<op>.json`: the cases of one operation (`conv2d.json`, ...), one JSON object.
- `golden.schema.json`: a JSON Schema (draft 2020-12) that every `<op>.json` satisfies.
- `INDEX.json`: the list of files with their number of cases and their SHA-256, the
  generator's name, version and git commit, the seed, and the compatibility policy.
- `golden_runner.c` with `golden.h`, and `golden_runner.js`: reference runners that read
  every case, call your functions, compare and name the mistakes (below).
- `README.md`: this file.

## Using a case

For every case of a file:

1. Build the input tensors from `inputs`, in the order given (that is the order of the
   arguments of the operation), and read `params`, the operation's parameters by name.
2. Run your forward computation. Compare your output with `output` by the rule in
   `compare` (below). If it fails, compare it with each forward mutant in `mutants`: a
   match names your mistake.
3. Run your backward computation with `grad_out` as the upstream gradient. Compare your
   gradients, one per input whose `differentiable` is true, in order, with `gradients`.
   If they fail, compare them with each backward mutant.

## Operations and arguments

| op | arguments (shapes in brackets; `?` = may be absent) |
|---|---|
{ops}

The file's `arguments` lists the array arguments in order (`arrays`) and the parameter
names (`params`). Parameters:

- `stride`, `padding`, `dilation`, `kernel_size`: an integer used for both spatial axes,
  or a list `[h, w]` (height first) when the two differ. `padding` p adds p elements on
  each side. `groups` g splits the C input and O output channels into g groups; output
  channel o reads only the input channels of its group.
- `axis`: the axis of softmax / log_softmax; negative counts from the end (-1 is the last).
- `reduction`: `"mean"`, `"sum"` or `"none"` (the N losses, one per sample).
- `max_pool2d` always receives `stride` (it is never left to default).
- `output_padding` (conv_transpose2d): an integer or `[h, w]`, rows / columns added at the
  bottom / right of the output, smaller than the stride or the dilation.
- Later options, present only in the cases about them (a case without one means its
  default): `ceil_mode` (true), `count_include_pad` (false), `divisor_override` (an
  integer); cross_entropy's `weight` (a list of C numbers, one per class),
  `ignore_index` (an integer) and `label_smoothing` (a number in [0, 1]). A runner for an
  implementation without such an option skips those cases.

## Conventions the expected values follow

{conventions}

## Kinds of cases

{kinds}

## The fields of a file

Header: `schema` (always `"{SCHEMA}"`), `version` ({VERSION}), `op`, `signature`,
`arguments`, `conventions`, `mistakes` (the mistake keys used by this file's mutants, each
with its explanation), `seed`, `cases`.

Each case:

- `name`: an identifier, unique in the file.
- `kind`: `document`, `edge`, `tie` or `random` (above).
- `tags`: what the case exercises; never empty, the kind first (list below).
- `note`: one sentence about the case.
- `exact`: true when every input is an integer; then the expected values are exact
  rationals (encoding `rational`).
- `finite_differences_apply`: false at ties and at relu's kink. The expected gradient
  there is a convention, so a finite-difference check of your own forward disagrees with
  it: skip such a self-check on these cases.
- `params`: the parameters by name.
- `inputs`: the array arguments in call order, each a tensor with `name` and
  `differentiable` (false only for the integer `target` of cross_entropy).
- `grad_out`: the upstream gradient, with the shape of the output (below).
- `output`: the expected output.
- `gradients`: the expected gradients, one per differentiable input, in order, each with
  its `name`.
- `compare`: the rule for a float64 result and for a float32 result (below).
- `mutants`: the outputs or gradients of the classic mistakes that change this case
  (below).

## Tensors and numbers

A tensor is `{{"shape": [...], "dtype": "float64" | "int64", "encoding": ..., "data":
[...]}}`. `data` lists the elements flat in row-major order: element `[i, j, k]` of a
tensor of shape `[A, B, C]` is `data[(i * B + j) * C + k]`. A scalar has shape `[]` and
exactly one element. An `int64` tensor (the class indices of cross_entropy) holds JSON
integers and has no `encoding`. A `float64` tensor has an `encoding`:

- `"rational"`: every element is a string, an exact rational number: an integer `"-3"`
  or a reduced fraction `"7/3"` (grammar: `-?(0|[1-9][0-9]*)(/[1-9][0-9]*)?`). Convert
  `p/q` to floating point as p divided by q. `1/9` and `1/3` cannot be held exactly in
  float64: that is why even exact cases are compared with a (tiny) tolerance.
- `"float"`: every element is a JSON number (a float64 written with the fewest digits
  that read back to the same float64; `-0.0` keeps its sign), or one of the strings
  `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no literal for them; they appear only in
  mutants).

## grad_out and the gradients

The backward computation is a vector-Jacobian product: for an output y (any shape) and an
input x, the gradient returned for x is

    gradient[j] = sum over every output element k of grad_out[k] * d y[k] / d x[j]

that is, the gradient of the scalar `sum(grad_out * y)` with respect to x. `grad_out`
holds non-zero, non-constant integers, so a backward that ignores it is caught. For a
scalar output (cross_entropy with reduction `mean` or `sum`) `grad_out` is one number.

## Comparing

`compare` holds `float64` and `float32`, each `{{"rtol": r, "atol": a}}`. Use `float64` if
your implementation computes in double precision, `float32` if it computes in single
precision (round the inputs to float32 first). A result passes when it has the expected
shape and, for every element e of the expected tensor and the element v of yours:

- if e is NaN, Infinity or -Infinity, v is the same (NaN matches NaN);
- otherwise v is finite and `|v - e| <= a * max(1, M) + r * |e|`, where M is the largest
  `|e|` over the finite elements of that expected tensor.

Exact cases use `rtol = atol = {EXACT_FLOAT64['rtol']:g}` in float64; the other cases
{FLOAT64['rtol']:g} and {FLOAT64['atol']:g}; float32 uses {FLOAT32['rtol']:g} and
{FLOAT32['atol']:g} everywhere.

## Mutants: naming the mistake

Each entry of `mutants` is the result of one classic mistake on this case: `key` names it
(its explanation is in the file's `mistakes`), `stage` is `forward` or `backward`. Only
mistakes that change this case are listed; a mistake with several forms (padding one more
or one less, say) has one entry per form, with the same key.

- `stage: "forward"`, `match: "values"`: `output` is the mutant's output. If your output
  fails but passes the compare rule against it, you made that mistake. When the mistaken
  forward has the expected output shape and its derivative is known, the mutant also has
  `gradients`: the vector-Jacobian product of the mistaken forward with this case's
  `grad_out`. A backward that is consistent with a wrong forward (a flipped kernel used in
  both directions, say) fails the expected gradients but matches these. A forward mistake
  that leaves the output of a case unchanged but not its gradients (a flipped kernel that
  is symmetric) is listed as a backward mutant.
- `stage: "forward"`, `match: "leading-block"`: a wrong output size. `output_shape` is the
  mutant's shape; if your output has that shape and its leading block of the expected
  shape (indices 0 .. expected size - 1 on every axis) passes against `output`, you made
  that mistake.
- `stage: "backward"`: `gradients` are the mutant's gradients, one per differentiable
  input; your gradients match when each one passes against the mutant's (the same holds
  for the `gradients` of a forward mutant).
- `also`: further keys of mistakes made at the same time by this mutant.

Several mutants can match one wrong result (e.g. on a window of four equal values); look
at the other cases to tell them apart.

## The reference runners

Two runners come with the files; each needs nothing but a compiler or Node. Both read
every case of `<op>.json` for each op you implement, round the inputs and `grad_out` to
float32 first when told `--float32` (then they use the `float32` rule), call your forward
and backward, compare by the rule above, and on a failure print which element differs and
the mutants your result matches ("your gradients equal the 'weight-gradient-transposed'
mutant: ..."), with the mistake's explanation. They end with one line per mistake named
and a count of the cases: exit status 0 when every case passed, 1 when one failed, 2 for
bad arguments or files that cannot be read. `--op NAME` checks one op; `--quiet` prints
only the failures.

**C (C99, the standard library only).** `golden.h` declares the interface. A tensor is a
`golden_tensor`: `ndim`, `shape[]` and `data` (doubles in row-major order; the integer
`target` of cross_entropy also comes as `long` values in `index`). The parameters come in
a `golden_params`: `kernel_size`, `stride`, `padding`, `dilation` and `output_padding` as
`[h, w]` pairs (an integer in the file fills both; a 1-D op uses `[0]`), `groups`,
`axis`, `reduction` (`GOLDEN_MEAN`, `GOLDEN_SUM`, `GOLDEN_NONE`), `ceil_mode`,
`count_include_pad`, `divisor_override` (0: none), `weight` (the class weights, NULL when
absent, `n_weight` of them), `ignore_index` and `label_smoothing`; a parameter a case does
not give has its default. You write, per op,

    int my_forward(const golden_tensor *inputs, int n_inputs,
                   const golden_params *params, golden_tensor *out);
    int my_backward(const golden_tensor *inputs, int n_inputs,
                    const golden_tensor *grad_out, const golden_params *params,
                    golden_tensor *grads);

`inputs` are the case's `inputs` in order (a convolution without bias gets 2, with bias
3). Set the shape of `out` (or of each `grads[i]`, one per differentiable input) and its
`data`, allocated with `malloc` (the runner frees it). Return `GOLDEN_OK` (0),
`GOLDEN_UNSUPPORTED` (1: the case is skipped and counted) or any other value for an error
(the case fails). A backward should check that `grad_out` has the shape of its own
output. List the ops in a table that the runner reads:

    const golden_op golden_ops[] = {{{{"conv2d", my_forward, my_backward}},
                                    {{NULL, NULL, NULL}}}};

(the backward may be NULL). Build and run:

    cc -std=c99 -O2 -o check golden_runner.c my_ops.c -lm
    ./check DIR [--float32] [--op NAME] [--quiet]

**JavaScript (Node, no packages).** Your module (CommonJS, or an ES module named `.mjs`)
exports one entry per op, `{{forward(inputs, params), backward(inputs, gradOut,
params)}}`. `inputs` are the case's inputs in order, each `{{name, shape, data}}` with
`data` a `Float64Array` (the integer `target`: an array of integers); `params` the case's
`params` as in the file; `gradOut` is `{{shape, data}}`. `forward` returns `{{shape,
data}}`, `backward` an array of them, one per differentiable input (either may return a
promise). Return `null` for a case your code does not do (skipped and counted); a thrown
error fails the case. Run:

    node golden_runner.js DIR my_ops.js [--float32] [--op NAME] [--quiet]

## Tags

{tag_list}

## Versions and integrity

`version` is {VERSION}. {COMPATIBILITY}

`INDEX.json` gives the SHA-256 of every file (`files[].sha256` for the case files,
`other_files` for the schema and this README): a copy whose hashes match is the export
the index describes. `generator.commit` is the git commit of the generator (null when it
was not run from a git checkout).
"""
