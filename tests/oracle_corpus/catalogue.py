"""The corpus's buggy submissions with the diagnoses the oracle must give (exactly), for
the tests and for the documentation page."""

import oracle_candidates as oc

from . import arrays_numpy as an
from . import cs231n_buggy as cb
from . import cs231n_naive as cn
from . import dlfs_layers as dl
from . import nhwc_numpy as nh

# name: (op, forward, backward, check kwargs, the diagnoses, exactly)
BUGGY = {
    "cs231n conv with a flipped kernel": (
        "conv2d", cb.conv_forward_flipped, cb.conv_backward_flipped, {"style": "cs231n"},
        ["flipped-kernel"]),
    "cs231n conv backward with '=' for dx": (
        "conv2d", cn.conv_forward_naive, cb.conv_backward_assign, {"style": "cs231n"},
        ["overlap-overwrite"]),
    "cs231n max-pool mask with '='": (
        "max_pool2d", cb.max_pool_forward, cb.max_pool_backward_mask_assign,
        {"style": "cs231n"}, ["overlap-overwrite", "ties-every-max"]),
    "cs231n max-pool mask with '+='": (
        "max_pool2d", cb.max_pool_forward, cb.max_pool_backward_mask_add, {"style": "cs231n"},
        ["ties-every-max"]),
    "cs231n relu'(0) = 1": ("relu", cb.relu_forward, cb.relu_backward_ge, {"style": "cs231n"},
                            ["relu-grad-at-zero"]),
    "cs231n softmax_loss with log(p + 1e-7)": (
        "cross_entropy", cb.softmax_loss_epsilon, None, {"style": "cs231n"},
        ["epsilon-in-log"]),
    "cs231n softmax_loss with log of the probabilities": (
        "cross_entropy", cb.softmax_loss_log_probs, None, {"style": "cs231n"},
        ["log-of-softmax"]),
    "cs231n softmax_loss without the max shift": (
        "cross_entropy", cb.softmax_loss_unshifted, None, {"style": "cs231n"},
        ["softmax-without-max-shift"]),
    "layer Convolution whose col2im uses '='": (
        "conv2d", dl.ConvolutionOverwrite, None, {"style": "layer"}, ["overlap-overwrite"]),
    "layer Pooling padded with zeros (the book's np.pad)": (
        "max_pool2d", dl.PoolingZeroPad, None, {"style": "layer"}, ["max-pool-zero-padding"]),
    "layer Pooling whose col2im uses '='": (
        "max_pool2d", dl.PoolingOverwrite, None, {"style": "layer"}, ["overlap-overwrite"]),
    "layer SoftmaxWithLoss with the book's delta": (
        "cross_entropy", dl.SoftmaxWithLossDelta, None, {"style": "layer"},
        ["epsilon-in-log"]),
    "arrays log_softmax as the log of softmax": (
        "log_softmax", an.log_softmax_of_softmax, None, {}, ["log-of-softmax"]),
    "arrays log_softmax without the max shift": (
        "log_softmax", oc.EXTRA["softmax without the max shift (log_softmax)"][1], None, {},
        ["softmax-without-max-shift"]),
    "arrays loss with log(p + 1e-7), backward without grad_out": (
        "cross_entropy", an.cross_entropy_epsilon, an.cross_entropy_backward_no_grad_out, {},
        ["epsilon-in-log", "ignores-grad-out"]),
    "arrays loss with log(p + 1e-7), its own derivative without grad_out": (
        "cross_entropy", an.cross_entropy_epsilon,
        an.cross_entropy_epsilon_backward_no_grad_out, {},
        ["epsilon-in-log", "ignores-grad-out"]),
    "arrays max-pool argmax with '='": (
        "max_pool2d", an.max_pool2d, an.max_pool2d_backward_overwrite, {},
        ["overlap-overwrite"]),
    "arrays conv flipped forward, transposed dw": (
        "conv2d", an.conv2d_flipped_forward_transposed_dw, an.conv2d_backward_dw_transposed,
        {}, ["flipped-kernel", "weight-gradient-transposed"]),
    "NHWC max-pool mask": ("max_pool2d", nh.max_pool2d, nh.max_pool2d_backward_mask,
                           {"layout": "NHWC"}, ["ties-every-max"]),
    "NHWC textbook convolution": ("conv2d", nh.conv2d_true_convolution, nh.conv2d_backward,
                                  {"layout": "NHWC"}, ["flipped-kernel"]),
}
