"""The ``tinygrad-cnn`` command line.

Each subcommand's arguments are declared here (so ``--help`` is instant); its work is
imported only when it runs. Every ``run`` returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .console import run_guarded


def _number(convert: Callable[[str], float], expected: str,
            ok: Callable[[float], bool]) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert`` the text, then check it with ``ok``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_SEED_LIMIT = 2**63  # stored with the weights as an int64
# epochs, batch size and subset are stored with the weights as int64 too: a larger number
# trained, then failed to save (the run lost, and a Ctrl-C checkpoint with it)
_any_positive_int = _number(int, "a positive integer", lambda v: v >= 1)


def _positive_int(text: str) -> int:
    value = _any_positive_int(text)
    if value >= _SEED_LIMIT:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer up to {_SEED_LIMIT - 1}, got {value}")
    return value


_positive_float = _number(float, "a positive number", lambda v: v > 0)
_learning_rate = _number(float, "a finite positive number", lambda v: 0 < v < float("inf"))
_seed = _number(int, f"an integer from 0 to {_SEED_LIMIT - 1}", lambda v: 0 <= v < _SEED_LIMIT)
_non_negative_float = _number(float, "a finite number >= 0", lambda v: 0 <= v < float("inf"))


def _add_verify(sub: argparse._SubParsersAction) -> None:
    # the command is defined once, in spec.command (python -m spec uses the same definition)
    from spec.command import DESCRIPTION, HELP, add_arguments

    add_arguments(sub.add_parser("verify", help=HELP, description=DESCRIPTION))
    sub.choices["verify"].set_defaults(_run="spec.command:main")


_TRAIN_EPILOG = """\
guarantees:
  Every output (--out, and --plots when given) is checked by creating a file there
  before the first step, so a bad path fails at once (exit 2), not after training.
  The weights are written to a temporary file beside --out and renamed over it, so
  --out holds either its old content or the complete new file.
  If the loss becomes NaN or infinite, training stops with a message, nothing is
  saved, and the exit status is 1.
  Ctrl-C saves the weights so far to OUT with .interrupted before the extension
  (weights.interrupted.npz; a finished run saved at --out is not replaced), says
  where, and exits 130; SIGTERM (kill, timeout) does the same and exits 143.

exit status: 0 trained and saved; 1 the run failed (NaN loss, weights not written);
  2 bad argument or input file; 130 interrupted by Ctrl-C, 143 by SIGTERM (checkpoint
  saved).

examples:
  tinygrad-cnn train
  tinygrad-cnn train --model mlp --epochs 5 --out mlp.npz
  tinygrad-cnn train --epochs 2 --subset 200 --out quick.npz --plots figures
  tinygrad-cnn evaluate weights.npz
