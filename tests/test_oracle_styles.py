"""The oracle's calling styles and layouts (spec.oracle.adapters): the corpus's right
submissions in each convention pass with no glue, what a style cannot express is listed as
out of scope with the reason, and a submission that breaks its style's rules gets a clear
failure, never a crash."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from spec import oracle
from spec.oracle import adapters
from spec.oracle.adapters import adapt, from_layout, to_layout
from spec.oracle.cases import OPS, all_cases
from tinygrad_cnn import Tensor

sys.path.insert(0, str(Path(__file__).parent))
from oracle_corpus import arrays_numpy as an  # noqa: E402
from oracle_corpus import cs231n_fast as cf  # noqa: E402
from oracle_corpus import cs231n_naive as cn  # noqa: E402
from oracle_corpus import dlfs_layers as dl  # noqa: E402
from oracle_corpus import nhwc_numpy as nh  # noqa: E402

_PARAMS = inspect.signature(oracle.check).parameters
#: in-process runs (fast); isolation in a child process is tested by test_oracle_isolation
FAST = {"isolate": False} if "isolate" in _PARAMS else {}
#: check(supports=...) and NotImplementedError-as-unsupported (issue 11 item 1)
HAS_SCOPE = "supports" in _PARAMS


def check(op, forward, backward=None, **kwargs):
    return oracle.check(op, forward, backward, **FAST, **kwargs)


def reasons(report) -> str:
    """The reasons of the cases the report did not run, as one string (entries are
    ``(name, reason)`` pairs, or objects with a ``reason``)."""
    return "\n".join(getattr(u, "reason", None) or str(u[1]) for u in report.unsupported)


# ------------------------------------------------------------------ right submissions pass

# id: (op, forward, backward, check kwargs, cases that must run at least, words that must
# appear among the out-of-scope reasons)
RIGHT = {
    "cs231n naive conv": ("conv2d", cn.conv_forward_naive, cn.conv_backward_naive,
                          {"style": "cs231n"}, 14, ["dilation 2", "groups 2", "stride (1, 2)"]),
    "cs231n im2col conv": ("conv2d", cf.conv_forward_im2col, cf.conv_backward_im2col,
                           {"style": "cs231n"}, 14, ["dilation", "groups"]),
    "cs231n naive max pool": ("max_pool2d", cn.max_pool_forward_naive,
                              cn.max_pool_backward_naive, {"style": "cs231n"}, 10,
                              ["padding 1 (pool_param has no padding)", "dilation 2"]),
    "cs231n relu": ("relu", cn.relu_forward, cn.relu_backward, {"style": "cs231n"}, 7, []),
    "cs231n affine": ("linear", cn.affine_forward, cn.affine_backward, {"style": "cs231n"},
                      8, []),
    "cs231n softmax_loss": ("cross_entropy", cn.softmax_loss, None, {"style": "cs231n"}, 5,
                            ["reduction='sum'", "reduction='none'"]),
    "layer Convolution": ("conv2d", dl.Convolution, None, {"style": "layer"}, 14,
                          ["dilation", "groups"]),
    "layer Convolution, grads named": ("conv2d", dl.ConvolutionGrads, None,
                                       {"style": "layer", "grads": ("grad_W", "grad_b")}, 14,
                                       []),
    "layer Pooling": ("max_pool2d", dl.Pooling, None, {"style": "layer"}, 13,
                      ["stride (1, 2) differs between the axes"]),
    "layer Affine": ("linear", dl.Affine, None, {"style": "layer"}, 8, []),
    "layer Conv2D in NHWC": ("conv2d", nh.Conv2D, None, {"style": "layer", "layout": "NHWC"},
                             14, ["dilation", "groups"]),
    "layer Relu": ("relu", dl.Relu, None, {"style": "layer"}, 7, []),
    "layer SoftmaxWithLoss": ("cross_entropy", dl.SoftmaxWithLoss, None, {"style": "layer"},
                              5, ["reduction='sum'"]),
    "arrays loss, target gradient None": (
        "cross_entropy", an.cross_entropy, an.cross_entropy_backward_none, {}, 10, []),
    "arrays loss, target gradient zeros": (
        "cross_entropy", an.cross_entropy, an.cross_entropy_backward_zeros, {}, 10, []),
    "arrays loss, target gradient left out": (
        "cross_entropy", an.cross_entropy, an.cross_entropy_backward_bare, {}, 10, []),
}


@pytest.mark.parametrize("name", list(RIGHT))
def test_right_submission_passes_with_what_it_cannot_express_listed(name):
    op, forward, backward, kwargs, ran, words = RIGHT[name]
    report = check(op, forward, backward, **kwargs)
    assert report.passed, str(report)
    assert len(report.results) >= ran
    style = adapt(op, forward, backward, **kwargs)
    assert len(report.unsupported) == sum(style.out_of_scope(c) is not None
                                          for c in all_cases(op))
    for word in words:
        assert word in reasons(report), (word, reasons(report))
    # the report names the submission's own functions, not the adapter's
    assert f"forward:  oracle_corpus.{forward.__module__.split('.')[-1]}:" in str(report)


def test_the_documents_examples_run_in_the_styles_without_a_bias():
    # the documents' convolutions have no bias: conv_forward(x, w, b, ...) gets zeros
    report = check("conv2d", cn.conv_forward_naive, cn.conv_backward_naive, style="cs231n")
    ran = {r.case.name for r in report.results}
    assert {"doc001-5x5-filter-3x3", "doc004-7x7-feature-detector", "edge-no-bias"} <= ran
    calls = []

    def conv_forward(x, w, b, conv_param):
        calls.append(b.copy())
        return cn.conv_forward_naive(x, w, b, conv_param)

    check("conv2d", conv_forward, style="cs231n")
    assert any(b.shape == (1,) and not b.any() for b in calls)


# ------------------------------------------------- partial submissions (NotImplementedError)

def _dilated_or_grouped(case):
    return case.params.get("dilation", 1) not in (1, (1, 1)) or case.params.get("groups", 1) != 1


PARTIAL = {
    # id: (op, forward, backward, kwargs, the cases it does not implement, its message)
    "cs231n reshape max pool": (
        "max_pool2d", cf.max_pool_forward_reshape, cf.max_pool_backward_reshape,
        {"style": "cs231n"},
        lambda c: not (c.params["kernel_size"] == c.params["stride"]
                       and isinstance(c.params["stride"], int)
                       and all(n % c.params["stride"] == 0 for n in c.arrays["x"].shape[2:])),
        "the reshape trick needs square windows"),
    "arrays conv2d without dilation and groups": (
        "conv2d", an.conv2d, an.conv2d_backward, {}, _dilated_or_grouped,
        "dilation and groups are not supported"),
    "NHWC conv2d without groups": (
        "conv2d", nh.conv2d, nh.conv2d_backward, {"layout": "NHWC"},
        lambda c: c.params["groups"] != 1, "groups"),
    "NHWC max pool without dilation": (
        "max_pool2d", nh.max_pool2d, nh.max_pool2d_backward, {"layout": "NHWC"},
        lambda c: c.params["dilation"] != 1, "dilation"),
    "arrays max pool without padding": (
        "max_pool2d", an.max_pool2d, an.max_pool2d_backward, {},
        lambda c: c.params["padding"] != 0 or c.params["dilation"] != 1,
        "padding and dilation are not supported"),
}


@pytest.mark.parametrize("name", list(PARTIAL))
def test_partial_submission_passes_every_case_it_implements(name):
    op, forward, backward, kwargs, missing, message = PARTIAL[name]
    report = check(op, forward, backward, **kwargs)
    skipped = [c for c in all_cases(op) if missing(c)]
    assert skipped and len(skipped) < len(all_cases(op))
    if HAS_SCOPE:  # NotImplementedError marks the case unsupported (issue 11 item 1)
        assert report.passed, str(report)
        assert message in reasons(report)
        return
    # before check() knows about scope: the only failures are those NotImplementedErrors,
    # exactly on the cases the submission says it does not implement
    failed = {r.case.name for r in report.failed}
    assert failed == {c.name for c in skipped if adapt(op, forward, backward, **kwargs)
                      .out_of_scope(c) is None}, str(report)
    for r in report.failed:
        assert all(f"raised NotImplementedError: {message}" in p.message
                   for p in r.problems), r.problems


@pytest.mark.skipif(not HAS_SCOPE, reason="check(supports=...) comes with issue 11 item 1 "
                                          "(oracle-core); runs once both are merged")
def test_declared_supports_with_a_layout():
    report = check("conv2d", nh.conv2d, nh.conv2d_backward, layout="NHWC",
                   supports={"groups": {1}})
    assert report.passed, str(report)
    assert "groups" in reasons(report)


# --------------------------------------------------------------------------- NHWC layout

def _engine_nhwc(op):
    """The engine, moved to NHWC / HWIO by hand (independently of the adapter)."""
    def forward(x, *rest, **params):
        x = np.transpose(x, (0, 3, 1, 2))
        if rest:
            rest = (np.transpose(rest[0], (3, 2, 0, 1)), *rest[1:])
        return np.transpose(getattr(F, op)(x, *rest, **params).numpy(), (0, 2, 3, 1))

    def backward(x, *rest, grad_out, **params):
        tensors = [Tensor(np.transpose(x, (0, 3, 1, 2)).copy(), requires_grad=True)]
        if rest:
            tensors.append(Tensor(np.transpose(rest[0], (3, 2, 0, 1)).copy(),
                                  requires_grad=True))
            tensors += [Tensor(a, requires_grad=True) for a in rest[1:]]
        getattr(F, op)(*tensors, **params).backward(np.transpose(grad_out, (0, 3, 1, 2)))
        grads = [np.transpose(tensors[0].grad.numpy(), (0, 2, 3, 1))]
        if rest:
            grads.append(np.transpose(tensors[1].grad.numpy(), (2, 3, 1, 0)))
            grads += [t.grad.numpy() for t in tensors[2:]]
        return tuple(grads)

    return forward, backward


@pytest.mark.parametrize("op", ["conv2d", "max_pool2d", "avg_pool2d"])
def test_the_engine_in_nhwc_passes_every_case(op):
    report = check(op, *_engine_nhwc(op), layout="NHWC")
    assert report.passed and not report.unsupported, str(report)
    assert len(report.results) == len(all_cases(op))


def test_an_nchw_submission_checked_as_nhwc_fails():
    report = check("conv2d", *_engine_nhwc("conv2d"))  # NHWC code, NCHW check
    assert not report.passed
    report = check("max_pool2d", nh.max_pool2d, layout="NCHW")
    assert not report.passed


def test_layout_conversions_are_inverse_and_move_the_right_axes():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((6, 3, 2, 1))
    assert to_layout("conv2d", "x", x, "NHWC").shape == (2, 4, 5, 3)
    assert to_layout("conv2d", "w", w, "NHWC").shape == (2, 1, 3, 6)  # HWIO
    assert to_layout("conv2d", "x", x, "NHWC")[1, 2, 3, 0] == x[1, 0, 2, 3]
    assert to_layout("conv2d", "w", w, "NHWC")[1, 0, 2, 5] == w[5, 2, 1, 0]
    for name, a in (("x", x), ("w", w)):
        back = from_layout("conv2d", name if name == "w" else "output",
                           to_layout("conv2d", name, a, "NHWC"), "NHWC")
        np.testing.assert_array_equal(back, a)
    x1, w1 = rng.standard_normal((2, 3, 7)), rng.standard_normal((4, 3, 2))
    assert to_layout("conv1d", "x", x1, "NHWC").shape == (2, 7, 3)
    assert to_layout("conv1d", "w", w1, "NHWC").shape == (2, 3, 4)
    np.testing.assert_array_equal(
        from_layout("conv1d", "w", to_layout("conv1d", "w", w1, "NHWC"), "NHWC"), w1)
    # ops without image axes are left alone; so is a result of the wrong rank
    assert to_layout("softmax", "x", x, "NHWC") is x
    three_d = x[0]
    assert from_layout("conv2d", "output", three_d, "NHWC") is three_d


# ---------------------------------------------------------------- style rules and refusals

@pytest.mark.parametrize("kwargs, words", [
    ({"style": "keras"}, "style: expected one of 'arrays', 'cs231n', 'layer', got 'keras'"),
    ({"layout": "CHWN"}, "layout: expected one of 'NCHW', 'NHWC', got 'CHWN'"),
    ({"style": "arrays", "grads": ("dW",)}, "grads: only the 'layer' style"),
    ({"style": "layer", "grads": ("dW",)}, "grads: conv2d has 2 weight array(s)"),
    ({"style": "layer", "grads": "dW"}, "grads: expected a tuple of attribute names"),
])
def test_bad_style_arguments_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        adapt("conv2d", cn.conv_forward_naive, **kwargs)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        oracle.check("conv2d", cn.conv_forward_naive, **FAST, **kwargs)


def test_missing_callables_and_ops_a_style_has_not():
    with pytest.raises(ValueError, match="forward: the layer factory is required"):
        adapt("conv2d", None, style="layer")
    with pytest.raises(ValueError, match="backward: expected a callable or None, got int"):
        adapt("relu", cn.relu_forward, 3, style="cs231n")
    with pytest.raises(ValueError, match="op 'softmax' has no 'cs231n' form"):
        adapt("softmax", an.log_softmax_of_softmax, style="cs231n")
    with pytest.raises(ValueError, match="op 'conv1d' has no 'layer' form"):
        adapt("conv1d", dl.Convolution, style="layer")
    with pytest.raises(ValueError, match=r"softmax_loss\(x, y\) returns \(loss, dx\) itself"):
        adapt("cross_entropy", cn.softmax_loss, cn.softmax_loss, style="cs231n")
    with pytest.raises(ValueError, match="the 'layer' style takes one factory"):
        adapt("relu", dl.Relu, dl.Relu, style="layer")
    assert set(adapters.STYLE_OPS["arrays"]) == set(OPS)


def test_a_submission_that_breaks_its_style_fails_with_a_clear_message():
    def conv_forward(x, w, b, conv_param):  # forgets the cache
        return cn.conv_forward_naive(x, w, b, conv_param)[0]

    report = check("conv2d", conv_forward, style="cs231n")
    assert not report.passed
    message = report.failed[0].problems[0].message
    assert ("conv_forward(x, w, b, conv_param) -> (out, cache) returned a ndarray, expected "
            "a pair (out, cache)") in message

    class NoGrads(dl.Convolution):
        def backward(self, dout):
            dx = super().backward(dout)
            del self.dW
            return dx

    report = check("conv2d", NoGrads, style="layer")
    assert not report.passed
    assert "the layer object (NoGrads) has no attribute 'dW' after backward" in str(report)

    class ForwardOnly:
        def __init__(self, W, b, stride=1, pad=0):
            self.inner = dl.Convolution(W, b, stride, pad)

        def forward(self, x):
            return self.inner.forward(x)

    report = check("conv2d", ForwardOnly, style="layer")
    assert not report.passed
    assert "the layer object (ForwardOnly) has no backward() method" in str(report)
    assert all(r.output is not None for r in report.results)  # the forwards were checked


def test_a_nonzero_gradient_for_the_integer_target_is_refused():
    report = check("cross_entropy", an.cross_entropy, an.cross_entropy_backward_target_gradient)
    assert not report.passed
    assert "the gradient returned for target (not differentiable: integer class indices) " \
           "must be None or zeros, or left out" in str(report)


def test_a_loss_layer_backward_that_needs_dout_gets_one():
    seen = []

    class Loss(dl.SoftmaxWithLoss):
        def backward(self, dout):  # no default: called as backward(1.0)
            seen.append(dout)
            return super().backward(dout)

    assert check("cross_entropy", Loss, style="layer").passed
    assert seen and set(seen) == {1.0}


def test_every_layer_is_a_fresh_object():
    built = []

    class Counting(dl.Relu):
        def __init__(self):
            built.append(self)

    report = check("relu", Counting, style="layer")
    assert report.passed
    assert len(built) == len({id(b) for b in built}) >= 2 * len(report.results)


def test_layer_softmax_over_the_last_axis_only():
    class Softmax:
        def forward(self, x):
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            self.out = e / e.sum(axis=-1, keepdims=True)
            return self.out

        def backward(self, dout):
            s = self.out
            return s * (dout - (dout * s).sum(axis=-1, keepdims=True))

    report = check("softmax", Softmax, style="layer")
    assert report.passed, str(report)
    assert "a layer normalizes over the last axis" in reasons(report)
    assert {r.case.name for r in report.results} >= {"edge-rows", "edge-large-logits"}


def test_out_of_scope_reasons_name_the_parameter_and_the_style():
    cases = {c.name: c for c in all_cases("conv2d")}
    adapted = adapt("conv2d", cn.conv_forward_naive, style="cs231n")
    assert adapted.out_of_scope(cases["edge-padding-1"]) is None
    assert adapted.out_of_scope(cases["edge-no-bias"]) is None
    assert adapted.out_of_scope(cases["edge-dilation-2"]) == \
        "dilation 2 (conv_param has no dilation)"
    assert adapted.out_of_scope(cases["edge-kernel-3x1-stride-pair"]) == (
        "stride (1, 2) and padding (0, 1) differ between the axes (conv_param takes one "
        "value for both)")
    assert adapted.out_of_scope(cases["edge-groups-2"]) == "groups 2 (conv_forward has no groups)"
    layer = adapt("max_pool2d", dl.Pooling, style="layer")
    pool = {c.name: c for c in all_cases("max_pool2d")}
    assert layer.out_of_scope(pool["edge-padding-1"]) is None
    assert layer.out_of_scope(pool["edge-dilation-2"]) == \
        "dilation 2 (factory(pool_h, pool_w, stride, pad) has no dilation)"
    arrays = adapt("conv2d", an.conv2d, layout="NHWC")
    assert all(arrays.out_of_scope(c) is None for c in all_cases("conv2d"))


# ------------------------------------------------------------------ the documentation page

def test_the_oracle_pages_code_runs_and_prints_what_the_page_says(monkeypatch, capsys):
    """Every executed block of docs/oracle.md, in order, in one namespace (markdown-exec's
    session), as the site build runs them; the strict build runs them again."""
    root = Path(__file__).resolve().parent.parent
    # this engineer's sections; "Scope and isolation" (its blocks run hostile candidates
    # in child processes) is tested by tests/test_oracle_isolation.py and the site build
    page = (root / "docs" / "oracle.md").read_text().split("\n## Scope and isolation")[0]
    blocks = re.findall(r'^```python exec="on"([^\n]*)\n(.*?)^```', page, re.S | re.M)
    assert len(blocks) >= 10
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root / "docs" / "_helpers"))
    namespace: dict = {"__name__": "__docs__"}
    for _options, code in blocks:
        exec(compile(code, "docs/oracle.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "spec.oracle check of conv2d" in out and "RESULT: PASS" in out  # cs231n
    assert "max_pool2d: passed True" in out and "linear: passed True" in out  # layer
    assert "passed: True, 24 cases" in out  # NHWC
    assert "DIAGNOSIS: an epsilon inside the log" in out and "[backward]" in out
