"""Golden files, format version 2: every exported file validates against the shipped JSON
Schema, re-checks against the engine (float64 and exact), the compare rules accept right
float64 and float32 implementations, the mutants name the classic mistakes as a runner in
another language would, and the encoding is strict JSON a JavaScript or C reader parses."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from spec.oracle import golden
from spec.oracle.adapters import takes
from spec.oracle.cases import OPS, all_cases
from tinygrad_cnn import Tensor
from tinygrad_cnn.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).parent))
import oracle_candidates as oc  # noqa: E402

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (the test "
                                 "extra): validation of the golden files skipped")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("golden")
    golden.export(root)
    return root


@pytest.fixture(scope="module")
def files(exported) -> dict[str, dict]:
    return {op: golden.load(exported / f"{op}.json") for op in OPS}


def _strict_json(text: str):
    """json.loads that refuses NaN / Infinity literals (as JSON.parse does)."""
    def refuse(name):
        raise ValueError(f"non-standard JSON literal {name}")
    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------------- the export

def test_export_writes_every_file_and_the_cli_says_version_2(tmp_path, capsys):
    assert cli_main(["oracle", "export", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"{op}.json" for op in OPS} | {"INDEX.json", "README.md",
                                                    "golden.schema.json",
                                                    *golden.RUNNER_FILES}
    assert "version 2" in capsys.readouterr().out


def test_every_case_file_validates_against_the_shipped_schema(exported):
    schema = _strict_json((exported / "golden.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for op in OPS:
        doc = _strict_json((exported / f"{op}.json").read_text())
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{op}: {errors[0].message} at {list(errors[0].path)}"


def test_the_schema_rejects_what_the_format_forbids(files):
    validator = jsonschema.Draft202012Validator(golden.SCHEMA_DOCUMENT)
    good = json.loads(json.dumps(files["relu"]))
    assert validator.is_valid(good)
    for breaks in (
        lambda d: d["cases"][0].update(tags=[]),                       # tags never empty
        lambda d: d["cases"][0]["output"].update(data=["1/2/3"]),      # rational grammar
        lambda d: d["cases"][0]["output"].update(data=[math.nan]),     # NaN is a string
        lambda d: d["cases"][0]["output"].pop("encoding"),             # float64: encoding
        lambda d: d["cases"][0].pop("compare"),
        lambda d: d.update(version=1),
    ):
        doc = json.loads(json.dumps(good))
        breaks(doc)
        assert not validator.is_valid(doc)


def test_index_has_the_generator_hashes_and_the_policy(exported):
    from tinygrad_cnn import __version__

    index = _strict_json((exported / "INDEX.json").read_text())
    assert index["version"] == 2
    assert index["generator"]["version"] == __version__
    commit = index["generator"]["commit"]
    assert commit is None or len(commit) == 40
    assert "refuse a version it was not written for" in index["compatibility"]
    listed = index["files"] + index["other_files"]
    assert {f["file"] for f in listed} == {p.name for p in exported.iterdir()} - {"INDEX.json"}
    for entry in listed:
        assert entry["sha256"] == hashlib.sha256((exported / entry["file"]).read_bytes()
                                                 ).hexdigest()
    for entry in index["files"]:
        doc = golden.load(exported / entry["file"])
        assert len(doc["cases"]) == entry["cases"]
        assert sum(len(c["mutants"]) for c in doc["cases"]) == entry["mutants"]


def test_version_1_is_refused_clearly(tmp_path):
    path = tmp_path / "relu.json"
    path.write_text(json.dumps({"schema": golden.SCHEMA, "version": 1, "cases": []}))
    with pytest.raises(ValueError, match="version 1 is no longer read: run `tinygrad-cnn "
                                         "oracle export DIR` again"):
        golden.load(path)
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a tinygrad_cnn golden case file"):
        golden.load(path)


# ------------------------------------------------------------ the expected values re-check

def _params(case: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["params"].items()}


@pytest.mark.parametrize("op", OPS)
def test_every_case_rechecks_against_the_engine(files, op):
    n_exact = 0
    for case in files[op]["cases"]:
        arrays = [golden.decode(t) for t in case["inputs"]]
        tensors = [Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        out = getattr(F, op)(*tensors, **_params(case))
        out.backward(golden.decode(case["grad_out"]))
        rule = case["compare"]["float64"]
        assert golden.passes(out.numpy(), case["output"], rule), case["name"]
        grads = [t.grad.numpy() for t in tensors if t.dtype.kind == "f"]
        assert [g["name"] for g in case["gradients"]] == [
            t["name"] for t in case["inputs"] if t["differentiable"]]
        for g, t in zip(grads, case["gradients"], strict=True):
            assert golden.passes(g, t, rule), case["name"]
        if case["exact"]:  # in fractions, equal to the last digit
            n_exact += 1
            tensors = [Tensor(golden.decode(t, exact=True), requires_grad=True)
                       for t in case["inputs"]]
            out = getattr(F, op)(*tensors, **_params(case))
            out.backward(golden.decode(case["grad_out"], exact=True))
            assert [golden.rational(v) for v in out.numpy().reshape(-1)] == \
                case["output"]["data"]
            for t, g in zip(tensors, case["gradients"], strict=True):
                assert [golden.rational(v) for v in t.grad.numpy().reshape(-1)] == g["data"]
    assert n_exact == sum(c.exact for c in all_cases(op))


def _run(op: str, case: dict, dtype=np.float64, forward=None, backward=None):
    """What a runner does: the inputs in `dtype`, the forward and backward called."""
    forward = forward or oc.REFERENCE[op][0]
    backward = backward or oc.REFERENCE[op][1]
    arrays = [golden.decode(t) for t in case["inputs"]]
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    params = _params(case)
    with np.errstate(all="ignore"):  # the broken candidates overflow on purpose
        out = forward(*arrays, **params)
        grads = backward(*arrays, grad_out=golden.decode(case["grad_out"]).astype(dtype),
                         **params)
    return out, list(grads)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_compare_rules_accept_a_right_implementation_in_each_precision(files, dtype):
    # the loop-based NumPy reference of the tests, run in float64 and in float32
    for op in OPS:
        for case in files[op]["cases"]:
            out, grads = _run(op, case, np.dtype(dtype))
            rule = case["compare"][dtype]
            assert golden.passes(out, case["output"], rule), (op, case["name"], dtype)
            for g, t in zip(grads, case["gradients"], strict=True):
                assert golden.passes(g, t, rule), (op, case["name"], t["name"], dtype)
            assert golden.matching_mutants(case, out, grads, dtype) == [], (op, case["name"])


def test_the_exact_rule_holds_where_float64_cannot_be_exact(files):
    case = next(c for c in files["avg_pool2d"]["cases"] if c["name"] == "edge-padding-1")
    assert any("/9" in v for v in case["output"]["data"])  # 1/9 is not a float64 number
    out, _ = _run("avg_pool2d", case)
    expected = [float(Fraction(v)) for v in case["output"]["data"]]
    assert golden.passes(out, case["output"], case["compare"]["float64"])
    assert not golden.passes(out + 1e-9, case["output"], case["compare"]["float64"])
    # bit for bit, a float64 average of integers is not always the nearest float64 of p/q
    np.testing.assert_allclose(out.reshape(-1), expected, rtol=1e-15, atol=0)


# --------------------------------------------------------------------------- the mutants

@pytest.mark.parametrize("name", list(oc.BROKEN))
def test_a_runner_names_each_classic_mistake_from_the_mutants(files, name):
    op, forward, backward, key = oc.BROKEN[name]
    named = set()
    failed = 0
    backward = backward or oc.REFERENCE[op][1]
    for case in files[op]["cases"]:
        if not all(takes(fn, k) for fn in (forward, backward) for k in case["params"]):
            continue  # a later option this candidate does not take: a runner skips the case
        try:
            out, grads = _run(op, case, forward=forward, backward=backward)
        except (ValueError, IndexError):  # a wrong size can make the loop reference raise
            continue
        rule = case["compare"]["float64"]
        out_ok = (np.shape(out) == tuple(case["output"]["shape"])
                  and golden.passes(out, case["output"], rule))
        grads_ok = all(np.shape(g) == tuple(t["shape"]) and golden.passes(g, t, rule)
                       for g, t in zip(grads, case["gradients"], strict=True))
        if out_ok and grads_ok:
            continue
        failed += 1
        named |= set(golden.matching_mutants(case, None if out_ok else out,
                                             None if grads_ok else grads))
    assert failed and key in named, (name, named)


def test_mutants_change_their_case_and_name_known_mistakes(files):
    from spec.oracle.reference import TEXT

    total = 0
    for op, doc in files.items():
        assert set(doc["mistakes"]) <= set(TEXT)
        for case in doc["cases"]:
            for m in case["mutants"]:
                total += 1
                assert m["key"] in doc["mistakes"] and set(m.get("also", [])) <= set(TEXT)
                if m["stage"] == "forward" and m["match"] == "values":
                    assert not golden.passes(golden.decode(m["output"]), case["output"],
                                             case["compare"]["float64"]), (op, case["name"])
                elif m["stage"] == "backward":
                    assert not all(golden.passes(golden.decode(g), t, case["compare"]["float64"])
                                   for g, t in zip(m["gradients"], case["gradients"],
                                                   strict=True)), (op, case["name"], m["key"])
    assert total > 300


def test_max_shift_mutants_carry_non_finite_values_as_strings(exported, files):
    case = next(c for c in files["softmax"]["cases"] if c["name"] == "edge-large-logits")
    (m,) = [m for m in case["mutants"] if m["key"] == "softmax-without-max-shift"
            and m["stage"] == "forward"]
    assert "NaN" in m["output"]["data"]
    assert np.isnan(golden.decode(m["output"])).any()
    text = (exported / "softmax.json").read_text()
    assert "NaN," not in text.replace('"NaN",', "") and "Infinity," not in \
        text.replace('"Infinity",', "").replace('"-Infinity",', "")
    _strict_json(text)  # parses without any non-standard literal


# ------------------------------------------------------------------- encoding and fields

def test_encoding_round_trips_specials_and_scalars():
    values = np.array([0.1, -0.0, 1e-300, -2.5e17, np.nan, np.inf, -np.inf])
    t = golden.tensor(values)
    assert t["encoding"] == "float" and t["data"][4:] == ["NaN", "Infinity", "-Infinity"]
    back = golden.decode(json.loads(json.dumps(t, allow_nan=False)))
    np.testing.assert_array_equal(back, values)
    assert np.signbit(back[1])  # -0.0 keeps its sign
    scalar = golden.tensor(np.asarray(Fraction(1, 3), dtype=object), exact=True)
    assert scalar == {"shape": [], "dtype": "float64", "encoding": "rational",
                      "data": ["1/3"]}
    assert golden.decode(scalar, exact=True).shape == ()
    target = golden.tensor(np.array([2, 0]), "int64")
    assert target == {"shape": [2], "dtype": "int64", "data": [2, 0]}
    assert golden.rational(Fraction(-7, 3)) == "-7/3" and golden.rational(4) == "4"
    with pytest.raises(ValueError, match="exact=True needs a tensor with encoding 'rational'"):
        golden.decode(t, exact=True)


def test_tags_are_never_empty_start_with_the_kind_and_are_documented(files):
    seen = set()
    for doc in files.values():
        for case in doc["cases"]:
            assert case["tags"][0] == case["kind"]
            seen |= set(case["tags"])
    assert seen <= set(golden.TAG_TEXT), seen - set(golden.TAG_TEXT)
    by_name = {c["name"]: c["tags"] for c in files["conv2d"]["cases"]}
    assert "padding" in by_name["edge-padding-1"]
    assert "stride>kernel" in by_name["edge-stride-gt-kernel"]
    assert {"groups", "depthwise"} <= set(by_name["edge-depthwise"])
    assert "symmetric-kernel" in by_name["doc003-6x6-filters-1-2-stride-1"]
    assert "windows-overlap" not in by_name["edge-kernel-as-large-as-input"]
    pool = {c["name"]: c["tags"] for c in files["max_pool2d"]["cases"]}
    assert "tie" in pool["tie-first-max-gets-gradient"] and "windows-overlap" in \
        pool["edge-overlapping"]
    ce = {c["name"]: c["tags"] for c in files["cross_entropy"]["cases"]}
    assert "large-logits" in ce["edge-large-logits"] and "reduction-sum" in ce["edge-sum"]


def test_the_average_pooling_document_case_is_not_a_tie(files):
    (case,) = [c for c in files["avg_pool2d"]["cases"] if c["kind"] == "document"]
    assert case["finite_differences_apply"] and "tie" not in case["note"]
    assert "tie" not in case["tags"]
    (case,) = [c for c in files["max_pool2d"]["cases"] if c["kind"] == "document"]
    assert not case["finite_differences_apply"] and "tie" in case["tags"]


def test_the_readme_explains_every_field_tag_and_rule(exported, files):
    readme = (exported / "README.md").read_text()
    case_keys = set(files["conv2d"]["cases"][0]) | set(files["cross_entropy"]["cases"][0])
    header_keys = set(files["conv2d"]) - {"cases"}
    for key in case_keys | header_keys:
        assert f"`{key}`" in readme, key
    for tag in golden.TAG_TEXT:
        assert f"`{tag}`" in readme, tag
    for words in ("row-major", "vector-Jacobian product", '"NaN"', "-0.0", "shape `[]`",
                  "leading-block", "float32", "SHA-256", "negative counts from the end",
                  "document", "-?(0|[1-9][0-9]*)(/[1-9][0-9]*)?"):
        assert words in readme, words
    assert "Python" not in readme.replace("Nothing here needs Python", "")


def test_an_export_with_another_seed_is_valid_and_differs(tmp_path, exported):
    golden.export(tmp_path, seed=7)
    validator = jsonschema.Draft202012Validator(
        _strict_json((tmp_path / "golden.schema.json").read_text()))
    for op in OPS:
        doc = golden.load(tmp_path / f"{op}.json")
        assert validator.is_valid(doc), op
        assert doc["seed"] == 7
    ours = golden.load(tmp_path / "conv2d.json")["cases"]
    theirs = golden.load(exported / "conv2d.json")["cases"]
    assert [c for c in ours if c["kind"] == "random"] != \
        [c for c in theirs if c["kind"] == "random"]
    assert [c for c in ours if c["kind"] != "random"] == \
        [c for c in theirs if c["kind"] != "random"]


@pytest.mark.parametrize("key,flag", [("flipped-kernel", "flip"), ("bias-dropped", "drop_bias")])
def test_forward_mutants_carry_the_gradients_of_the_mistaken_forward(files, key, flag):
    # checked against an independent loop implementation with the mistake built in: the
    # mutant's output is its output, and its gradients are the directional derivative
    # of sum(grad_out * forward) by central differences (exact here: conv is bilinear)
    rng = np.random.default_rng(0)
    checked = 0
    for case in files["conv2d"]["cases"]:
        mutant = next((m for m in case["mutants"] if m["key"] == key
                       and m["stage"] == "forward" and "gradients" in m), None)
        if mutant is None:
            continue
        arrays = [golden.decode(t) for t in case["inputs"]]
        params = _params(case)

        def wrong(*a, params=params):
            return oc.conv2d(*a, **params, **{flag: True})

        assert golden.passes(wrong(*arrays), mutant["output"], case["compare"]["float64"])
        g = golden.decode(case["grad_out"])
        v = [rng.standard_normal(a.shape) for a in arrays]
        h = 1e-3
        plus = np.sum(g * wrong(*[a + h * d for a, d in zip(arrays, v, strict=True)]))
        minus = np.sum(g * wrong(*[a - h * d for a, d in zip(arrays, v, strict=True)]))
        grads = [golden.decode(t) for t in mutant["gradients"]]
        assert [t["name"] for t in mutant["gradients"]] == [t["name"] for t in case["inputs"]]
        directional = sum(np.sum(gr * d) for gr, d in zip(grads, v, strict=True))
        assert directional == pytest.approx((plus - minus) / (2 * h), rel=1e-7, abs=1e-7)
        checked += 1
    assert checked >= 5


def test_a_forward_mistake_invisible_in_the_output_is_a_backward_mutant(files):
    # a symmetric kernel: flipping it changes no output, but the flipped kernel's dL/dw is
    # dL/dw rotated by 180 degrees, which differs
    case = next(c for c in files["conv2d"]["cases"] if "symmetric-kernel" in c["tags"]
                and c["name"].startswith("doc003"))
    flipped = [m for m in case["mutants"] if m["key"] == "flipped-kernel"]
    assert flipped and all(m["stage"] == "backward" for m in flipped)
    dw = golden.decode(case["gradients"][1])
    assert any(golden.passes(np.flip(dw, axis=(2, 3)), m["gradients"][1],
                             case["compare"]["float64"]) for m in flipped)
