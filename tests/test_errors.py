"""Bad input gets a clear error, never garbage.

Each message must name the argument, what it got and what was expected (for sizes, the
expected output size from the output-size formula).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor, Value
from tinygrad_cnn import scalar as S

RNG = np.random.default_rng(0)


def a(*shape, dtype=np.float64):
    return RNG.normal(size=shape).astype(dtype)


X4, W4 = a(1, 3, 5, 5), a(2, 3, 3, 3)

CASES = [
    # (id, call, exception, regex the message must match)
    ("channel mismatch", lambda: F.conv2d(X4, a(2, 2, 3, 3)), ValueError,
     r"conv2d: weight expects 2 input channels per group, but input has 3 channels.*"
     r"weight shape \(2, 2, 3, 3\), input shape \(1, 3, 5, 5\)"),
    ("conv1d channel mismatch", lambda: F.conv1d(a(1, 3, 5), a(2, 2, 3)), ValueError,
     r"conv1d: weight expects 2 input channels .* has 3 channels.*weight shape \(2, 2, 3\), "
     r"input shape \(1, 3, 5\)"),
    ("groups do not divide input channels", lambda: F.conv2d(X4, a(2, 1, 3, 3), groups=2),
     ValueError, r"conv2d: groups=2 must divide the input channels, got 3"),
    ("groups do not divide output channels",
     lambda: F.conv2d(a(1, 4, 5, 5), a(3, 2, 3, 3), groups=2), ValueError,
     r"groups=2 must divide the output channels.*got 3"),
    ("kernel larger than padded input", lambda: F.conv2d(a(1, 1, 3, 3), a(1, 1, 5, 5)),
     ValueError, r"conv2d: the kernel \(size 5.*larger than the padded input \(size 3 \+ "
     r"padding 0 = 3\); output size floor\(\(3 \+ 0 - 1\*\(5-1\) - 1\)/1\) \+ 1 = -1, "
     r"expected at least 1"),
    ("dilated kernel larger than padded input",
     lambda: F.conv2d(a(1, 1, 6, 6), a(1, 1, 3, 3), padding=1, dilation=4), ValueError,
     r"spans 9\) is larger than the padded input \(size 6 \+ padding 2 = 8\); output size "
     r"floor\(\(6 \+ 2 - 4\*\(3-1\) - 1\)/1\) \+ 1 = 0"),
    ("conv1d kernel too large", lambda: F.conv1d(a(1, 3, 5), a(2, 3, 7), stride=2),
     ValueError, r"conv1d: .*output size floor\(\(5 \+ 0 - 1\*\(7-1\) - 1\)/2\) \+ 1 = 0"),
    ("pool kernel too large", lambda: F.max_pool2d(a(1, 1, 2, 2), 3), ValueError,
     r"max_pool2d: the kernel \(size 3.*output size floor\(\(2 \+ 0 - 1\*\(3-1\) - 1\)/3\) "
     r"\+ 1 = 0, expected at least 1"),
    ("avg pool kernel too large", lambda: F.avg_pool2d(a(1, 1, 4, 2), (2, 3)), ValueError,
     r"avg_pool2d: the kernel \(size 3.*\(size 2 \+ padding 0 = 2\)"),
    ("stride 1.5", lambda: F.conv2d(X4, W4, stride=1.5), TypeError,
     r"conv2d: stride must be an int, got 1\.5 \(float\)"),
    ("stride -1", lambda: F.conv2d(X4, W4, stride=-1), ValueError,
     r"conv2d: stride must be >= 1, got -1"),
    ("stride 0 in a pair", lambda: F.conv2d(X4, W4, stride=(1, 0)), ValueError,
     r"stride must be >= 1, got 0"),
    ("stride True", lambda: F.conv2d(X4, W4, stride=True), TypeError,
     r"conv2d: stride must be an int, got True \(bool\)"),
    ("stride of three", lambda: F.conv2d(X4, W4, stride=(1, 1, 1)), ValueError,
     r"stride must be an int or 2 ints, got \(1, 1, 1\)"),
    ("padding -1", lambda: F.conv2d(X4, W4, padding=-1), ValueError,
     r"conv2d: padding must be >= 0, got -1"),
    ("padding 1.5", lambda: F.conv2d(X4, W4, padding=1.5), TypeError,
     r"padding must be an int, got 1\.5 \(float\)"),
    ("padding True", lambda: F.conv2d(X4, W4, padding=(True, 1)), TypeError,
     r"padding must be an int, got True \(bool\)"),
    ("padding word", lambda: F.conv2d(X4, W4, padding="full"), ValueError,
     r"padding must be an int, a pair, 'valid' or 'same', got 'full'"),
    ("dilation 0", lambda: F.conv2d(X4, W4, dilation=0), ValueError,
     r"dilation must be >= 1, got 0"),
    ("dilation 1.0", lambda: F.conv2d(X4, W4, dilation=1.0), TypeError,
     r"dilation must be an int, got 1\.0 \(float\)"),
    ("groups 0", lambda: F.conv2d(X4, W4, groups=0), ValueError, r"groups must be >= 1, got 0"),
    ("groups 1.5", lambda: F.conv2d(X4, W4, groups=1.5), TypeError,
     r"groups must be an int, got 1\.5"),
    ("same with stride 2", lambda: F.conv2d(X4, W4, padding="same", stride=2), ValueError,
     r"conv2d: padding='same' needs stride 1, got stride \(2, 2\)"),
    ("conv1d same with stride 2", lambda: F.conv1d(a(1, 3, 5), a(2, 3, 3), stride=2,
                                                   padding="same"), ValueError,
     r"conv1d: padding='same' needs stride 1, got stride \(2,\)"),
    ("input rank", lambda: F.conv2d(a(3, 5, 5), W4), ValueError,
     r"conv2d: input must have 4 dims \(N, C, H, W\), got shape \(3, 5, 5\)"),
    ("weight rank", lambda: F.conv2d(X4, a(2, 3, 3)), ValueError,
     r"conv2d: weight must have 4 dims \(O, C/groups, KH, KW\), got shape \(2, 3, 3\)"),
    ("conv1d input rank", lambda: F.conv1d(X4, a(2, 3, 3)), ValueError,
     r"conv1d: input must have 3 dims \(N, C, L\), got shape \(1, 3, 5, 5\)"),
    ("pool input rank", lambda: F.max_pool2d(a(3, 5, 5), 2), ValueError,
     r"max_pool2d: input must have 4 dims \(N, C, H, W\), got shape \(3, 5, 5\)"),
    ("bias shape", lambda: F.conv2d(X4, W4, a(3)), ValueError,
     r"conv2d: bias must have shape \(2,\), one per output channel, got \(3,\)"),
    ("bias rank", lambda: F.conv2d(X4, W4, a(2, 1)), ValueError,
     r"bias must have shape \(2,\).*got \(2, 1\)"),
    ("dtype mismatch", lambda: F.conv2d(a(1, 3, 5, 5, dtype=np.float32), W4), TypeError,
     r"conv2d: dtypes differ \(input is float32, weight is float64\)"),
    ("bias dtype mismatch", lambda: F.conv2d(X4, W4, a(2, dtype=np.float32)), TypeError,
     r"dtypes differ \(input is float64, weight is float64, bias is float32\)"),
    ("input is a list", lambda: F.conv2d([[1.0]], W4), TypeError,
     r"conv2d: input must be a Tensor or an ndarray, got list"),
    ("pool padding over half the kernel", lambda: F.max_pool2d(X4, 2, padding=2), ValueError,
     r"max_pool2d: padding must be at most half the kernel size, got padding \(2, 2\) for "
     r"kernel_size \(2, 2\)"),
    ("pool kernel 0", lambda: F.avg_pool2d(X4, 0), ValueError,
     r"avg_pool2d: kernel_size must be >= 1, got 0"),
    ("pool kernel 2.0", lambda: F.avg_pool2d(X4, 2.0), TypeError,
     r"kernel_size must be an int, got 2\.0 \(float\)"),
    ("pool stride -1", lambda: F.max_pool2d(X4, 2, stride=-1), ValueError,
     r"max_pool2d: stride must be >= 1, got -1"),
    ("class index out of range", lambda: F.cross_entropy(a(2, 3), np.array([0, 3])),
     ValueError, r"cross_entropy: target class indices must be in \[0, 3\), got \[3\]"),
    ("negative class index", lambda: F.cross_entropy(a(2, 3), np.array([-1, 0])),
     ValueError, r"must be in \[0, 3\), got \[-1\]"),
    ("class indices as a list", lambda: F.cross_entropy(a(2, 3), [0, 5]), ValueError,
     r"must be in \[0, 3\), got \[5\]"),
    ("class indices not integers", lambda: F.cross_entropy(a(2, 3), np.array([0.0, 1.0])),
     ValueError, r"float target must have shape \(2, 3\) like the input, got \(2,\) "
     r"\(class indices must be integers\)"),
    ("boolean target", lambda: F.cross_entropy(a(2, 3), np.array([True, False])), TypeError,
     r"target must hold int class indices or float probabilities, got dtype bool"),
    ("wrong number of labels", lambda: F.cross_entropy(a(2, 3), np.array([0, 1, 2])),
     ValueError, r"class-index target must have shape \(2,\), got \(3,\)"),
    ("probability target shape", lambda: F.cross_entropy(a(2, 3), a(2, 4)), ValueError,
     r"probability target must have shape \(2, 3\) like the input, got \(2, 4\)"),
    ("probability target dtype", lambda: F.cross_entropy(a(2, 3, dtype=np.float32), a(2, 3)),
     TypeError, r"cross_entropy: dtypes differ \(input is float32, target is float64\)"),
    ("logits rank", lambda: F.cross_entropy(a(3), np.array([0])), ValueError,
     r"cross_entropy: input must have 2 dims \(N, C\), got shape \(3,\)"),
    ("reduction", lambda: F.cross_entropy(a(2, 3), np.array([0, 1]), reduction="avg"),
     ValueError, r"reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    ("integer logits", lambda: F.cross_entropy(np.array([[1, 2], [2, 1]]), np.array([0, 1])),
     TypeError, r"cross_entropy: input \(logits\) must be floating point .*got dtype int64"),
    ("mean of an empty batch", lambda: F.cross_entropy(a(0, 3), np.zeros(0, np.int64)),
     ValueError, r"reduction='mean' of an empty batch \(input shape \(0, 3\)\) has no value"),
    ("linear in_features", lambda: F.linear(a(2, 3), a(4, 5)), ValueError,
     r"linear: input's last axis must have in_features=5 elements \(weight shape \(4, 5\)\), "
     r"got input shape \(2, 3\)"),
    ("linear weight rank", lambda: F.linear(a(2, 3), a(3)), ValueError,
     r"linear: weight must have 2 dims"),
    ("linear bias", lambda: F.linear(a(2, 3), a(4, 3), a(3)), ValueError,
     r"linear: bias must have shape \(4,\), got \(3,\)"),
    ("linear dtype", lambda: F.linear(a(2, 3, dtype=np.float32), a(4, 3)), TypeError,
     r"linear: dtypes differ \(input is float32, weight is float64\)"),
    ("softmax axis", lambda: F.softmax(a(2, 3), axis=2), ValueError,
     r"softmax: axis must be an int in \[-2, 2\) for an input of shape \(2, 3\), got 2"),
    ("log_softmax axis", lambda: F.log_softmax(a(2, 3), axis=-3), ValueError,
     r"log_softmax: axis must be an int in \[-2, 2\).*got -3"),
    ("flatten dims", lambda: F.flatten(a(2, 3), 1, 0), ValueError,
     r"flatten: start_dim 1 comes after end_dim 0"),
    # the Tensor and Value engines
    ("integer tensor requiring grad", lambda: Tensor(np.arange(3), requires_grad=True),
     TypeError, r"only floating-point or object dtypes can require gradients, got dtype int64"),
    ("broadcast", lambda: Tensor(a(2, 3)) + Tensor(a(4)), ValueError,
     r"add: shapes \(2, 3\) and \(4,\) do not broadcast"),
    ("matmul inner sizes", lambda: Tensor(a(2, 3)) @ Tensor(a(4, 2)), ValueError,
     r"matmul: inner sizes differ: \(2, 3\) @ \(4, 2\)"),
    ("reshape", lambda: Tensor(a(2, 3)).reshape(4), ValueError,
     r"reshape: cannot view a tensor of shape \(2, 3\) \(6 elements\) as \(4,\)"),
    ("sum axis", lambda: Tensor(a(2, 3)).sum(axis=2), ValueError,
     r"axis 2 is out of range for a tensor of 2 dims"),
    ("expand", lambda: Tensor(a(2, 3)).expand(4, 3), ValueError,
     r"expand: cannot expand shape \(2, 3\) to \(4, 3\)"),
    ("flatten start_dim out of range", lambda: Tensor(a(2, 3, 4)).flatten(4), ValueError,
     r"flatten: start_dim=4 is out of range for a tensor of 3 dims \(expected -3 <= "
     r"start_dim < 3\)"),
    ("F.flatten end_dim out of range", lambda: F.flatten(a(2, 3), 0, -3), ValueError,
     r"flatten: end_dim=-3 is out of range"),
    ("permute axis out of range", lambda: Tensor(a(2, 3, 4)).permute(0, 4, 2), ValueError,
     r"permute: \(0, 4, 2\) is not a permutation of 3 axes"),
    ("permute too few axes", lambda: Tensor(a(2, 3, 4)).permute(1, 0), ValueError,
     r"permute: \(1, 0\) is not a permutation of 3 axes"),
    ("transpose axis out of range", lambda: Tensor(a(2, 3)).transpose(0, 5), ValueError,
     r"transpose: axis1=5 is out of range for a tensor of 2 dims"),
    ("backward of a non-scalar", lambda: (Tensor(a(2), requires_grad=True) * 2).backward(),
     RuntimeError, r"gradient can be omitted only for a tensor with one element, this one "
     r"has shape \(2,\)"),
    ("Tensor of a string", lambda: Tensor("abc"), TypeError,
     r"Tensor\(data\): expected an ndarray, a nested list or a number, got str"),
    ("Value of a Value", lambda: Value(Value(1)), TypeError, r"data is already a Value"),
    # the scalar versions
    ("scalar conv2d ranks", lambda: S.conv2d([[1, 2], [3, 4]], [[[[1]]]]), ValueError,
     r"conv2d: with an \[H\]\[W\] input, w must be \[KH\]\[KW\], got shape \(1, 1, 1, 1\)"),
    ("scalar conv2d channels", lambda: S.conv2d([[[1]], [[2]]], [[[[1]]]]), ValueError,
     r"conv2d: w expects 1 input channels \(shape \(1, 1, 1, 1\)\), x has 2"),
    ("scalar conv2d kernel too large", lambda: S.conv2d([[1, 2]], [[1, 2, 3]]), ValueError,
     r"output size floor\(\(2 \+ 2\*0 - 1\*\(3-1\) - 1\)/1\) \+ 1 = 0, expected at least 1"),
    ("scalar conv2d ragged", lambda: S.conv2d([[1, 2], [3]], [[1]]), ValueError,
     r"conv2d: x is ragged"),
    ("scalar stride", lambda: S.conv2d([[1, 2]], [[1]], stride=1.5), TypeError,
     r"conv2d: stride must be an int, got 1\.5 \(float\)"),
    ("scalar bias", lambda: S.conv2d([[[1]]], [[[[1]]], [[[2]]]], b=[1]), ValueError,
     r"conv2d: b must hold one value per output channel \(2\)"),
    ("scalar pool padding", lambda: S.max_pool2d([[1, 2], [3, 4]], 2, padding=2), ValueError,
     r"max_pool2d: padding must be at most half the kernel size"),
    ("scalar class index", lambda: S.cross_entropy([Value(1.0), Value(2.0)], 2), ValueError,
     r"cross_entropy: target class index must be in \[0, 2\), got 2"),
    ("scalar class index type", lambda: S.cross_entropy([1.0, 2.0], 1.0), TypeError,
     r"cross_entropy: target must be an int class index, got 1\.0 \(float\)"),
    ("scalar logits", lambda: S.softmax([[1.0]]), ValueError,
     r"softmax: logits must be a non-empty flat list"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()