"""


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a CNN (or an MLP) on handwritten digits",
        description=textwrap.fill(
            "Train on scikit-learn's bundled 8x8 digits (no network), or on MNIST IDX files "
            "given with --data-dir; print test accuracy and the parameter count, and save the "
            "weights as .npz. The learning rate follows a cosine schedule from --lr down to "
            "0.", 79),
        epilog=_TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the defaults stated here are train.DEFAULTS (a test holds them equal); train.py is
    # not imported, so that --help stays instant
    p.add_argument("--model", choices=["cnn", "mlp"], default="cnn",
                   help="architecture (default: cnn, conv-pool-conv-pool-linear)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="Adam, or SGD with momentum 0.9 (default: adam)")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="passes over the training set (default: 20)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="mini-batch size (default: 32)")
    p.add_argument("--lr", type=_learning_rate, default=None,
                   help="learning rate at the start of the schedule (default: 0.01)")
    p.add_argument("--seed", type=_seed, default=0,
                   help="seed of the initial weights and the shuffling; the train/test "
                        "split is fixed (default: 0)")
    p.add_argument("--subset", metavar="N", type=_positive_int, default=None,
                   help="train on the first N training images only, for a quick run "
                        "(default: all; the test set is always whole)")
    p.add_argument("--data-dir", default=None,
                   help="directory with MNIST IDX files (train-images-idx3-ubyte[.gz], ...) "
                        "(default: none, the bundled 8x8 digits)")
    p.add_argument("--out", default="weights.npz",
                   help="where to save the weights (default: weights.npz)")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write PNG figures (filters, feature maps, curves) to DIR "
                        "(default: none)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress report (default: a bar per epoch on a terminal, one "
                        "line per epoch when stderr is a file or a pipe)")
    p.set_defaults(_run="tinygrad_cnn.train:main_train")

    e = sub.add_parser(
        "evaluate", help="reload saved weights and report test accuracy",
        description="Reload weights saved by `train` and print test accuracy. The file is "
                    "checked before anything is decompressed (sizes, no pickles). Exit "
                    "status: 0 evaluated; 1 the model's outputs are NaN or infinite (a "
                    "warning names any non-finite weights); 2 a bad or foreign weights file.")
    e.add_argument("weights", help="a .npz file written by `tinygrad-cnn train`")
    e.add_argument("--data-dir", default=None,
                   help="MNIST IDX directory, as for train (default: the one stored with the "
                        "weights, or the bundled digits)")
    e.set_defaults(_run="tinygrad_cnn.train:main_evaluate")


def _timeout_seconds(text: str) -> float:
    """An argparse ``type``: seconds in [0, 86400] (0: no limit)."""
    return _number(float, "a finite number >= 0 and at most 86400 (seconds)",
                   lambda v: 0 <= v <= 86_400)(text)


def _memory_mib(text: str) -> float | None:
    """An argparse ``type``: MiB (``4096``), or with a unit (``512M``, ``4G``), at least 64;
    ``unlimited`` for no limit."""
    if text.strip().lower() in ("unlimited", "none"):
        return None
    scale = {"k": 1 / 1024, "m": 1.0, "g": 1024.0, "t": 1024.0 ** 2}
    body = text.strip().lower().removesuffix("ib").removesuffix("b")
    factor = scale.get(body[-1:], None) if body else None
    number = body[:-1] if factor is not None else body
    expected = "a size of at least 64 MiB, e.g. 4096, 512M or 4G (or 'unlimited')"
    try:
        value = float(number) * (factor or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not 64 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _supports_item(text: str) -> tuple[str, list[Any]]:
    """An argparse ``type``: ``NAME=V1,V2,...`` (Python literals; a pair as ``(1,2)``)."""
    import ast

    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE[,VALUE...] (e.g. groups=1 or "
                                         f"stride=1,2), got {text!r}")
    try:
        parsed = ast.literal_eval(f"[{values}]")
    except (ValueError, SyntaxError):
        parsed = []
        for item in values.split(","):
            try:
                parsed.append(ast.literal_eval(item.strip()))
            except (ValueError, SyntaxError):
                parsed.append(item.strip())
    return name.strip(), list(parsed)


def _add_oracle(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "oracle", help="check another implementation of conv / pool / softmax / ...",
        description="Check an implementation given as module:function against the "
                    "specification; print a report with the smallest failing case and a "
                    "diagnosis; exit 0 if it passes, 1 otherwise. The module is imported and "
                    "run in a child process with a time and a memory limit. `tinygrad-cnn "
                    "oracle export DIR` writes the cases as JSON golden files instead.")
    p.add_argument("op", help="conv1d | conv2d | max_pool2d | avg_pool2d | relu | softmax | "
                              "log_softmax | cross_entropy | linear, or 'export' or 'grade'")
    p.add_argument("target", help="module:function (forward); DIR for 'export'; the "
                                  "submissions folder for 'grade'")
    p.add_argument("--backward", metavar="MODULE:FUNCTION", default=None,
                   help="the matching backward: backward(*arrays, grad_out, **params) in "
                        "the arrays style, backward(dout, cache) in the cs231n style; none "
                        "for the layer style or cs231n's softmax_loss")
    p.add_argument("--seed", type=_number(int, "an integer >= 0", lambda v: v >= 0), default=0,
                   help="seed of the random cases (checking and export; default: 0)")
    p.add_argument("--path", action="append", default=[], metavar="DIR",
                   help="add DIR to sys.path before importing the target (default: cwd)")
    p.add_argument("--timeout", type=_timeout_seconds, default=10.0, metavar="SECONDS",
                   help="time limit of one call of the target (default 10, at most 86400; "
                        "0: none); the oracle kills a target that hits it, which fails that "
                        "case and is not called again")
    p.add_argument("--memory", type=_memory_mib, default=4096.0, metavar="SIZE",
                   help="memory limit of the process running the target, above its size at "
                        "start: MiB, or 512M / 4G, at least 64 (default 4096; 'unlimited')")
    p.add_argument("--supports", type=_supports_item, action="append", default=[],
                   metavar="NAME=VALUES",
                   help="what the target handles, e.g. --supports groups=1 --supports "
                        "stride=1,2 (repeatable); cases outside are not run and are listed")
    p.add_argument("--strict", action="store_true",
                   help="count cases outside --supports (or NotImplementedError) as failures")
    p.add_argument("--style", default="arrays", metavar="{arrays,cs231n,layer}",
                   help="calling style of the target (default: arrays): arrays = "
                        "forward(*arrays, **params) as F.<op>; cs231n = "
                        "conv_forward_naive(x, w, b, conv_param) -> (out, cache) with "
                        "--backward conv_backward_naive(dout, cache), softmax_loss(x, y) "
                        "-> (loss, dx); layer = a class built as Class(W, b, stride=, pad=) "
                        "with forward(x) and backward(dout) (Deep Learning from Scratch); "
                        "see the oracle docs")
    p.add_argument("--layout", default="NCHW", metavar="{NCHW,NHWC}",
                   help="NCHW (default) or NHWC (images (N, H, W, C), conv weights HWIO)")
    p.add_argument("--grads", default=None, metavar="NAME,NAME",
                   help="'layer' style: the attributes holding the weight gradients after "
                        "backward (default: dW,db)")
    g = p.add_argument_group("grade", "`tinygrad-cnn oracle grade SUBMISSIONS --config FILE`: "
                                      "one sub-folder (or .py file) per student")
    g.add_argument("--config", metavar="FILE", default=None,
                   help="the TOML file listing the checks (see the oracle docs)")
    g.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="submissions graded at once (default: the CPU count)")
    g.add_argument("--format", choices=["table", "json", "junit", "gradescope"],
                   default="table", help="output format (default: table; gradescope: one "
                        "submission folder, as Gradescope runs it)")
    g.add_argument("--out", metavar="FILE", default=None,
                   help="write the output to FILE instead of the standard output")
    p.set_defaults(_run="spec.oracle:main")


_GRAPH_EPILOG = """\
examples:
  tinygrad-cnn graph
  tinygrad-cnn graph '(a*b + c).relu()' --var a=2 --var b=-3 --var c=10
  tinygrad-cnn graph 'a/b - a**-1' --var a=1/2 --var b=3 --format dot
  tinygrad-cnn graph --conv
