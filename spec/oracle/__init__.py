"""The oracle: check anyone's conv / pool / softmax implementation and say what is wrong.

>>> import numpy as np
>>> from spec import oracle
>>> import tinygrad_cnn.nn.functional as F
>>> report = oracle.check("relu", lambda x: F.relu(x).numpy())
>>> report.passed
True

Contract (``op`` is one of :data:`OPS`):

- ``forward(*arrays, **params) -> ndarray``: the arrays are NumPy float64 arrays passed
  positionally in the order of ``tinygrad_cnn.nn.functional.<op>`` (conv: ``x, w[, b]``;
  linear: ``x, w[, b]``; cross_entropy: ``logits, target`` with an int64 target), and the
  parameters are keywords with the same names (conv: stride, padding, dilation, groups;
  max_pool2d: kernel_size, stride, padding, dilation; avg_pool2d: kernel_size, stride,
  padding; softmax / log_softmax: axis; cross_entropy: reduction). A case without a bias
  does not pass ``b`` at all. Integer-valued parameters are ints, or ``(h, w)`` tuples
  when the two axes differ.
- ``backward(*arrays, grad_out, **params)``: one gradient per differentiable array input,
  in order, as a tuple (a bare array is accepted when there is one); cross_entropy's
  integer target gets none.

Checks per case: the output shape against :func:`spec.output_size`, the values against
the engine in float64, the gradients against the engine's autograd, and the candidate's
own backward against central finite differences of its own forward.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .adapters import Adapted, adapt
from .cases import OPS, Case, all_cases
from .checker import CaseResult, explain, run_case, time_limit
from .golden import VERSION, export
from .reference import TEXT
from .report import Failure, Report, fd_note

__all__ = ["OPS", "TEXT", "Case", "CaseResult", "Report", "check", "assert_matches",
           "export", "main", "all_cases"]


def _name(fn: Callable[..., Any] | None) -> str | None:
    if fn is None:
        return None
    if isinstance(fn, functools.partial):
        args = ", ".join(f"{k}={v!r}" for k, v in fn.keywords.items())
        return f"{_name(fn.func)} (partial: {args})"
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', repr(fn))}"


def check(op: str, forward: Callable[..., Any], backward: Callable[..., Any] | None = None,
          *, seed: int = 0, shrink_budget: int = 40, timeout: float | None = 10.0,
          style: str = "arrays", layout: str = "NCHW",
          grads: tuple[str, ...] | None = None) -> Report:
    """Check an implementation of ``op`` on every case and explain the first failure.

    Parameters
    ----------
    op : str
        One of ``conv1d conv2d max_pool2d avg_pool2d relu softmax log_softmax
        cross_entropy linear``.
    forward : callable
        ``forward(*arrays, **params) -> ndarray`` (see the module docstring).
    backward : callable, optional
        ``backward(*arrays, grad_out, **params) -> tuple of ndarrays``.
    seed : int
        Seed of the random cases (the document, edge and tie cases are fixed).
    shrink_budget : int
        At most this many smaller cases are tried when shrinking a failure.
    timeout : float or None
        Seconds one call of ``forward`` or ``backward`` may take (None or 0: no limit). A
        candidate that hits it fails that case and is not called again; the limit works
        in the main thread on POSIX systems (a ``SIGALRM`` timer).

    style, layout, grads
        How the implementation is called (see :mod:`spec.oracle.adapters`): style
        ``"arrays"`` (the contract above), ``"cs231n"`` or ``"layer"``; layout ``"NCHW"``
        or ``"NHWC"``; ``grads``, the layer attributes holding the weight gradients.
        Cases the style cannot express are not run (``report.unsupported``).

    Returns
    -------
    Report
        ``report.passed`` is a bool; ``str(report)`` is a readable account;
        ``report.diagnoses`` lists the keys of the recognised mistakes.
    """
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    if not callable(forward) or (backward is not None and not callable(backward)):
        raise TypeError("forward (and backward, if given) must be callable")
    adapted = adapt(op, forward, backward, style=style, layout=layout, grads=grads)
    names = _name(forward) or "?", _name(backward)
    with time_limit(timeout):
        return _check(op, adapted, names, seed, shrink_budget)


def _check(op: str, adapted: Adapted, names: tuple[str, str | None], seed: int,
           shrink_budget: int) -> Report:
    forward, backward = adapted.forward, adapted.backward
    cases, unsupported = [], []
    for case in all_cases(op, seed):
        reason = adapted.out_of_scope(case)
        if reason is None:
            cases.append(case)
        else:
            unsupported.append((case.name, reason))
    results = [run_case(forward, backward, case) for case in cases]
    report = Report(op, *names, seed, results)
    report.unsupported = unsupported
    failed = report.failed
    if not failed:
        return report
    hung = [r for r in failed if r.problems[0].category == "timeout"]
    if hung:  # nothing to shrink or diagnose: show the case where it stopped
        report.failure = Failure(hung[0].case.name, 0, hung[0])
        return report
    chosen, shrunk, steps, report.diagnoses, report.stages = explain(
        forward, backward, failed, shrink_budget,
        in_scope=lambda case: adapted.out_of_scope(case) is None)
    report.failure = Failure(chosen.case.name, steps, shrunk, fd_note(forward, shrunk))
    return report


def assert_matches(op: str, forward: Callable[..., Any],
                   backward: Callable[..., Any] | None = None, **kwargs: Any) -> Report:
    """Like :func:`check`, for a test suite: raise ``AssertionError`` with the report's text
    when anything fails; return the report otherwise.

    >>> import tinygrad_cnn.nn.functional as F
    >>> _ = assert_matches("softmax", lambda x, axis: F.softmax(x, axis).numpy())
    """
    report = check(op, forward, backward, **kwargs)
    if not report.passed:
        raise AssertionError(str(report))
    return report


# ------------------------------------------------------------------------------- CLI


class _LoadError(Exception):
    pass


def load(target: str, paths: list[str] | None = None) -> Callable[..., Any]:
    """Import ``module:function`` (dots allowed in both parts); clear errors otherwise."""
    if target.count(":") != 1:
        raise _LoadError(f"expected MODULE:FUNCTION (e.g. mypkg.conv:conv2d), got {target!r}")
    module_name, attr = target.split(":")
    if not module_name or not attr:
        raise _LoadError(f"expected MODULE:FUNCTION (e.g. mypkg.conv:conv2d), got {target!r}")
    for p in reversed(paths or []):
        if p not in sys.path:
            sys.path.insert(0, p)
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise _LoadError(f"cannot import module {module_name!r}: {exc} (is its directory on "
                         "the path? use --path DIR)") from None
    except Exception as exc:  # noqa: BLE001 - a broken module is reported, not raised
        raise _LoadError(f"importing module {module_name!r} failed: "
                         f"{type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _LoadError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise _LoadError(f"{target!r} is not callable (it is a {type(obj).__name__})")
    return obj


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    """``tinygrad-cnn oracle OP MODULE:FUNCTION [--backward MODULE:FUNCTION] [--seed N]``
    or ``tinygrad-cnn oracle export DIR``. Exit 0 (pass), 1 (fail) or 2 (bad arguments)."""
    if not isinstance(args, argparse.Namespace):
        from tinygrad_cnn.cli import build_parser

        args = build_parser().parse_args(["oracle", *(args if args is not None
                                                      else sys.argv[1:])])
    if args.op == "export":
        paths = export(args.target, seed=args.seed)
        print(f"wrote {len(paths)} files to {args.target} (format version {VERSION}; see "
              f"{Path(args.target) / 'README.md'})")
        return 0
    if args.op not in OPS:
        print(f"tinygrad-cnn oracle: unknown op {args.op!r}; expected one of "
              f"{', '.join(OPS)} or 'export'", file=sys.stderr)
        return 2
    try:
        forward = load(args.target, args.path)
        backward = load(args.backward, args.path) if args.backward else None
    except _LoadError as exc:
        print(f"tinygrad-cnn oracle: {exc}", file=sys.stderr)
        return 2
    report = check(args.op, forward, backward, seed=args.seed, timeout=args.timeout)
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
