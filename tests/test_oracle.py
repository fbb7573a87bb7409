"""Tests of spec.oracle: it accepts right implementations, rejects broken ones with the right
diagnosis and never crashes on a misbehaving candidate (golden files: tests/test_golden.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from spec import oracle, output_size
from spec.oracle.cases import OPS, all_cases, expected_shape
from tinygrad_cnn import Tensor
from tinygrad_cnn.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).parent))
import oracle_candidates as oc  # noqa: E402
from conftest import optional

TESTS = str(Path(__file__).parent)


def engine_candidate(op: str):
    """The engine itself, wrapped in the NumPy-in / NumPy-out contract."""

    def forward(*arrays, **params):
        return getattr(F, op)(*arrays, **params).numpy()

    def backward(*arrays, grad_out, **params):
        tensors = [Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        getattr(F, op)(*tensors, **params).backward(grad_out)
        return tuple(t.grad.numpy() for t in tensors if t.dtype.kind == "f")

    return forward, backward


# ------------------------------------------------------------------- right implementations


@pytest.mark.parametrize("op", OPS)
def test_engine_passes(op):
    report = oracle.check(op, *engine_candidate(op))
    assert report.passed, str(report)
    assert "RESULT: PASS" in str(report)


@pytest.mark.parametrize("op", OPS)
def test_loop_reference_passes(op):
    forward, backward = oc.REFERENCE[op]
    report = oracle.check(op, forward, backward, seed=3)
    assert report.passed, str(report)
    assert report.failure is None and report.diagnoses == []


def test_every_op_has_document_or_edge_and_random_cases():
    for op in OPS:
        kinds = {c.kind for c in all_cases(op)}
        assert {"edge", "random"} <= kinds, op
    assert {c.kind for c in all_cases("conv2d")} >= {"document"}
    assert {c.kind for c in all_cases("max_pool2d")} >= {"document", "tie"}


# ---------------------------------------------------------------- broken implementations


ALL_BROKEN = {**oc.BROKEN, **oc.EXTRA}


@pytest.mark.parametrize("name", list(ALL_BROKEN))
def test_broken_is_rejected_with_the_right_diagnosis(name):
    op, forward, backward, key = ALL_BROKEN[name]
    report = oracle.check(op, forward, backward)
    text = str(report)
    assert not report.passed
    assert report.diagnoses[0] == key, text
    # the diagnosis names the mistake in words
    assert f"DIAGNOSIS: {name.split(' (')[0]}" in text, text
    assert "SMALLEST FAILING CASE" in text and "RESULT: FAIL" in text


def test_catch_and_diagnosis_counts(capsys):
    caught = diagnosed = 0
    for op, forward, backward, key in oc.BROKEN.values():
        report = oracle.check(op, forward, backward)
        caught += not report.passed
        diagnosed += bool(report.diagnoses) and report.diagnoses[0] == key
    total = len(oc.BROKEN)
    extra = sum(oracle.check(op, f, b).diagnoses[:1] == [key]
                for op, f, b, key in oc.EXTRA.values())
    with capsys.disabled():
        print(f"\noracle: caught {caught}/{total}, diagnosed {diagnosed}/{total} classic "
              f"mistakes; {extra}/{len(oc.EXTRA)} further mistakes caught and diagnosed")
    assert total >= 13  # at least one per classic mistake of issue 4
    assert caught == total
    assert diagnosed == total
    assert extra == len(oc.EXTRA)


def test_shrinking_finds_a_smaller_failing_case():
    _, forward, _, _ = oc.BROKEN["flipped kernel"]
    report = oracle.check("conv2d", forward)
    failure = report.failure
    shrunk = failure.case
    original = next(c for c in all_cases("conv2d") if c.name == failure.original)
    assert failure.steps > 0
    assert shrunk.arrays["x"].size < original.arrays["x"].size
    assert shrunk.arrays["w"].size <= original.arrays["w"].size
    # the shrunk case still fails, and the report shows where
    assert not failure.result.passed
    assert "first at index" in str(report)


def test_finite_differences_find_a_backward_bug_of_the_candidate():
    # correct forward, backward twice too large: disagrees with the engine AND with finite
    # differences of its own forward
    report = oracle.check("relu", oc.relu, oc.backward_inconsistent)
    stages = {p.stage for r in report.failed for p in r.problems}
    assert "finite differences" in stages
    assert report.diagnoses == ["constant-factor"]
    assert "also: finite differences: dL/dx: your backward disagrees" in str(report)
    # a self-consistent pair (both twice relu) disagrees with the engine but not with
    # finite differences: the backward follows its own forward
    report = oracle.check("relu", oc.relu_double, oc.backward_inconsistent)
    stages = {p.stage for r in report.failed for p in r.problems}
    assert not report.passed and "finite differences" not in stages
    assert "forward" in stages and "backward" in stages
    assert report.failure.result.fd_checked


# ------------------------------------------------------------------ misbehaving candidates


@pytest.mark.parametrize("forward, words", [
    (oc.raises, "raised RuntimeError: not implemented yet"),
    (oc.returns_nan, "returned nan"),
    (oc.returns_list, "returned list, expected a numpy.ndarray"),
    (oc.returns_int, "returned dtype int64"),
    (oc.returns_wrong_shape, "returned shape"),
])
def test_misbehaving_forward_is_a_failure_not_a_crash(forward, words):
    report = oracle.check("relu", forward)
    assert not report.passed
    assert words in str(report)


def test_misbehaving_backward_is_a_failure_not_a_crash():
    report = oracle.check("conv2d", oc.conv2d, oc.backward_wrong_count)
    assert not report.passed
    assert "expected a tuple of" in str(report)
    report = oracle.check("conv2d", oc.conv2d, oc.raises)
    assert not report.passed and "raised RuntimeError" in str(report)


def test_a_hanging_candidate_is_stopped_and_not_called_again():
    import signal
    import time

    handler = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    report = oracle.check("relu", oc.loops_forever, timeout=0.2)
    elapsed = time.perf_counter() - start
    assert not report.passed
    problems = [r.problems[0] for r in report.failed]
    assert len(problems) == len(report.results)  # every case fails ...
    assert problems[0].category == "timeout" and "did not return within 0.2 s" in \
        problems[0].message
    assert all(p.category == "timeout" and "not run" in p.message for p in problems[1:])
    assert elapsed < 5, elapsed  # ... but only the first one waited for the limit
    assert report.failure is not None and report.failure.steps == 0
    assert "did not return within 0.2 s" in str(report)
    assert f"FAILING CASE (case {report.results[0].case.name}, where the time limit stopped" \
        in str(report)
    assert "DIAGNOSIS: it did not return in time" in str(report)
    assert signal.getsignal(signal.SIGALRM) is handler  # the handler is put back


def test_a_hanging_backward_is_stopped_and_the_forward_still_checked():
    forward, _ = oc.REFERENCE["relu"]
    report = oracle.check("relu", forward, oc.slow_backward, timeout=0.2)
    assert not report.passed
    assert all(r.problems[0].stage == "backward" and r.problems[0].category == "timeout"
               for r in report.failed)
    assert all(r.output is not None for r in report.results)  # forwards ran and matched


def test_no_time_limit_and_a_right_candidate_within_it():
    forward, backward = oc.REFERENCE["softmax"]
    assert oracle.check("softmax", forward, backward, timeout=None).passed
    assert oracle.check("softmax", forward, backward, timeout=30).passed


@pytest.mark.parametrize("op", ["conv2d", "softmax", "cross_entropy"])
def test_float32_candidate_is_accepted(op):
    forward, backward = oc.REFERENCE[op]

    def to32(arrays):
        return [a.astype(np.float32) if a.dtype.kind == "f" else a for a in arrays]

    def forward32(*arrays, **params):
        return np.asarray(forward(*to32(arrays), **params), dtype=np.float32)

    def backward32(*arrays, grad_out, **params):
        grads = backward(*to32(arrays), grad_out=grad_out.astype(np.float32), **params)
        return tuple(g.astype(np.float32) for g in grads)

    report = oracle.check(op, forward32, backward32)
    assert report.passed, str(report)


def test_unknown_op_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown op 'conv3d'"):
        oracle.check("conv3d", oc.relu)


# ------------------------------------------------------------------------------ cases


def test_expected_shapes_come_from_output_size():
    for case in all_cases("conv2d"):
        c = case.config
        assert expected_shape("conv2d", c)[2] == output_size(c["h"], c["kh"], c["s"][0],
                                                             c["p"][0], c["d"][0])


def test_no_ties_outside_the_tie_cases():
    for op in ("max_pool2d", "relu"):
        for case in all_cases(op, seed=5):
            if case.kind in ("tie", "document"):
                continue
            x = case.arrays["x"]
            assert len(np.unique(x)) == x.size, case.name
            assert case.fd


@pytest.mark.torch
def test_max_tie_convention_is_pytorchs():
    torch = optional("torch", "the cross-check of the tie convention")
    for case in all_cases("max_pool2d"):
        if case.kind not in ("tie", "document"):
            continue
        x = torch.tensor(case.arrays["x"], requires_grad=True)
        p = case.params
        y = torch.nn.functional.max_pool2d(x, p["kernel_size"], p["stride"], p["padding"],
                                           p["dilation"])
        y.backward(torch.tensor(case.grad_out))
        _, grads = oracle.reference.engine(case)
        np.testing.assert_array_equal(x.grad.numpy(), grads[0], err_msg=case.name)


def test_document_cases_reproduce_the_printed_numbers():
    cases = {c.name: c for c in all_cases("conv2d")}
    out = oracle.reference.engine(cases["doc001-5x5-filter-3x3"])[0]
    assert out[0, 0, 0, 0] == 3 * 1 + 9 * 1 + 7 * 1 + 6 * 1  # seed 001: the first window
    out = oracle.reference.engine(cases["doc004-7x7-feature-detector"])[0][0, 0]
    # seed 004, the feature map's first three rows as printed, except row 3, column 3
    # (1-based): printed 1, but that window holds a single 1 under a 0 of the detector
    assert out[:2].tolist() == [[0, 1, 0, 0, 0], [0, 1, 1, 1, 0]]
    assert out[2].tolist() == [1, 0, 0, 2, 1]
    out = oracle.reference.engine(cases["doc003-6x6-filters-1-2-stride-1"])[0]
    assert out.shape == (1, 2, 4, 4) and out[0, 0, 0, 0] == 3  # filter 1 on the top-left


def test_document_arrays_match_spec_documents():
    documents = pytest.importorskip("spec.documents", reason="the spec's transcriptions")
    from spec.oracle import cases

    pairs = [(cases.DOC001_IMAGE, documents.SEED_001_INPUT),
             (cases.DOC001_FILTER, documents.SEED_001_FILTER),
             (cases.DOC003_IMAGE, documents.SEED_003_IMAGE),
             (cases.DOC003_FILTER1, documents.SEED_003_FILTER_1),
             (cases.DOC003_FILTER2, documents.SEED_003_FILTER_2),
             (cases.DOC004_IMAGE, documents.SEED_004_INPUT),
             (cases.DOC004_DETECTOR, documents.SEED_004_DETECTOR)]
    for ours, theirs in pairs:
        assert ours == theirs


# ------------------------------------------------------------------------ assert_matches


def test_assert_matches():
    report = oracle.assert_matches("softmax", *oc.REFERENCE["softmax"])
    assert report.passed
    op, forward, backward, _ = oc.BROKEN["softmax without the max shift"]
    with pytest.raises(AssertionError, match="DIAGNOSIS: softmax without the max shift"):
        oracle.assert_matches(op, forward, backward)


# ---------------------------------------------------------------------------------- CLI


def test_cli_exit_codes(capsys):
    assert cli_main(["oracle", "conv2d", "oracle_candidates:conv2d", "--backward",
                     "oracle_candidates:conv2d_backward", "--path", TESTS]) == 0
    assert "RESULT: PASS" in capsys.readouterr().out
    assert cli_main(["oracle", "softmax", "oracle_candidates:returns_nan",
                     "--path", TESTS, "--seed", "2"]) == 1
    assert "RESULT: FAIL" in capsys.readouterr().out
    assert cli_main(["oracle", "relu", "oracle_candidates:no_such_function",
                     "--path", TESTS]) == 2
    assert "has no attribute 'no_such_function'" in capsys.readouterr().err
    assert cli_main(["oracle", "relu", "no_such_module_xyz:f"]) == 2
    assert "cannot import module 'no_such_module_xyz'" in capsys.readouterr().err
    assert cli_main(["oracle", "relu", "not-a-target"]) == 2
    assert cli_main(["oracle", "conv3d", "oracle_candidates:relu", "--path", TESTS]) == 2
    assert cli_main(["oracle", "relu", "oracle_candidates:loops_forever", "--path", TESTS,
                     "--timeout", "0.2"]) == 1
    assert "did not return within 0.2 s" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli_main(["oracle", "relu", "oracle_candidates:relu", "--timeout", "-1"])
    assert exc.value.code == 2 and "expected a finite number >= 0" in capsys.readouterr().err


def test_main_accepts_an_argument_list(capsys):
    assert oracle.main(["relu", "oracle_candidates:relu", "--backward",
                        "oracle_candidates:relu_backward", "--path", TESTS]) == 0
    assert "RESULT: PASS" in capsys.readouterr().out


def test_python_m_spec_oracle():
    import subprocess

    done = subprocess.run([sys.executable, "-m", "spec.oracle", "relu", "oracle_candidates:raises",
                           "--path", TESTS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "raised RuntimeError: not implemented yet" in done.stdout


# The golden files (oracle export) are tested in tests/test_golden.py.