"""


def _add_graph(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "graph", help="draw the computation graph of a small expression",
        description=textwrap.fill(
            "Build a small expression (or a tiny conv) from Values, run backward and print its "
            "graph as DOT or Mermaid; write an SVG when Graphviz's dot is installed. Exact "
            "numbers are bounded (exponents, sizes of numbers and results), so a hostile "
            "expression is refused at once.", 79),
        epilog=_GRAPH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("expression", nargs="?", default=None,
                   help="names, numbers, + - * / **, unary -, .relu() .exp() .log() .tanh() "
                        "(default: '(a*b + c).relu()' with a=2, b=-3, c=10)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="a leaf value (Fraction syntax like 1/2 is exact)")
    p.add_argument("--conv", action="store_true", help="draw a tiny 3x3 input * 2x2 kernel conv")
    p.add_argument("--format", choices=["dot", "mermaid"], default="mermaid",
                   help="the text printed (default: mermaid)")
    p.add_argument("--svg", metavar="FILE", default=None, help="write an SVG (needs Graphviz)")
    p.set_defaults(_run="tinygrad_cnn.graph:main")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line refusal: ``PROG: error: MESSAGE (see PROG --help)``, exit 2.

    (argparse's own prints the whole usage first; the subcommands' parsers are made from
    this class too.)
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tinygrad-cnn",
        description="A verified teaching engine for CNNs: autograd on scalars and tensors, "
                    "a SymPy specification of the course formulas, and an oracle for your "
                    "own conv / pool / softmax.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_verify, _add_train, _add_oracle, _add_graph):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module_name, func_name = args._run.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    # a closed or broken stdout, an unencodable character, Ctrl-C: a status, no traceback
    return run_guarded(lambda: int(func(args) or 0))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
