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

Scope: ``supports=`` declares what the implementation handles (see :mod:`spec.oracle.scope`);
cases outside it, and cases where the candidate raises ``NotImplementedError``, are not
run and are listed in ``Report.unsupported``. Isolation: the candidate runs in a child
process with a time and a memory limit (see :mod:`spec.oracle.isolation`).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import adapters
from .cases import OPS, Case, all_cases, random_cases
from .checker import CaseResult, explain, run_case
from .golden import VERSION, export
from .isolation import (
    DEFAULT_MEMORY_MIB,
    ISOLATION_CATEGORIES,
    ChildRunner,
    FromModules,
    FromObjects,
    InProcessRunner,
    LoadError,
    OracleError,
    can_fork,
    load,
    validate_limits,
)
from .reference import TEXT
from .report import Failure, Report, fd_note
from .scope import Scope, Unsupported

__all__ = ["OPS", "TEXT", "Case", "CaseResult", "Report", "Unsupported", "check",
           "assert_matches", "export", "main", "all_cases", "load"]

_LoadError = LoadError  # the name before the loader moved to .isolation


def _name(fn: Callable[..., Any] | None) -> str | None:
    if fn is None:
        return None
    if isinstance(fn, functools.partial):
        args = ", ".join(f"{k}={v!r}" for k, v in fn.keywords.items())
        return f"{_name(fn.func)} (partial: {args})"
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', repr(fn))}"


def check(op: str, forward: Callable[..., Any], backward: Callable[..., Any] | None = None,
          *, seed: int = 0, timeout: float | None = 10.0, supports: Any = None,
          strict: bool = False, style: str = "arrays", layout: str = "NCHW",
          grads: Any = None, isolate: bool = True,
          memory_mib: float | None = DEFAULT_MEMORY_MIB, shrink_budget: int = 40) -> Report:
    """Check an implementation of ``op`` on every case in its scope and explain a failure.

    Parameters
    ----------
    op : str
        One of ``conv1d conv2d max_pool2d avg_pool2d relu softmax log_softmax
        cross_entropy linear``.
    forward : callable
        ``forward(*arrays, **params) -> ndarray`` (see the module docstring), or what
        ``style`` says.
    backward : callable, optional
        ``backward(*arrays, grad_out, **params) -> tuple of ndarrays``.
    seed : int
        Seed of the random cases (the document, edge and tie cases are fixed); >= 0.
    timeout : float or None
        Seconds one call of ``forward`` or ``backward`` may take, at most 86400 (None or 0:
        no limit). A candidate that hits it fails that case and that function is not
        called again. Isolated, the oracle kills the child process at the limit; in the
        oracle's own process it is a ``SIGALRM`` timer (POSIX, main thread only).
    supports : dict or callable, optional
        What the implementation handles: ``{parameter: allowed values}`` (e.g.
        ``{"groups": {1}, "dilation": {1}}``) or a predicate on a :class:`Case`. Cases
        outside it are not run and are listed in ``Report.unsupported`` with the reason;
        so is a case where the candidate raises ``NotImplementedError``.
    strict : bool
        Count unsupported cases as failures.
    isolate : bool
        Run the candidate in a child process (the default, where the platform can fork;
        elsewhere the report says it ran in the oracle's process).
    memory_mib : float or None
        Memory limit of the child process in MiB above its size at start, at least 64
        (None: no limit). An allocation past it fails with ``MemoryError``.
    shrink_budget : int
        At most this many smaller cases are tried when shrinking a failure.
    style, layout, grads
        How the implementation is called (see :mod:`spec.oracle.adapters`): style
        ``"arrays"`` (the contract above), ``"cs231n"`` or ``"layer"``; layout ``"NCHW"``
        or ``"NHWC"``; ``grads``, the layer attributes holding the weight gradients.
        Cases the style cannot express are not run (``report.unsupported``).

    Returns
    -------
    Report
        ``report.passed`` is a bool; ``str(report)`` is a readable account;
        ``report.unsupported`` lists the cases not run; ``report.diagnoses`` lists the
        keys of the recognised mistakes.
    """
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    validate_limits(seed, timeout, memory_mib)
    if not callable(forward) or (backward is not None and not callable(backward)):
        raise TypeError("forward (and backward, if given) must be callable")
    scope = Scope(op, supports)
    adapted = adapters.adapt(op, forward, backward, style=style, layout=layout, grads=grads)
    runner: ChildRunner | InProcessRunner
    if isolate and can_fork():
        runner = ChildRunner(FromObjects(adapted), timeout=timeout, memory_mib=memory_mib)
    else:
        note = "isolate=False" if not isolate else \
            "this platform cannot fork, so check(isolate=True) runs it here"
        runner = InProcessRunner(adapted, timeout, note)
    with runner:
        return _run(op, runner, _name(forward) or "?", _name(backward), seed, scope,
                    bool(strict), shrink_budget, layout=layout)


