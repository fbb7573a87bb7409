"""The scope an implementation declares: ``supports=`` (a dict or a predicate), a
``NotImplementedError`` meaning "not supported", ``strict``, what ``Report.passed`` means,
and the printed "checked / not checked" lines."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from spec import oracle
from spec.oracle import adapters
from spec.oracle.scope import Scope, _ranges, parameters
from tinygrad_cnn.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).parent))
import oracle_candidates as oc  # noqa: E402

TESTS = str(Path(__file__).parent)
conv2d, conv2d_backward = oc.REFERENCE["conv2d"]


def no_groups_no_dilation(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """A correct convolution that silently ignores groups and dilation (wrong there)."""
    return conv2d(x, w[:, :1].repeat(x.shape[1], axis=1) if groups != 1 else w, b, stride,
                  padding, 1, 1)


def refuses_groups(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1:
        raise NotImplementedError("groups > 1")
    return conv2d(x, w, b, stride, padding, dilation, groups)


def refuses_groups_and_flips(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1:
        raise NotImplementedError("groups > 1")
    return conv2d(x, w, b, stride, padding, dilation, groups, flip=True)


def refuses_everything(*arrays, **params):
    raise NotImplementedError


# ------------------------------------------------------------------------------ supports


def test_supports_dict_skips_what_is_outside_and_a_partial_implementation_passes():
    report = oracle.check("conv2d", no_groups_no_dilation)
    assert not report.passed  # without the declaration, groups and dilation fail
    supports = {"groups": {1}, "dilation": {1}}
    report = oracle.check("conv2d", no_groups_no_dilation, supports=supports)
    text = str(report)
    assert report.passed, text
    assert report.unsupported and report.results
    for u in report.unsupported:
        assert u.source == "supports"
        assert u.case.params["groups"] != 1 or u.case.params["dilation"] != 1
        assert "is outside supports (groups in {1}, dilation in {1})" in u.reason
    for r in report.results:
        assert r.case.params["groups"] == 1 and r.case.params["dilation"] == 1
    assert "supports: groups in {1}, dilation in {1}" in text
    assert "  skip  edge      edge-groups-2" in text
    assert "not run: groups=2 is outside supports" in text
    assert f"RESULT: PASS ({len(report.results)} of {len(report.results)} cases in scope " \
        f"passed; {len(report.unsupported)} not run)" in text


def test_random_cases_outside_the_scope_are_replaced_by_ones_inside():
    report = oracle.check("conv2d", conv2d, conv2d_backward, supports={"dilation": 1})
    ran = [r.case for r in report.results if r.case.kind == "random"]
    assert len(ran) == 4 and all(c.params["dilation"] == 1 for c in ran)
    skipped = [u.case.name for u in report.unsupported if u.case.kind == "random"]
    assert skipped  # seed 0 draws random dilations: they are listed, not silently dropped


def test_supports_values_single_collections_predicates_and_pairs():
    case = next(c for c in oracle.all_cases("conv2d") if c.params["stride"] == (1, 2))
    assert Scope("conv2d", {"stride": {1, 2}}).reason(case) is not None  # (1, 2) is a pair
    assert Scope("conv2d", {"stride": [1, (1, 2)]}).reason(case) is None
    assert Scope("conv2d", {"stride": (1, (1, 2))}).reason(case) is None  # a tuple of values
    assert Scope("conv2d", {"stride": lambda s: s != (1, 2)}).reason(case) is not None
    assert Scope("conv2d", {"groups": 1}).reason(case) is None
    no_bias = next(c for c in oracle.all_cases("conv2d") if "b" not in c.arrays)
    assert Scope("conv2d", {"bias": True}).reason(no_bias) == \
        "bias=False is outside supports (bias=True)"
    assert Scope("conv2d", {"bias": {1}}).reason(no_bias) is not None  # a bool is not 1
    ce = oracle.all_cases("cross_entropy")[0]
    assert Scope("cross_entropy", {"reduction": "mean"}).reason(ce) is None
    assert Scope("cross_entropy", {"reduction": ["sum"]}).reason(ce) is not None


def test_supports_names_are_checked():
    with pytest.raises(ValueError, match=r"supports: conv2d has no parameter 'strides'; its "
                                         r"parameters are stride, padding, dilation, groups, "
                                         r"bias"):
        oracle.check("conv2d", conv2d, supports={"strides": {1}})
    with pytest.raises(ValueError, match="relu has no parameter 'axis'"):
        oracle.check("relu", oc.relu, supports={"axis": -1})
    with pytest.raises(TypeError, match="supports: expected a dict"):
        oracle.check("relu", oc.relu, supports=[("axis", -1)])
    assert "kernel_size" in parameters("max_pool2d")


def test_supports_predicate_on_a_case():
    def no_padding(case):
        return case.params.get("padding", 0) == 0

    report = oracle.check("max_pool2d", *oc.REFERENCE["max_pool2d"], supports=no_padding)
    assert report.passed, str(report)
    assert all(r.case.params["padding"] == 0 for r in report.results)
    assert report.unsupported and all(
        u.case.params["padding"] != 0 and "no_padding is false for max_pool2d(" in u.reason
        for u in report.unsupported)
    assert "supports: cases where no_padding is true" in str(report)


def test_a_predicate_that_raises_is_the_callers_error_not_the_candidates():
    with pytest.raises(ValueError, match=r"supports: the predicate raised KeyError"):
        oracle.check("relu", oc.relu, supports=lambda case: case.params["padding"] == 0)


def test_shrinking_stays_inside_the_scope():
    def big(case):
        return case.arrays["x"].shape[2] >= 4

    flipped = oc.BROKEN["flipped kernel"][1]
    free = oracle.check("conv2d", flipped)
    assert free.failure.case.arrays["x"].shape[2] < 4  # unconstrained, it shrinks below 4
    report = oracle.check("conv2d", flipped, supports=big)
    assert not report.passed and report.failure.steps > 0
    assert report.failure.case.arrays["x"].shape[2] >= 4
    assert report.diagnoses[0] == "flipped-kernel"


# --------------------------------------------------------------------- NotImplementedError


def test_not_implemented_marks_the_case_unsupported():
    report = oracle.check("conv2d", refuses_groups, conv2d_backward)
    text = str(report)
    assert report.passed, text
    groups = [u for u in report.unsupported if u.source == "not-implemented"]
    assert groups and all(u.case.params["groups"] != 1 for u in groups)
    assert all(u.reason.startswith("its forward raised NotImplementedError: groups > 1 (at ")
               for u in groups)
    assert all(r.case.params["groups"] == 1 for r in report.results)
    assert "groups 2, 3 (NotImplementedError)" in text
    assert report.failure is None and "SMALLEST FAILING CASE" not in text


def test_not_implemented_is_never_shrunk_or_called_a_failure():
    report = oracle.check("conv2d", refuses_groups_and_flips, conv2d_backward)
    assert not report.passed
    assert report.diagnoses[0] == "flipped-kernel"  # the real bug is the one shown
    assert report.failure.result.problems[0].category == "values"
    assert all(r.problems[0].category != "not-implemented" for r in report.failed)
    report = oracle.check("relu", refuses_everything)
    text = str(report)
    assert report.results == [] and len(report.unsupported) == len(oracle.all_cases("relu"))
    assert not report.passed and report.failure is None
    assert "RESULT: FAIL (no case in scope ran, so nothing was checked; 7 not run)" in text


def test_a_wrong_forward_is_a_failure_even_when_the_backward_refuses():
    def backward(*arrays, grad_out, **params):
        raise NotImplementedError("no backward")

    report = oracle.check("relu", oc.relu_double, backward)
    assert not report.passed and not report.unsupported
    assert report.failure.result.problems[0].stage == "forward"
    assert "also: backward: gradients: raised NotImplementedError: no backward" in str(report)


# --------------------------------------------------------------------------------- strict


def test_strict_counts_unsupported_cases_as_failures():
    report = oracle.check("conv2d", refuses_groups, conv2d_backward, strict=True)
    assert not report.passed and report.unsupported and not report.failed
    assert "which strict counts as failures" in str(report)
    assert "RESULT: FAIL" in str(report)
    full = oracle.check("conv2d", conv2d, conv2d_backward, strict=True)
    assert full.passed and not full.unsupported


def test_passed_means_every_case_in_scope_passed_and_one_ran():
    report = oracle.check("relu", oc.relu, supports=lambda case: False)
    assert report.results == [] and not report.passed
    report = oracle.check("relu", oc.relu, supports=lambda case: case.kind == "tie")
    assert len(report.results) == 1 and report.passed


# -------------------------------------------------------------------- the printed summary


def test_checked_and_not_checked_lines():
    report = oracle.check("conv2d", refuses_groups, conv2d_backward,
                          supports={"dilation": {1}})
    checked, not_checked = report.checked
    assert checked.startswith("stride 1–3")
    assert "dilation 1;" in checked and "groups 1;" in checked
    assert "bias without, with" in checked
    assert "dilation 2, (1, 2) (not supported)" in not_checked
    assert "groups 2, 3 (NotImplementedError" in not_checked
    text = str(report)
    assert f"\nchecked: {checked}\nnot checked: {not_checked}\n" in text
    full = str(oracle.check("relu", oc.relu))
    assert "checked: 7 cases (this op has no parameters)\nnot checked: nothing" in full


def test_value_ranges():
    assert _ranges([3, 1, 2, 5, (1, 2)]) == "1–3, 5, (1, 2)"
    assert _ranges([0, 1]) == "0, 1"
    assert _ranges(["sum", "mean"]) == "'mean', 'sum'"
    assert _ranges([True, False]) == "without, with"


# ----------------------------------------------------------------- the style's own scope


def test_cases_the_style_cannot_express_are_listed_as_unsupported(monkeypatch):
    class NoPairs(adapters.Adapted):
        def out_of_scope(self, case):
            if any(isinstance(v, tuple) for v in case.params.values()):
                return "this style has one stride and one padding for both axes"
            return None

    def adapt(op, forward, backward=None, **kwargs):
        return NoPairs(forward, backward)

    monkeypatch.setattr(adapters, "adapt", adapt)
    report = oracle.check("conv2d", conv2d, conv2d_backward)
    assert report.passed, str(report)
    styled = [u for u in report.unsupported if u.source == "style"]
    assert styled and all("one stride and one padding" in u.reason for u in styled)
    assert "(the style cannot express it)" in str(report)
    flipped = oc.BROKEN["flipped kernel"][1]
    report = oracle.check("conv2d", flipped)  # shrinking stays inside the style too
    assert not any(isinstance(v, tuple) for v in report.failure.case.params.values())


# ------------------------------------------------------------------------------------ CLI


def test_cli_supports_and_strict(capsys):
    base = ["oracle", "conv2d", "test_oracle_scope:refuses_groups", "--path", TESTS,
            "--backward", "oracle_candidates:conv2d_backward"]
    assert cli_main(base + ["--supports", "dilation=1", "--supports", "stride=1,2,3,(1,2)",
                            "--supports", "stride=(3,1)"]) == 0
    out = capsys.readouterr().out
    assert "supports: dilation in {1}, stride in {(1, 2), (3, 1), 1, 2, 3}" in out
    assert "not checked: dilation 2" in out and "RESULT: PASS" in out
    assert cli_main(base + ["--strict"]) == 1
    assert "which strict counts as failures" in capsys.readouterr().out
    assert cli_main(base + ["--supports", "strides=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinygrad-cnn oracle: supports: conv2d has no parameter 'strides'")
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        cli_main(base + ["--supports", "groups"])
    assert exc.value.code == 2 and "expected NAME=VALUE" in capsys.readouterr().err
    assert cli_main(["oracle", "cross_entropy", "oracle_candidates:cross_entropy",
                     "--path", TESTS, "--supports", "reduction=mean,sum"]) == 0
    assert "reduction 'mean', 'sum'" in capsys.readouterr().out


def test_float_arrays_still_reach_the_candidate_unchanged():
    seen = []

    def spy(x):
        seen.append((x.dtype, x.shape))
        return np.maximum(x, 0)

    assert oracle.check("relu", spy, isolate=False).passed
    assert seen and all(d == np.float64 for d, _ in seen)


# ------------------------------------------------------ options the signature lacks


def classic_conv2d(x, w, b=None, stride=1, padding=0):
    """The common student signature: no dilation, no groups."""
    return conv2d(x, w, b, stride, padding, 1, 1)


def classic_conv2d_backward(x, w, b=None, *, grad_out, stride=1, padding=0):
    return conv2d_backward(x, w, b, grad_out=grad_out, stride=stride, padding=padding)


def classic_conv2d_flipped(x, w, b=None, stride=1, padding=0):
    return conv2d(x, w, b, stride, padding, 1, 1, flip=True)


def plain_softmax(x):
    """softmax over the last axis, with no axis parameter at all."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("isolate", [False, True])
