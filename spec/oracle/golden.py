"""Language-neutral golden files: the oracle's cases as JSON (schema version 1).

One file per op (``conv2d.json``, ...) holding a list of cases, plus ``INDEX.json`` and a
``README.md``. Every tensor is ``{"shape": [...], "dtype": "float64" | "int64", "data":
[...]}`` with ``data`` flat in row-major (C) order. In an *exact* case (integer inputs)
every float64 number is a string: an integer ``"-3"`` or a reduced fraction ``"7/3"``,
and the expected values are exact; otherwise numbers are JSON floats, to be compared with
the case's ``tolerance``. See ``docs/oracle.md`` for the full schema.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .cases import OPS, Case, all_cases
from .reference import engine

SCHEMA = "tinygrad_cnn.oracle.golden"
VERSION = 1
TOLERANCE = {"rtol": 1e-7, "atol": 1e-9}

SIGNATURES = {
    "conv1d": "conv1d(x[N, C, L], w[O, C/groups, K], b[O]?, stride, padding, dilation, groups)",
    "conv2d": "conv2d(x[N, C, H, W], w[O, C/groups, KH, KW], b[O]?, stride, padding, "
              "dilation, groups)",
    "max_pool2d": "max_pool2d(x[N, C, H, W], kernel_size, stride, padding, dilation)",
    "avg_pool2d": "avg_pool2d(x[N, C, H, W], kernel_size, stride, padding)",
    "relu": "relu(x)",
    "softmax": "softmax(x, axis)",
    "log_softmax": "log_softmax(x, axis)",
    "cross_entropy": "cross_entropy(logits[N, C], target[N] int64, reduction)",
    "linear": "linear(x[N, in], w[out, in], b[out]?)",
}

CONVENTIONS = [
    "NCHW layout, weights OIHW; convolution is cross-correlation (no kernel flip)",
    "out = floor((n + 2p - d(k-1) - 1) / s) + 1 on every spatial axis",
    "stride, padding, dilation, kernel_size: an int, or [h, w] when the axes differ",
    "b absent from 'inputs' means no bias",
    "max pooling pads with -inf; a tie sends the whole gradient to the first maximum in "
    "row-major order of the window (PyTorch)",
    "average pooling divides by kh*kw, padding included (PyTorch's count_include_pad=True)",
    "relu'(0) = 0",
    "cross_entropy: target holds class indices; reduction 'mean' divides by N; the target "
    "gets no gradient",
]


def rational(v: Any) -> str:
    """An exact number as ``"p"`` or ``"p/q"`` (reduced)."""
    f = Fraction(v)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _tensor(a: np.ndarray, exact: bool, dtype: str = "float64") -> dict[str, Any]:
    flat = np.asarray(a).reshape(-1)
    if dtype == "int64":
        data: list[Any] = [int(v) for v in flat]
    elif exact:
        data = [rational(v) for v in flat]
    else:
        data = [float(v) for v in flat]
    return {"shape": list(np.shape(a)), "dtype": dtype, "data": data}


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def case_to_json(case: Case) -> dict[str, Any]:
    """One case with its expected output and gradients (exact when the case is exact)."""
    out, grads = engine(case, exact=case.exact)
    inputs = []
    for name, a in case.arrays.items():
        dtype = "int64" if name == "target" else "float64"
        entry = {"name": name, **_tensor(a, case.exact, dtype),
                 "differentiable": name != "target"}
        inputs.append(entry)
    doc = {
        "name": case.name, "kind": case.kind, "note": case.note, "exact": case.exact,
        "finite_differences_apply": case.fd,
        "params": _json_params(case.params),
        "inputs": inputs,
        "grad_out": _tensor(case.grad_out, case.exact),
        "output": _tensor(out, case.exact),
        "gradients": [{"name": n, **_tensor(g, case.exact)}
                      for n, g in zip(case.differentiable, grads, strict=True)],
    }
    if not case.exact:
        doc["tolerance"] = dict(TOLERANCE)
    return doc


def export(directory: str | Path, seed: int = 0) -> list[Path]:
    """Write ``<op>.json`` for every op, ``INDEX.json`` and ``README.md``; return the paths."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written, index = [], []
    for op in OPS:
        cases = [case_to_json(c) for c in all_cases(op, seed)]
        doc = {"schema": SCHEMA, "version": VERSION, "op": op, "signature": SIGNATURES[op],
               "conventions": CONVENTIONS, "seed": seed, "cases": cases}
        path = root / f"{op}.json"
        path.write_text(_dump(doc))
        written.append(path)
        index.append({"op": op, "file": path.name, "cases": len(cases),
                      "exact_cases": sum(c["exact"] for c in cases)})
    idx = {"schema": SCHEMA + ".index", "version": VERSION,
           "generator": "tinygrad-cnn oracle export", "seed": seed, "files": index,
           "number_format": "tensors are flat row-major lists; in exact cases float64 "
                            "numbers are strings 'p' or 'p/q', otherwise JSON floats",
           "conventions": CONVENTIONS}
    (root / "INDEX.json").write_text(json.dumps(idx, indent=1) + "\n")
    readme = root / "README.md"
    readme.write_text(_README.format(version=VERSION, seed=seed, count=sum(
        f["cases"] for f in index)))
    return [*written, root / "INDEX.json", readme]


def _dump(doc: dict[str, Any]) -> str:
    """Readable JSON: the header one key per line, then one case per line."""
    head = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in doc.items() if k != "cases"]
    cases = [json.dumps(c, separators=(", ", ": "), allow_nan=False) for c in doc["cases"]]
    return "{\n" + "\n".join(head) + '\n "cases": [\n  ' + ",\n  ".join(cases) + "\n ]\n}\n"


def decode(tensor: dict[str, Any], exact: bool = False) -> np.ndarray:
    """A golden tensor as an ndarray: float64 (int64 for a target), or Fractions (object)
    with ``exact=True``."""
    shape = tuple(tensor["shape"])
    if tensor["dtype"] == "int64":
        return np.asarray(tensor["data"], dtype=np.int64).reshape(shape)
    values = [Fraction(v) if isinstance(v, str) else v for v in tensor["data"]]
    if exact:
        return np.asarray([Fraction(v) for v in values] or [], dtype=object).reshape(shape)
    return np.asarray([float(v) for v in values], dtype=np.float64).reshape(shape)


_README = """# Golden files of the tinygrad_cnn oracle (schema version {version})

{count} cases written by `tinygrad-cnn oracle export` (random cases from seed {seed}).
One JSON file per op; `INDEX.json` lists them. For each case: call your implementation
with the `inputs` (in order, as positional arrays) and the `params` (keyword arguments),
compare with `output`; call your backward with the same inputs and `grad_out`, compare
with `gradients` (one per differentiable input, in order).

Tensors are `{{"shape": [...], "dtype": ..., "data": [...]}}`, data flat in row-major
order. In an exact case every float64 number is a string, `"p"` or `"p/q"`, and the
expected values are exact rationals; otherwise compare within the case's `tolerance`
(|actual - expected| <= atol + rtol * |expected|).
"""