def _run(op: str, runner: ChildRunner | InProcessRunner, forward_name: str,
         backward_name: str | None, seed: int, scope: Scope, strict: bool,
         shrink_budget: int, layout: str = "NCHW") -> Report:
    """Every case through ``runner`` (in scope), then the failure shrunk and diagnosed."""
    forward, backward = runner.forward, runner.backward
    if backward is not None and not backward_name:  # cs231n's softmax_loss, a layer object
        backward_name = (f"{forward_name}, its own gradient (softmax_loss's dx, or the "
                         "backward of the layer it builds)")
    cases = all_cases(op, seed)
    results: list[CaseResult] = []
    unsupported: list[Unsupported] = []

    def outside(case: Case) -> Unsupported | None:
        reason, source = scope.reason(case), "supports"
        if reason is None:
            reason, source = runner.out_of_scope(case), "style"
            if reason is not None and "does not take " in reason:  # adapters._signature_scope
                source = "signature"
        return None if reason is None else Unsupported(case, reason, source)

    n_random = sum(c.kind == "random" for c in cases)
    skipped = {c.name: outside(c) for c in cases}
    missing = sum(1 for c in cases if c.kind == "random" and skipped[c.name] is not None)
    # random cases outside the scope are replaced by further ones inside it; a narrow scope
    # (cs231n's conv: one stride, one padding, no dilation, no groups) keeps about 1 random
    # config in 70, so the search widens until it has them all (or gives up: a few hundred)
    drawn = n_random
    for per_missing in (10, 100, 400):
        if not missing:
            break
        count = n_random + per_missing * missing
        for case in random_cases(op, seed, count=count)[drawn:]:
            if missing and outside(case) is None:
                cases.append(case)
                skipped[case.name] = None
                missing -= 1
        drawn = count
    for case in cases:
        if skipped[case.name] is not None:
            unsupported.append(skipped[case.name])
            continue
        result = run_case(forward, backward, case)
        refused = [p for p in result.problems if p.category == "not-implemented"]
        if refused and len(refused) == len(result.problems):
            words = refused[0].message.split(": ", 1)[-1]
            unsupported.append(Unsupported(case, f"its {refused[0].stage} {words}",
                                           "not-implemented"))
            continue
        results.append(result)
    report = Report(op, forward_name, backward_name, seed, results, unsupported=unsupported,
                    strict=strict, scope=scope.describe(), isolation=runner.description,
                    order=[c.name for c in cases], layout=layout)
    _explain(report, runner, forward, backward, scope, shrink_budget)
    report.timing = {"starts": runner.starts, "calls": runner.calls,
                     "start": getattr(runner, "start_seconds", 0.0),
                     "overhead": getattr(runner, "overhead_seconds", 0.0)}
    return report


def _explain(report: Report, runner: ChildRunner | InProcessRunner,
             forward: Callable[..., Any], backward: Callable[..., Any] | None, scope: Scope,
             shrink_budget: int) -> None:
    """Pick the failure to show: shrink it and diagnose every failed case."""
    failed = report.failed
    if not failed:
        return
    broken = [r for r in failed if r.problems[0].category in ISOLATION_CATEGORIES]
    plain = [r for r in failed if r.problems[0].category not in ISOLATION_CATEGORIES]
    hung = [r for r in broken if r.problems[0].category == "timeout"]
    if hung or not plain:  # nothing to shrink or diagnose: show the case where it stopped
        first = (hung or broken)[0]
        report.failure = Failure(first.case.name, 0, first)
        return
    def in_scope(case: Case) -> bool:
        return scope.reason(case) is None and runner.out_of_scope(case) is None

    chosen, shrunk, steps, report.diagnoses, report.stages = explain(
        forward, backward, plain, shrink_budget, in_scope=in_scope)
    report.failure = Failure(chosen.case.name, steps, shrunk, fd_note(forward, shrunk))


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