def test_a_correct_function_without_dilation_or_groups_passes(isolate):
    report = oracle.check("conv2d", classic_conv2d, classic_conv2d_backward, isolate=isolate)
    text = str(report)
    assert report.passed, text
    assert report.results and report.unsupported
    for r in report.results:  # run only where dilation and groups are the defaults
        assert r.case.params.get("dilation", 1) in (1, (1, 1))
        assert r.case.params.get("groups", 1) == 1
    for u in report.unsupported:
        assert u.source == "signature"
        assert u.reason.startswith("does not take ")
    assert "not run: does not take dilation" in text
    assert "not run: does not take groups" in text
    assert "the function lacks an option these cases use" in text


def test_a_wrong_function_without_dilation_is_still_caught_and_strict_counts_the_rest():
    wrong = oracle.check("conv2d", classic_conv2d_flipped)
    assert not wrong.passed and wrong.failed
    strict = oracle.check("conv2d", classic_conv2d, classic_conv2d_backward, strict=True)
    assert not strict.passed and not strict.failed and strict.unsupported


def test_a_softmax_without_an_axis_parameter_is_checked_on_the_last_axis():
    report = oracle.check("softmax", plain_softmax)
    assert report.passed, str(report)
    assert all(adapters._is_default(r.case.params.get("axis", -1), -1)
               for r in report.results)


def test_defaults_are_read_from_the_functional_api():
    defaults = adapters._defaults("conv2d")
    assert defaults["dilation"] == 1 and defaults["groups"] == 1 and defaults["padding"] == 0
    assert adapters._is_default((1, 1), 1) and not adapters._is_default((1, 2), 1)
    assert not adapters._is_default("same", 0) and adapters._is_default(None, None)
    assert not adapters._is_default((0.2, 0.8), None)
