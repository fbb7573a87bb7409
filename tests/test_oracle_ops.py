"""The oracle on conv_transpose2d and on the later pooling and loss options (issue 15 item 7):
the engine and independent NumPy implementations pass, each classic mistake of the new
ops and options is caught with its diagnosis, and every implementation that passed before
still passes, the cases of an option it does not take listed as out of scope."""

from __future__ import annotations

import inspect
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from spec import oracle
from spec.oracle import adapters, golden
from spec.oracle.adapters import adapt, takes
from spec.oracle.cases import DOC001_IMAGE, NEW_OPTIONS, OPS, all_cases, expected_shape
from spec.oracle.reference import TEXT
from tinygrad_cnn import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import oracle_candidates as oc  # noqa: E402
from oracle_corpus import arrays_numpy as an  # noqa: E402
from oracle_corpus import cs231n_naive as cn  # noqa: E402
from oracle_corpus import dlfs_layers as dl  # noqa: E402

#: in-process runs (fast); isolation in a child process is tested by test_oracle_isolation
FAST = {"isolate": False} if "isolate" in inspect.signature(oracle.check).parameters else {}

NEW_OPS = ("conv_transpose2d", *NEW_OPTIONS)


def check(op, forward, backward=None, **kwargs):
    return oracle.check(op, forward, backward, **FAST, **kwargs)


def skipped(report) -> dict[str, str]:
    """The cases not run, by name, with the reason (the entries are ``(name, reason)``
    pairs, or objects with a ``case`` and a ``reason``)."""
    out = {}
    for u in report.unsupported:
        if isinstance(u, tuple):
            out[u[0]] = u[1]
        else:
            out[u.case.name] = u.reason
    return out


def engine(op: str):
    def forward(*arrays, **params):
        return getattr(F, op)(*arrays, **params).numpy()

    def backward(*arrays, grad_out, **params):
        tensors = [Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        getattr(F, op)(*tensors, **params).backward(grad_out)
        return tuple(t.grad.numpy() for t in tensors if t.dtype.kind == "f")

    return forward, backward


# ----------------------------------------------- a transposed convolution written here


def _geometry(x, w, stride, padding, output_padding, dilation):
    (sh, sw), (ph, pw) = oc._pair(stride), oc._pair(padding)
    (ah, aw), (dh, dw) = oc._pair(output_padding), oc._pair(dilation)
    _, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    full = ((h - 1) * sh + dh * (kh - 1) + 1, (wd - 1) * sw + dw * (kw - 1) + 1)
    out = (full[0] - 2 * ph + ah, full[1] - 2 * pw + aw)
    return (sh, sw), (ph, pw), (dh, dw), (kh, kw), full, out


def numpy_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                           dilation=1):
    """Vectorised over everything but the kernel offsets: for each (p, q), every input
    element adds x * w[:, :, p, q] at (i*s + p*d, j*s + q*d) of the full output, which is
    then cropped by the padding (and extended by output_padding)."""
    (sh, sw), (ph, pw), (dh, dw), (kh, kw), full, (oh, ow) = _geometry(
        x, w, stride, padding, output_padding, dilation)
    n, c, h, wd = x.shape
    cg, og = c // groups, w.shape[1]
    y = np.zeros((n, og * groups, max(full[0], ph + oh), max(full[1], pw + ow)))
    for g in range(groups):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg]
        for p in range(kh):
            for q in range(kw):
                y[:, g * og:(g + 1) * og, p * dh:p * dh + sh * (h - 1) + 1:sh,
                  q * dw:q * dw + sw * (wd - 1) + 1:sw] += np.einsum("ncij,co->noij", xs,
                                                                      ws[:, :, p, q])
    y = y[:, :, ph:ph + oh, pw:pw + ow]
    return y + b[None, :, None, None] if b is not None else y


