"""The oracle's diagnoses on the corpus's buggy submissions: each gets FAIL with the right
diagnosis and only the right ones; the forward and the backward are judged separately, so
a mistake in one never hides a mistake in the other; numbers that disagree are printed so
that they visibly disagree."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from spec import oracle
from spec.oracle.cases import all_cases
from spec.oracle.checker import close, diagnose, run_case, significant_digits
from spec.oracle.reference import TEXT, engine

sys.path.insert(0, str(Path(__file__).parent))
import oracle_candidates as oc  # noqa: E402
from oracle_corpus import arrays_numpy as an  # noqa: E402
from oracle_corpus import cs231n_buggy as cb  # noqa: E402
from oracle_corpus import nhwc_numpy as nh  # noqa: E402
from oracle_corpus.catalogue import BUGGY  # noqa: E402

FAST = {"isolate": False} if "isolate" in inspect.signature(oracle.check).parameters else {}


def check(op, forward, backward=None, **kwargs):
    return oracle.check(op, forward, backward, **FAST, **kwargs)


STAGE = {"flipped-kernel": "forward", "overlap-overwrite": "backward",
         "ties-every-max": "backward", "relu-grad-at-zero": "backward",
         "epsilon-in-log": "forward", "log-of-softmax": "forward",
         "softmax-without-max-shift": "forward", "max-pool-zero-padding": "forward",
         "ignores-grad-out": "backward", "weight-gradient-transposed": "backward"}


@pytest.mark.parametrize("name", list(BUGGY))
def test_buggy_submission_fails_with_exactly_the_right_diagnoses(name):
    op, forward, backward, kwargs, keys = BUGGY[name]
    report = check(op, forward, backward, **kwargs)
    text = str(report)
    assert not report.passed and "RESULT: FAIL" in text
    assert sorted(report.diagnoses) == sorted(keys), text
    assert "constant-factor" not in report.diagnoses
    for key in keys:  # each mistake is named, in words, with the direction it is in
        assert re.search(rf"DIAGNOSIS: {re.escape(TEXT[key][:30])}.*\[{STAGE[key]}\]", text), \
            (key, text)
        assert report.stages[key] == STAGE[key]


def test_the_corpus_has_every_new_diagnosis_and_every_style():
    found = {k for *_, keys in BUGGY.values() for k in keys}
    assert {"log-of-softmax", "epsilon-in-log", "ignores-grad-out", "ties-every-max",
            "overlap-overwrite"} <= found
    styles = {kw.get("style", "arrays") for _, _, _, kw, _ in BUGGY.values()}
    layouts = {kw.get("layout", "NCHW") for _, _, _, kw, _ in BUGGY.values()}
    assert styles == {"arrays", "cs231n", "layer"} and layouts == {"NCHW", "NHWC"}


# ------------------------------------------------------------- one diagnosis, not another

def test_log_of_softmax_is_not_called_a_missing_max_shift():
    # both give non-finite values on logits of 1e4, but not the same ones
    case = next(c for c in all_cases("log_softmax") if c.name == "edge-large-logits")
    shifted = run_case(an.log_softmax_of_softmax, None, case)
    naive = run_case(oc.EXTRA["softmax without the max shift (log_softmax)"][1], None, case)
    assert diagnose(shifted) == ["log-of-softmax"]
    assert diagnose(naive) == ["softmax-without-max-shift"]
    assert np.isneginf(shifted.output).any() and not np.isnan(shifted.output).any()


def test_the_epsilon_loss_is_not_a_constant_factor_and_its_backward_is_judged():
    report = check("cross_entropy", an.cross_entropy_epsilon, an.cross_entropy_backward_no_grad_out)
    assert "constant-factor" not in report.diagnoses
    assert report.diagnoses[0] == "epsilon-in-log"
    assert "ignores-grad-out" in report.diagnoses  # not hidden by the forward's mistake


def test_ignoring_grad_out_is_found_when_the_gradients_match_no_variant():
    # the exact derivative of the epsilon loss is a little off the reference, so no variant
    # (built from the reference) equals it: the oracle finds it by calling the backward with
    # another grad_out
    case = next(c for c in all_cases("cross_entropy") if c.name == "edge-mean")
    result = run_case(an.cross_entropy_epsilon, an.cross_entropy_epsilon_backward_no_grad_out,
                      case)
    ones = engine(case, grad_out=np.ones_like(case.grad_out))[1][0]
    assert not close(result.grads[0], ones)
    assert "ignores-grad-out" not in diagnose(result)  # the variants alone miss it
    assert "ignores-grad-out" in diagnose(
        result, backward=an.cross_entropy_epsilon_backward_no_grad_out)


def test_a_right_backward_is_never_said_to_ignore_grad_out():
    forward, backward = oc.REFERENCE["cross_entropy"]
    report = check("cross_entropy", an.cross_entropy_epsilon, backward)
    assert report.diagnoses == ["epsilon-in-log"]
    forward, backward = oc.REFERENCE["max_pool2d"]
    report = check("max_pool2d", forward, nh.max_pool2d_backward_mask)  # NCHW given as NHWC
    assert "ignores-grad-out" not in report.diagnoses


def test_every_element_and_every_tied_maximum_are_told_apart():
    # on a window of four equal values they give the same numbers; the other cases decide
    op, forward, backward, _ = oc.BROKEN["max-pool gradient sent to every element"]
    report = check(op, forward, backward)
    assert report.diagnoses == ["max-pool-gradient-to-every-element"]
    report = check("max_pool2d", cb.max_pool_forward, cb.max_pool_backward_mask_add,
                   style="cs231n")
    assert report.diagnoses == ["ties-every-max"]
    # the all-equal window is one of the failing cases, where both variants match
    all_equal = next(r for r in report.failed if r.case.name == "tie-all-equal-window")
    assert sorted(diagnose(all_equal)) == ["max-pool-gradient-to-every-element",
                                           "ties-every-max"]


@pytest.mark.parametrize("combine", ["cell", "window", "offset"])
def test_each_form_of_overwriting_is_recognised(combine):
    from spec.oracle.reference import _max_pool_dx

    def backward(x, kernel_size, stride, padding, dilation, *, grad_out):
        case = _case_for(x, kernel_size, stride, padding, dilation, grad_out)
        return (_max_pool_dx(case, "first", combine),)

    report = check("max_pool2d", oc.max_pool2d, backward)
    assert report.diagnoses == ["overlap-overwrite"], str(report)


def _case_for(x, kernel_size, stride, padding, dilation, grad_out):
    """A Case holding these arrays (the variant helpers read their inputs from a Case)."""
    from spec.oracle.cases import Case

    def pair(v):
        return tuple(v) if isinstance(v, tuple) else (v, v)

    kh, kw = pair(kernel_size)
    config = {"n": x.shape[0], "c": x.shape[1], "h": x.shape[2], "w": x.shape[3], "kh": kh,
              "kw": kw, "s": pair(stride), "p": pair(padding), "d": pair(dilation)}
    params = {"kernel_size": kernel_size, "stride": stride, "padding": padding,
              "dilation": dilation}
    return Case("max_pool2d", "probe", "edge", config, {"x": x}, params, grad_out)


# ---------------------------------------------------------- forward and backward separately

def test_a_forward_mistake_does_not_hide_a_backward_mistake():
    report = check("conv2d", an.conv2d_flipped_forward_transposed_dw,
                   an.conv2d_backward_dw_transposed)
    assert report.stages == {"flipped-kernel": "forward",
                             "weight-gradient-transposed": "backward"}
    text = str(report)
    assert text.count("\nDIAGNOSIS: ") == 2 and "also consistent with" not in text


# ------------------------------------------------------------------ numbers that disagree

def test_a_scalar_that_disagrees_is_printed_with_enough_digits():
    def loss(logits, target, reduction="mean"):  # a scalar 3e-7 relative too large
        out = oc.cross_entropy(logits, target, reduction)
        return out if reduction == "none" else out * (1 + 3e-7)

    report = check("cross_entropy", loss)
    assert not report.passed
    for r in report.failed:
        problem = r.problems[0]
        if problem.actual is None or np.asarray(problem.expected).shape:
            continue
        expected, got = re.search(r"expected (\S+), got (\S+) ", problem.message).groups()
        assert expected != got, problem.message
        assert float(expected) == pytest.approx(float(problem.expected), rel=1e-9)
    text = str(report)
    block = text[text.index("SMALLEST"):]
    shown = re.findall(r"output \(shape \[\]\):\n\s+(\S+)", block)
    assert len(shown) == 2 and shown[0] != shown[1], block


def test_constant_factor_is_never_claimed_from_a_single_number():
    def loss(logits, target, reduction="mean"):  # scalars twice too large, vectors right
        out = oc.cross_entropy(logits, target, reduction)
        return out if reduction == "none" else 2 * out

    report = check("cross_entropy", loss)
    assert not report.passed and report.diagnoses == []
    report = check("cross_entropy", lambda *a, **p: 2 * oc.cross_entropy(*a, **p))
    assert report.diagnoses == ["constant-factor"]  # the 'none' cases are vectors


def test_significant_digits():
    assert significant_digits(0.733947, 0.7339472) >= 8
    assert f"{0.7339470:.{significant_digits(0.733947, 0.7339472)}g}" != \
        f"{0.7339472:.{significant_digits(0.733947, 0.7339472)}g}"
    assert significant_digits(1.0, 1.0 + 2**-52) == 17
    assert significant_digits(3.0, 5.0) == 10


def test_weight_gradient_overwritten_in_a_naive_loop():
    """A CS231n naive conv backward with 'dw[f] = ...' instead of '+=' (the weight gradient
    keeps only the last window of the last image) is named as such."""

    def forward(x, w, b, conv_param):
        s, p = conv_param["stride"], conv_param["pad"]
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        n, _, h, wd = x.shape
        f, _, kh, kw = w.shape
        oh, ow = 1 + (h + 2 * p - kh) // s, 1 + (wd + 2 * p - kw) // s
        out = np.zeros((n, f, oh, ow))
        for i in range(oh):
            for j in range(ow):
                win = xp[:, :, i * s:i * s + kh, j * s:j * s + kw]
                out[:, :, i, j] = np.einsum("nchw,fchw->nf", win, w) + b
        return out, (x, w, b, conv_param)

    def backward(dout, cache):
        x, w, b, conv_param = cache
        s, p = conv_param["stride"], conv_param["pad"]
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        n, f, oh, ow = dout.shape
        _, _, kh, kw = w.shape
        for k in range(n):
            for o in range(f):
                for i in range(oh):
                    for j in range(ow):
                        win = xp[k, :, i * s:i * s + kh, j * s:j * s + kw]
                        dxp[k, :, i * s:i * s + kh, j * s:j * s + kw] += w[o] * dout[k, o, i, j]
                        dw[o] = win * dout[k, o, i, j]  # the bug: '=' instead of '+='
        dx = dxp[:, :, p:xp.shape[2] - p, p:xp.shape[3] - p]
        return dx, dw, dout.sum(axis=(0, 2, 3))

    report = oracle.check("conv2d", forward, backward, style="cs231n", isolate=False)
    assert not report.passed
    assert report.diagnoses[0] == "weight-gradient-overwritten", str(report)
    assert "dw[f] += ..." in str(report)