#: The most the candidate may print (to a file) in one call under ``tinygrad-cnn oracle``;
#: a write past it ends the process running it, which fails that call.
CLI_OUTPUT_LIMIT = 64 * 2**20


def _relay(path: str) -> None:
    """Copy what the candidate printed to the standard error, and empty the file (the
    child appends, so the limit counts from there again)."""
    try:
        with open(path, "rb+") as printed:
            sys.stderr.flush()
            shutil.copyfileobj(printed, sys.stderr.buffer)
            sys.stderr.flush()
            printed.truncate(0)
    except (OSError, AttributeError, ValueError):
        pass


class _RelayingRunner(ChildRunner):
    """A child runner whose output file is copied to the standard error after each call."""

    def call(self, which: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        try:
            return super().call(which, args, kwargs)
        finally:
            if self.output is not None:
                _relay(self.output)


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    """``tinygrad-cnn oracle OP MODULE:FUNCTION [--backward MODULE:FUNCTION] [--seed N]
    [--supports NAME=VALUES] [--strict] [--timeout S] [--memory MIB]``,
    ``tinygrad-cnn oracle export DIR`` or ``tinygrad-cnn oracle grade SUBMISSIONS --config
    FILE`` (see :mod:`spec.oracle.grade`). Exit 0 (pass), 1 (fail) or 2 (bad arguments).

    The candidate's module is imported in a child process (always: a module that ends its
    process at import fails, it cannot end the oracle)."""
    if not isinstance(args, argparse.Namespace):
        from tinygrad_cnn.cli import build_parser

        args = build_parser().parse_args(["oracle", *(args if args is not None
                                                      else sys.argv[1:])])
    if args.op == "export":
        paths = export(args.target, seed=args.seed)
        print(f"wrote {len(paths)} files to {args.target} (format version {VERSION}; see "
              f"{Path(args.target) / 'README.md'})")
        return 0

    def refuse(message: str) -> int:
        print(f"tinygrad-cnn oracle: {message}", file=sys.stderr)
        return 2

    if args.op == "grade":
        from .grade import main as grade_main

        return grade_main(args)

    if args.op not in OPS:
        return refuse(f"unknown op {args.op!r}; expected one of {', '.join(OPS)}, 'export' "
                      "or 'grade'")
    supports: dict[str, list[Any]] | None = None
    for name, values in getattr(args, "supports", None) or []:
        supports = supports or {}
        supports.setdefault(name, [])
        supports[name] += [v for v in values if v not in supports[name]]
    try:
        scope = Scope(args.op, supports)
    except (ValueError, TypeError) as exc:
        return refuse(str(exc))
    grads = tuple(args.grads.split(",")) if getattr(args, "grads", None) else None
    source = FromModules(args.op, args.target, args.backward, tuple(args.path),
                         style=getattr(args, "style", "arrays"),
                         layout=getattr(args, "layout", "NCHW"), grads=grads)
    # what the candidate prints goes to a file, copied to the standard error after the run:
    # a process it starts and leaves running then holds that file, not the caller's pipe
    # (which kept a CI step or subprocess.run(capture_output=True) waiting for it)
    with tempfile.TemporaryDirectory(prefix="tinygrad-cnn-oracle-") as tmp:
        output = os.path.join(tmp, "output")
        runner = _RelayingRunner(source, timeout=args.timeout,
                                 memory_mib=getattr(args, "memory", DEFAULT_MEMORY_MIB),
                                 output=output, output_limit=CLI_OUTPUT_LIMIT)
        try:
            with runner:
                report = _run(args.op, runner, args.target, args.backward, args.seed, scope,
                              bool(getattr(args, "strict", False)), 40,
                              layout=getattr(args, "layout", "NCHW"))
        except LoadError as exc:
            return refuse(str(exc))
        except OracleError as exc:
            print(f"tinygrad-cnn oracle: internal error (not your code's fault): {exc}",
                  file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # the user's Ctrl-C (the child ignores it): no verdict
            print("tinygrad-cnn oracle: interrupted; no verdict", file=sys.stderr)
            return 130
        finally:
            _relay(output)
    print(report)
    sys.stdout.flush()
    return 0 if report.passed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