def numpy_conv_transpose2d_backward(x, w, b=None, *, grad_out, stride=1, padding=0,
                                    output_padding=0, groups=1, dilation=1):
    """The same offsets, gathering: grad_out placed in the full output, then read back."""
    (sh, sw), (ph, pw), (dh, dw), (kh, kw), full, (oh, ow) = _geometry(
        x, w, stride, padding, output_padding, dilation)
    n, c, h, wd = x.shape
    cg, og = c // groups, w.shape[1]
    g_full = np.zeros((n, og * groups, max(full[0], ph + oh), max(full[1], pw + ow)))
    g_full[:, :, ph:ph + oh, pw:pw + ow] = grad_out
    dx, dw_ = np.zeros_like(x), np.zeros_like(w)
    for g in range(groups):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg]
        for p in range(kh):
            for q in range(kw):
                gs = g_full[:, g * og:(g + 1) * og, p * dh:p * dh + sh * (h - 1) + 1:sh,
                            q * dw:q * dw + sw * (wd - 1) + 1:sw]
                dx[:, g * cg:(g + 1) * cg] += np.einsum("noij,co->ncij", gs, ws[:, :, p, q])
                dw_[g * cg:(g + 1) * cg, :, p, q] += np.einsum("ncij,noij->co", xs, gs)
    grads = (dx, dw_)
    return grads + (grad_out.sum(axis=(0, 2, 3)),) if b is not None else grads


# ------------------------------------------------------------------- right candidates


@pytest.mark.parametrize("op", NEW_OPS)
def test_the_engine_passes_every_new_case(op):
    report = check(op, *engine(op))
    assert report.passed, str(report)
    assert not report.unsupported
    assert len(report.results) == len(all_cases(op))


@pytest.mark.parametrize("seed", [0, 5])
def test_a_numpy_conv_transpose2d_written_here_passes(seed):
    report = check("conv_transpose2d", numpy_conv_transpose2d, numpy_conv_transpose2d_backward,
                   seed=seed)
    assert report.passed, str(report)
    assert len(report.results) == len(all_cases("conv_transpose2d")) and not report.unsupported
    # and it is the adjoint of conv2d: <conv2d(y, w), x> = <y, conv_transpose2d(x, w)>
    rng = np.random.default_rng(seed)
    y, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    x = F.conv2d(y, w, stride=2, padding=1, dilation=(1, 2)).numpy()
    x = rng.standard_normal(x.shape)
    back = numpy_conv_transpose2d(x, w, stride=2, padding=1, dilation=(1, 2),
                                  output_padding=(0, 1))
    assert back.shape == y.shape
    lhs = np.sum(F.conv2d(y, w, stride=2, padding=1, dilation=(1, 2)).numpy() * x)
    assert np.isclose(lhs, np.sum(y * back), rtol=1e-12)


@pytest.mark.parametrize("op", NEW_OPS)
def test_the_loop_reference_passes_every_new_case(op):
    forward, backward = oc.REFERENCE[op]
    report = check(op, forward, backward, seed=4)
    assert report.passed, str(report)
    assert not report.unsupported


def test_the_new_cases_are_modest_exact_and_documented():
    cases = all_cases("conv_transpose2d")
    assert {c.kind for c in cases} == {"document", "edge", "random"}
    assert len(cases) <= 24 and all(c.exact for c in cases)
    # the document cases are the backward of the documents' convolutions
    doc = next(c for c in cases if c.name == "doc001-input-gradient-of-the-convolution")
    x = Tensor(np.asarray(DOC001_IMAGE, dtype=np.float64)[None, None], requires_grad=True)
    F.conv2d(x, doc.arrays["w"]).sum().backward()
    np.testing.assert_array_equal(F.conv_transpose2d(doc.arrays["x"], doc.arrays["w"]).numpy(),
                                  x.grad.numpy())
    for op in NEW_OPTIONS:  # a few option cases per op, each about one or two options
        option_cases = [c for c in all_cases(op) if set(c.params) & set(NEW_OPTIONS[op])]
        assert 4 <= len(option_cases) <= 12, op
        for name in NEW_OPTIONS[op]:
            assert any(name in c.params for c in option_cases), (op, name)
    # a new option is passed only with a value other than its default
    defaults = {"ceil_mode": False, "count_include_pad": True, "divisor_override": None,
                "weight": None, "ignore_index": -100, "label_smoothing": 0.0}
    for op in NEW_OPTIONS:
        for case in all_cases(op):
            for name in set(NEW_OPTIONS[op]) & set(case.params):
                assert case.params[name] != defaults[name], (op, case.name, name)


def test_ceil_mode_sizes_follow_the_start_rule():
    sizes = {c.name: expected_shape(c.op, c.config)[2:] for c in all_cases("max_pool2d")}
    assert sizes["edge-ceil-mode"] == (3, 3)  # 5 wide, kernel 2, stride 2: a partial window
    # padding 1: ceil would give 4, but the 4th window starts in the right padding
    assert sizes["edge-ceil-mode-last-window-in-padding"] == (3, 3)
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    assert F.max_pool2d(x, 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)


# -------------------------------------------------------------------- classic mistakes

# name: (op, forward, backward, the diagnosis the oracle must give first)
MISTAKES = {
    "output_padding ignored": (
        "conv_transpose2d", partial(oc.conv_transpose2d, ignore_output_padding=True), None,
        "output-padding-ignored"),
    "transposed conv without the kernel flip": (
        "conv_transpose2d", partial(oc.conv_transpose2d, unflipped=True), None,
        "transposed-conv-kernel-unflipped"),
    "transposed conv with the channel axes unswapped": (
        "conv_transpose2d", partial(oc.conv_transpose2d, unswapped=True), None,
        "transposed-conv-channels-unswapped"),
    "max-pool ceil_mode ignored": (
        "max_pool2d", partial(oc.max_pool2d_options, ignore_ceil_mode=True), None,
        "ceil-mode-ignored"),
    "avg-pool ceil_mode ignored": (
        "avg_pool2d", partial(oc.avg_pool2d_options, ignore=("ceil_mode",)), None,
        "ceil-mode-ignored"),
    "max-pool ceil without the last-window rule": (
        "max_pool2d", partial(oc.max_pool2d_options, no_start_rule=True), None,
        "ceil-mode-last-window"),
    "count_include_pad ignored": (
        "avg_pool2d", partial(oc.avg_pool2d_options, ignore=("count_include_pad",)),
        partial(oc.avg_pool2d_options_backward, ignore=("count_include_pad",)),
        "count-include-pad-ignored"),
    "divisor_override ignored": (
        "avg_pool2d", partial(oc.avg_pool2d_options, ignore=("divisor_override",)),
        partial(oc.avg_pool2d_options_backward, ignore=("divisor_override",)),
        "divisor-override-ignored"),
    "ignored targets counted in the mean": (
        "cross_entropy", partial(oc.cross_entropy_options, mistake="count-ignored"),
        partial(oc.cross_entropy_options_backward, mistake="count-ignored"),
        "ignored-targets-counted-in-mean"),
    "ignore_index not applied": (
        "cross_entropy", partial(oc.cross_entropy_options, mistake="ignore"), None,
        "ignore-index-ignored"),
    "class weights ignored": (
        "cross_entropy", partial(oc.cross_entropy_options, mistake="weights"),
        partial(oc.cross_entropy_options_backward, mistake="weights"),
        "class-weights-ignored"),
    "weighted mean divided by N": (
        "cross_entropy", partial(oc.cross_entropy_options, mistake="mean-by-n"), None,
        "weighted-mean-divided-by-n"),
    "label smoothing ignored": (
        "cross_entropy", partial(oc.cross_entropy_options, mistake="smoothing"), None,
        "label-smoothing-ignored"),
    "label smoothing over the C - 1 other classes": (
        "cross_entropy", partial(oc.cross_entropy_options, mistake="smoothing-others"),
        partial(oc.cross_entropy_options_backward, mistake="smoothing-others"),
        "label-smoothing-wrong"),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_classic_mistake_is_caught_with_its_diagnosis(name):
    op, forward, backward, key = MISTAKES[name]
    report = check(op, forward, backward or oc.REFERENCE[op][1])
    text = str(report)
    assert not report.passed, text
    assert report.diagnoses == [key], (report.diagnoses, text)
    assert "RESULT: FAIL" in text and "DIAGNOSIS: " + TEXT[key][:40] in text
    # only the cases about the new op or option fail (none of the older ones)
    for result in report.results:
        if not result.passed and op in NEW_OPTIONS:
            assert set(result.case.params) & set(NEW_OPTIONS[op]), result.case.name


def test_the_golden_mutants_name_the_new_mistakes(tmp_path):
    golden.export(tmp_path)
    for name in ("output_padding ignored", "transposed conv without the kernel flip",
                 "count_include_pad ignored", "ignored targets counted in the mean",
                 "label smoothing ignored"):
        op, forward, backward, key = MISTAKES[name]
        backward = backward or oc.REFERENCE[op][1]
        doc = golden.load(tmp_path / f"{op}.json")
        assert key in doc["mistakes"]
        named = set()
        for case in doc["cases"]:
            params = {k: tuple(v) if isinstance(v, list) else v
                      for k, v in case["params"].items()}
            arrays = [golden.decode(t) for t in case["inputs"]]
            out = forward(*arrays, **params)
            grads = backward(*arrays, grad_out=golden.decode(case["grad_out"]), **params)
            if not golden.passes(out, case["output"], case["compare"]["float64"]) or \
                    np.shape(out) != tuple(case["output"]["shape"]):
                named |= set(golden.matching_mutants(case, out, None))
            elif not all(np.shape(g) == tuple(t["shape"]) and
                         golden.passes(g, t, case["compare"]["float64"])
                         for g, t in zip(grads, case["gradients"], strict=True)):
                named |= set(golden.matching_mutants(case, None, list(grads)))
        assert key in named, (name, named)
    tags = {t for op in NEW_OPS for c in golden.load(tmp_path / f"{op}.json")["cases"]
            for t in c["tags"]}
    assert {"output-padding", "ceil-mode", "count-include-pad-false", "divisor-override",
            "class-weights", "ignore-index", "label-smoothing"} <= tags
    assert tags <= set(golden.TAG_TEXT)


# --------------------------------------------------- what passed before still passes

#: the corpus's right submissions that implement an op with later options (op, forward,
#: backward, check kwargs)
CORPUS = {
    "arrays loss (target gradient None)": ("cross_entropy", an.cross_entropy,
                                           an.cross_entropy_backward_none, {}),
    "arrays loss (target gradient zeros)": ("cross_entropy", an.cross_entropy,
                                            an.cross_entropy_backward_zeros, {}),
    "arrays loss (bare gradient)": ("cross_entropy", an.cross_entropy,
                                    an.cross_entropy_backward_bare, {}),
    "cs231n max pool": ("max_pool2d", cn.max_pool_forward_naive, cn.max_pool_backward_naive,
                        {"style": "cs231n"}),
    "cs231n softmax_loss": ("cross_entropy", cn.softmax_loss, None, {"style": "cs231n"}),
    "layer Pooling": ("max_pool2d", dl.Pooling, None, {"style": "layer"}),
    "layer SoftmaxWithLoss": ("cross_entropy", dl.SoftmaxWithLoss, None, {"style": "layer"}),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_corpus_still_passes_with_the_new_options_out_of_scope(name):
    op, forward, backward, kwargs = CORPUS[name]
    report = check(op, forward, backward, **kwargs)
    assert report.passed, str(report)
    not_run = skipped(report)
    for case in all_cases(op):
        options = [k for k in NEW_OPTIONS[op] if k in case.params]
        if not options:
            continue
        assert case.name in not_run, (case.name, not_run)
        if kwargs.get("style", "arrays") == "arrays":
            assert not_run[case.name].startswith(f"does not take {options[0]}")
        else:
            assert f" has no {options[0]}" in not_run[case.name]


@pytest.mark.parametrize("op", [op for op in OPS if op != "conv_transpose2d"])
def test_the_loop_reference_of_before_still_passes_every_op(op):
    forward, backward = oc.BEFORE_OPTIONS[op]
    report = check(op, forward, backward, seed=2)
    assert report.passed, str(report)
    ran, not_run = {r.case.name for r in report.results}, skipped(report)
    for case in all_cases(op, 2):
        options = [k for k in NEW_OPTIONS.get(op, ()) if k in case.params]
        if options:  # out of scope, with the first option it lacks as the reason
            assert case.name not in ran
            assert not_run[case.name].startswith(f"does not take {options[0]}")
        else:
            assert case.name in ran
    assert report.failure is None and not report.diagnoses


def test_the_buggy_corpus_keeps_exactly_its_diagnoses():
    from oracle_corpus.catalogue import BUGGY

    for name, (op, forward, backward, kwargs, keys) in BUGGY.items():
        if op not in NEW_OPTIONS:
            continue
        report = check(op, forward, backward, **kwargs)
        assert not report.passed and report.diagnoses == keys, (name, report.diagnoses)


# ----------------------------------------------------------------- signature inspection


def _positional_only(x, kernel_size, ceil_mode, /, stride=None):
    return x


def test_takes_reads_the_signature():
    assert takes(oc.max_pool2d_options, "ceil_mode")
    assert not takes(oc.max_pool2d, "ceil_mode")
    assert takes(lambda *a, **kw: None, "ceil_mode")  # **kwargs takes every name
    assert not takes(_positional_only, "ceil_mode")  # cannot be passed as a keyword
    assert takes(partial(oc.avg_pool2d_options, ignore=()), "divisor_override")
    assert takes(max, "ceil_mode")  # no readable signature: assumed to take it

    class Pool:
        def __call__(self, x, kernel_size, stride=None, padding=0, dilation=1):
            return x

    assert not takes(Pool(), "ceil_mode")


def test_a_forward_without_the_option_is_out_of_scope_even_with_a_backward_that_has_it():
    def forward(x, kernel_size, stride=None, padding=0):
        return oc.avg_pool2d(x, kernel_size, stride, padding)

    def backward(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, *, grad_out):
        return oc.avg_pool2d_options_backward(x, kernel_size, stride, padding, ceil_mode,
                                              count_include_pad, divisor_override,
                                              grad_out=grad_out)

    style = adapt("avg_pool2d", forward, backward)
    by_name = {c.name: style.out_of_scope(c) for c in all_cases("avg_pool2d")}
    assert by_name["edge-divisor-override"] == "does not take divisor_override"
    assert by_name["edge-count-include-pad-false-ceil"] == \
        "does not take ceil_mode; does not take count_include_pad"
    assert by_name["edge-padding-1"] is None
    # the other way round: the backward lacks it
    style = adapt("avg_pool2d", oc.avg_pool2d_options, oc.avg_pool2d_backward)
    assert style.out_of_scope(next(c for c in all_cases("avg_pool2d")
                                   if c.name == "edge-ceil-mode")) == \
        "its backward does not take ceil_mode"


def test_the_class_weight_reaches_the_candidate_as_an_array():
    seen = []

    def forward(logits, target, reduction="mean", weight=None, **options):
        seen.append(type(weight))
        return F.cross_entropy(logits, target, weight=weight, reduction=reduction,
                               **options).numpy()

    report = check("cross_entropy", forward)
    assert report.passed, str(report)
    assert np.ndarray in seen and tuple not in seen


def test_conv_transpose2d_in_nhwc_takes_tensorflows_filter_layout():
    """NHWC: x (N, H, W, C), w (KH, KW, C_out/groups, C_in) as tf.nn.conv2d_transpose's."""

    def forward(x, w, b=None, **params):
        out = numpy_conv_transpose2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b,
                                     **params)
        return out.transpose(0, 2, 3, 1)

    def backward(x, w, b=None, *, grad_out, **params):
        grads = numpy_conv_transpose2d_backward(
            x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b,
            grad_out=grad_out.transpose(0, 3, 1, 2), **params)
        return (grads[0].transpose(0, 2, 3, 1), grads[1].transpose(2, 3, 1, 0), *grads[2:])

    report = check("conv_transpose2d", forward, backward, layout="NHWC")
    assert report.passed and not report.unsupported, str(report)
    assert not check("conv_transpose2d", forward, backward).passed  # NHWC code as NCHW
    w = np.zeros((3, 2, 4, 5))  # (C_in, C_out/groups, KH, KW)
    assert adapters.to_layout("conv_transpose2d", "w", w, "NHWC").shape == (4, 5, 2, 3)
