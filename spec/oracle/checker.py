"""Run a candidate implementation on the cases, compare, shrink a failure, diagnose it."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .adapters import StyleError
from .cases import Case, build, expected_shape, shrink_moves
from .isolation import CandidateError, printable
from .reference import TEXT, engine, variant_value, variants

Forward = Callable[..., Any]
Backward = Callable[..., Any]

FD_STAGE = "finite differences"


@dataclasses.dataclass
class Problem:
    """One thing wrong with a candidate on a case."""

    stage: str  # "forward" | "backward" | "finite differences"
    category: str  # raised | timeout | type | dtype | shape | count | nonfinite | values
    message: str
    where: str = "output"  # "output" or the gradient's name, e.g. "dL/dw"
    index: tuple[int, ...] | None = None
    expected: Any = None
    actual: Any = None

    def __post_init__(self) -> None:
        _LIVE[id(self)] = self


@dataclasses.dataclass
class CaseResult:
    """A candidate's result on one case."""

    case: Case
    problems: list[Problem]
    output: np.ndarray | None = None
    grads: tuple | None = None
    expected_output: np.ndarray | None = None
    expected_grads: tuple | None = None
    diagnoses: list[str] = dataclasses.field(default_factory=list)
    fd_checked: bool = False  # whether the finite-difference check ran
    stages: dict[str, str] = dataclasses.field(default_factory=dict)  # diagnosis -> stage

    def __post_init__(self) -> None:
        _LIVE[id(self)] = self

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def signature(self) -> tuple[str, str] | None:
        return (self.problems[0].stage, self.problems[0].category) if self.problems else None


#: Every Problem and CaseResult alive in this process, so that a forked child can forget
#: their arrays before it runs a candidate (see :func:`forget_results`).
_LIVE: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def forget_results() -> None:
    """Drop the arrays of every result alive in this process: the expected values and the
    outputs of earlier checks (e.g. the reports an instructor's grading loop keeps). Called
    in a forked child, a copy, before the candidate runs: otherwise a candidate could walk
    from ``__main__`` to an earlier report and return its expected arrays, or another
    student's outputs, for the same cases."""
    for obj in list(_LIVE.values()):
        if isinstance(obj, CaseResult):
            obj.output = obj.grads = obj.expected_output = obj.expected_grads = None
        elif isinstance(obj, Problem):
            obj.expected = obj.actual = None


# ------------------------------------------------------------------------- comparisons


def _tolerance(dtype: np.dtype, expected: np.ndarray) -> tuple[float, float]:
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    scale = max(1.0, scale if np.isfinite(scale) else 1.0)
    if np.dtype(dtype).itemsize >= 8:  # float64, and wider (longdouble is no excuse)
        return 1e-7, 1e-9 * scale
    return 1e-4, 1e-5 * scale  # float32 (and narrower)


def close(actual: Any, expected: Any, equal_nan: bool = False) -> bool:
    """Same shape and equal within the float64 (or float32) tolerance."""
    if not isinstance(actual, np.ndarray) or not isinstance(expected, np.ndarray):
        return False
    if actual.shape != expected.shape or actual.dtype.kind != "f":
        return False
    expected = np.asarray(expected, dtype=np.float64)
    rtol, atol = _tolerance(actual.dtype, expected)
    with np.errstate(all="ignore"):
        return bool(np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan))


def first_difference(actual: np.ndarray, expected: np.ndarray) -> tuple[int, ...] | None:
    rtol, atol = _tolerance(actual.dtype, expected)
    with np.errstate(all="ignore"):
        bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol)
    idx = np.argwhere(bad)
    return tuple(int(i) for i in idx[0]) if len(idx) else None


def significant_digits(a: Any, b: Any, least: int = 10) -> int:
    """Enough significant digits to tell the numbers ``a`` and ``b`` apart (at least
    ``least``, at most 17, which shows any two float64 numbers apart)."""
    a, b = float(a), float(b)
    if a == b or not (np.isfinite(a) and np.isfinite(b)):
        return least
    relative = abs(a - b) / max(abs(a), abs(b))
    return int(min(17, max(least, np.ceil(-np.log10(relative)) + 2)))


def decimals_to_show(actual: Any, expected: Any, least: int = 6) -> int:
    """Digits after the point that show where two arrays of the same shape differ (for
    printing them whole): the first difference beyond the tolerance must be visible."""
    if not (isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray)
            and actual.shape == expected.shape and actual.dtype.kind == "f"):
        return least
    idx = first_difference(actual, np.asarray(expected, dtype=np.float64))
    if idx is None:
        return least
    a, e = float(actual[idx]), float(expected[idx])
    if a == e or not (np.isfinite(a) and np.isfinite(e)):
        return least
    return int(min(17, max(least, np.ceil(-np.log10(abs(a - e))) + 1)))


def _fmt_number(v: Any, digits: int = 10) -> str:
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else f"{v:.{digits}g}"


# ------------------------------------------------------------------- calling a candidate

class _TimeLimit(BaseException):
    """Raised inside a candidate that runs past the time limit (a BaseException, so that
    the candidate's own ``except Exception`` cannot swallow it)."""


# the time limit of the running `check` and the candidates that hit it (by id)
_limit: float | None = None
_hung: set[int] = set()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Within this block each call of a candidate may take at most ``seconds`` (None or 0:
    no limit); a candidate that hits the limit is not called again.

    The limit is a ``SIGALRM`` timer, so it applies on POSIX systems in the main thread
    (elsewhere there is none). Python code is stopped between two bytecodes; a long call
    into compiled code is stopped when it returns.
    """
    global _limit, _hung
    previous = _limit, _hung
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    _limit, _hung = (seconds if seconds and usable else None), set()
    try:
        yield
    finally:
        _limit, _hung = previous


def _call(fn: Callable[..., Any], args: list[np.ndarray], kwargs: dict[str, Any]
          ) -> tuple[Any, str | None, str | None]:
    """Call a candidate on copies of the arrays: ``(output, None, None)``, or
    ``(None, message, category)`` with category "raised" or "timeout"."""
    if id(fn) in _hung:
        return None, f"not run: it did not return within {_limit:g} s on an earlier case", \
            "timeout"
    limit, running = _limit, [True]

    def stop(signum: int, frame: Any) -> None:
        if running[0]:
            raise _TimeLimit

    previous = signal.signal(signal.SIGALRM, stop) if limit else None
    try:
        if limit:
            signal.setitimer(signal.ITIMER_REAL, limit)
        with np.errstate(all="ignore"):
            out = fn(*[a.copy() for a in args], **kwargs)
        running[0] = False
        return out, None, None
    except CandidateError as exc:  # already explained by the isolated runner
        running[0] = False
        return None, exc.message, exc.category
    except _TimeLimit:
        running[0] = False
        _hung.add(id(fn))
        return None, (f"did not return within {limit:g} s: stopped (an endless loop? the "
                      "limit is check(..., timeout=...), --timeout on the command line)"), \
            "timeout"
    except StyleError as exc:  # what it returned does not fit its style: no location
        running[0] = False
        return None, str(exc), "raised"
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any candidate error is reported
        running[0] = False
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        try:
            text = str(exc)
        except Exception:  # noqa: BLE001 - the candidate's own __str__ may misbehave
            text = "(its message could not be read)"
        return None, printable(f"raised {type(exc).__name__}: {text}{where}"), "raised"
    finally:
        if limit:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)


def _validate(result: Any, shape: tuple[int, ...], stage: str, where: str,
              expected: np.ndarray) -> tuple[np.ndarray | None, Problem | None]:
    """Check type, dtype, shape, finiteness and values of one returned array."""
    if isinstance(result, np.generic) or (isinstance(result, float) and shape == ()):
        result = np.asarray(result)
    if not isinstance(result, np.ndarray):
        return None, Problem(stage, "type", f"{where}: returned {type(result).__name__}, "
                             "expected a numpy.ndarray", where)
    # a subclass is read as the plain array it holds: its own __eq__, dtype, ufuncs or
    # comparisons (which may lie, or raise) are never used (base class method on purpose)
    result = np.ndarray.view(result, np.ndarray)
    if result.dtype.kind != "f":
        return result, Problem(stage, "dtype", f"{where}: returned dtype {result.dtype}, "
                               "expected a floating dtype (float64, or float32)", where)
    if result.shape != shape:
        return result, Problem(stage, "shape", f"{where}: returned shape {result.shape}, "
                               f"expected {shape}", where, expected=expected, actual=result)
    finite = np.isfinite(result)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        return result, Problem(stage, "nonfinite", f"{where}: returned {result[idx]} at "
                               f"index {list(idx)} (expected {_fmt_number(expected[idx])})",
                               where, idx, expected, result)
    if not close(result, expected):
        idx = first_difference(result, expected)
        err = float(np.max(np.abs(result - expected)))
        digits = significant_digits(expected[idx], result[idx])
        return result, Problem(
            stage, "values", f"{where}: values differ, first at index {list(idx)}: expected "
            f"{_fmt_number(expected[idx], digits)}, got {_fmt_number(result[idx], digits)} "
            f"(max abs error {err:.3g})", where, idx, expected, result)
    return result, None


def _ignorable(g: Any) -> bool:
    """Whether a gradient given for a non-differentiable input may be ignored (None or
    zeros)."""
    if g is None:
        return True
    try:
        return bool(np.all(np.asarray(g, dtype=np.float64) == 0))
    except (TypeError, ValueError):
        return False


def gradients_of(raw: Any, case: Case) -> tuple[Any, Problem | None]:
    """A backward's return value as the tuple of the differentiable inputs' gradients.

    A bare array stands for a 1-tuple when there is one differentiable input. A tuple with
    one entry per array input may carry None or zeros for a non-differentiable input (an
    int target); that entry is dropped. Anything else is returned as it is (for the count
    check).
    """
    names, everything = case.differentiable, tuple(case.arrays)
    if isinstance(raw, np.ndarray) and len(names) == 1:
        return (raw,), None
    if (isinstance(raw, (tuple, list)) and len(raw) == len(everything)
            and len(everything) > len(names)):
        kept = []
        for name, g in zip(everything, raw, strict=True):
            if name in names:
                kept.append(g)
            elif not _ignorable(g):
                return raw, Problem(
                    "backward", "values", f"gradients: the gradient returned for {name} "
                    "(not differentiable: integer class indices) must be None or zeros, "
                    "or left out")
        return tuple(kept), None
    return raw, None


# --------------------------------------------------------------------- finite differences


def _objective(forward: Forward, case: Case, name: str, value: np.ndarray) -> float | None:
    arrays = dict(case.arrays, **{name: value})
    out, err, _ = _call(forward, list(arrays.values()), case.params)
    if err is not None or not isinstance(out, (np.ndarray, np.generic, float)):
        return None
    out = np.asarray(out, dtype=np.float64)
    if out.shape != case.grad_out.shape:
        return None
    return float(np.sum(out * case.grad_out))


def _fd_problem(forward: Forward, case: Case, grads: tuple[np.ndarray, ...]) -> Problem | None:
    """Directional central differences of the candidate's own forward (float64) against
    its own backward, one random direction per input."""
    rng = np.random.default_rng(1234)
    for name, grad in zip(case.differentiable, grads, strict=True):
        a = case.arrays[name]
        direction = rng.standard_normal(a.shape)
        h = 1e-5 * max(1.0, float(np.max(np.abs(a))) if a.size else 1.0)
        plus = _objective(forward, case, name, a + h * direction)
        minus = _objective(forward, case, name, a - h * direction)
        if plus is None or minus is None:
            return None
        fd = (plus - minus) / (2 * h)
        analytic = float(np.sum(grad * direction))
        size = 1.0 + float(np.sum(np.abs(grad * direction)))
        if abs(fd - analytic) > 1e-6 * (abs(fd) + abs(analytic)) + 1e-7 * size:
            return Problem(FD_STAGE, "values",
                           f"dL/d{name}: your backward disagrees with finite differences of "
                           f"your own forward: <dL/d{name}, v> = {analytic:.10g}, "
                           f"(f(+hv) - f(-hv))/2h = {fd:.10g} for a random direction v",
                           f"dL/d{name}")
    return None


def fd_gradient(forward: Forward, case: Case, name: str, limit: int = 64
                ) -> np.ndarray | None:
    """The candidate's forward differentiated coordinate by coordinate (small cases)."""
    a = case.arrays[name]
    if a.size > limit:
        return None
    grad = np.zeros_like(a)
    h = 1e-5 * max(1.0, float(np.max(np.abs(a))))
    for idx in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[idx] = h
        plus, minus = _objective(forward, case, name, a + e), _objective(forward, case, name,
                                                                          a - e)
        if plus is None or minus is None:
            return None
        grad[idx] = (plus - minus) / (2 * h)
    return grad


# ------------------------------------------------------------------------- one case


def run_case(forward: Forward, backward: Backward | None, case: Case,
             finite_differences: bool = True) -> CaseResult:
    """Every check on one case; a candidate's exception is a Problem, never a crash."""
    expected_out, expected_grads = engine(case)
    shape = expected_shape(case.op, case.config)
    result = CaseResult(case, [], expected_output=expected_out, expected_grads=expected_grads)
    args = list(case.arrays.values())
    raw, err, category = _call(forward, args, case.params)
    if err is not None:
        result.problems.append(Problem("forward", category, f"output: {err}"))
    else:
        out, problem = _validate(raw, shape, "forward", "output", expected_out)
        result.output = out
        if problem:
            result.problems.append(problem)
    if backward is None:
        return result
    raw, err, category = _call(backward, args, dict(case.params, grad_out=case.grad_out.copy()))
    names = case.differentiable
    if err is not None:
        result.problems.append(Problem("backward", category, f"gradients: {err}"))
        return result
    raw, problem = gradients_of(raw, case)
    if problem is not None:
        result.problems.append(problem)
        return result
    if not isinstance(raw, (tuple, list)) or len(raw) != len(names):
        got = (f"{len(raw)} values" if isinstance(raw, (tuple, list))
               else type(raw).__name__)
        result.problems.append(Problem(
            "backward", "count", f"gradients: returned {got}, expected a tuple of "
            f"{len(names)} arrays (dL/d{', dL/d'.join(names)})"))
        return result
    grads = []
    ok = True
    for name, g, exp in zip(names, raw, expected_grads, strict=True):
        arr, problem = _validate(g, case.arrays[name].shape, "backward", f"dL/d{name}", exp)
        grads.append(arr)
        if problem:
            result.problems.append(problem)
            ok = ok and problem.category == "values"
    result.grads = tuple(grads)
    fd_ready = (finite_differences and case.fd and ok and isinstance(result.output, np.ndarray)
                and result.output.dtype == np.float64 and result.output.shape == shape
                and np.isfinite(result.output).all())
    if fd_ready:
        result.fd_checked = True
        problem = _fd_problem(forward, case, result.grads)
        if problem:
            result.problems.append(problem)
    return result


# -------------------------------------------------------------------------- diagnosis


def _match_forward(actual: Any, value: Any, expected: np.ndarray, block: bool,
                   key: str, case: Case) -> bool:
    if not isinstance(actual, np.ndarray) or actual.dtype.kind != "f":
        return False
    if key == "log-of-softmax":
        return close(actual, value, equal_nan=True)
    if key == "softmax-without-max-shift":
        if close(actual, value, equal_nan=True):
            return True
        # any other non-finite result where the textbook formula overflows, unless it is
        # exactly the log of a max-shifted softmax (a different mistake)
        log_of_softmax = variant_value(case, "log-of-softmax")
        return (not np.isfinite(actual).all() and isinstance(value, np.ndarray)
                and not np.isfinite(value).all()
                and not (log_of_softmax is not None
                         and close(actual, log_of_softmax, equal_nan=True)))
    if block:
        if actual.shape != value.shape:
            return False
        region = tuple(slice(0, s) for s in expected.shape)
        return (all(a >= e for a, e in zip(actual.shape, expected.shape, strict=True))
                and close(np.ascontiguousarray(actual[region]), expected))
    return close(actual, value)


def _match_backward(actual: tuple, value: tuple, expected: tuple, key: str) -> bool:
    if actual is None or len(actual) != len(value):
        return False
    hit = False
    for a, v, e in zip(actual, value, expected, strict=True):
        if key == "softmax-without-max-shift":
            is_v = (isinstance(a, np.ndarray) and a.dtype.kind == "f"
                    and not np.isfinite(a).all() and not np.isfinite(v).all())
        else:
            is_v = close(a, np.asarray(v, dtype=np.float64))
        is_e = close(a, e)
        if is_v and not is_e:
            hit = True
        elif not is_e:
            return False
    return hit


def _constant_factor(result: CaseResult, stage: str) -> bool:
    """Whether the failing array is a constant multiple (not 1, not -1) of the expected."""
    if stage == "forward":
        pairs = [(result.output, result.expected_output)]
    else:
        pairs = list(zip(result.grads or (), result.expected_grads or (), strict=False))
    hit = False
    for actual, expected in pairs:
        if close(actual, expected):
            continue
        if (not isinstance(actual, np.ndarray) or actual.shape != expected.shape
                or actual.dtype.kind != "f" or not np.isfinite(actual).all()):
            return False
        nonzero = np.abs(expected) > 1e-12
        if np.count_nonzero(nonzero) < 2 or np.any(np.abs(actual[~nonzero]) > 1e-9):
            return False  # never from a single number: any two numbers have a ratio
        ratios = actual[nonzero] / expected[nonzero]
        factor = float(np.median(ratios))
        if abs(factor) < 1e-12 or abs(abs(factor) - 1) < 1e-9 \
                or not np.allclose(ratios, factor, rtol=1e-6):
            return False
        hit = True
    return hit


def _probe_ignores_grad_out(backward: Backward, result: CaseResult) -> bool:
    """Whether the candidate's backward returns the same non-zero gradients when grad_out
    is tripled (a behavioural test: it holds whatever its forward does)."""
    case = result.case
    grads = result.grads
    if not grads or any(not isinstance(g, np.ndarray) or g.dtype.kind != "f" for g in grads):
        return False
    if not any(np.any(g != 0) for g in grads) or not np.any(case.grad_out != 0):
        return False
    raw, err, _ = _call(backward, list(case.arrays.values()),
                        dict(case.params, grad_out=case.grad_out * 3.0))
    if err is not None:
        return False
    raw, problem = gradients_of(raw, case)
    if problem is not None or not isinstance(raw, (tuple, list)) or len(raw) != len(grads):
        return False
    with np.errstate(all="ignore"):
        return all(isinstance(b, np.ndarray) and b.shape == a.shape
                   and bool(np.allclose(b, a, rtol=1e-12, atol=0)) for a, b in
                   zip(grads, raw, strict=True))


def diagnose(result: CaseResult, keys: set[str] | None = None,
             backward: Backward | None = None) -> list[str]:
    """Keys of the classic mistakes whose variant reproduces the candidate's failure.

    The forward and the backward are judged separately: each stage with a problem is
    compared with that stage's variants, and every match is reported (a forward mistake
    does not hide a backward one). With ``backward`` given, a backward that returns the
    same gradients when grad_out is tripled is reported as ignoring grad_out even when
    its values match no variant. "constant-factor" is the fallback of a stage where
    nothing else fits. ``result.stages`` records the stage of each key.
    """
    result.stages = {}
    if result.passed:
        return []
    stages: list[str] = []
    for p in result.problems:
        if p.stage in ("forward", "backward") and p.stage not in stages:
            stages.append(p.stage)
    found: list[str] = []
    wanted = (lambda k: True) if keys is None else (lambda k: k in keys)
    for stage in stages:
        here: list[str] = []
        for variant in variants(result.case.op):
            if variant.stage != stage or variant.key in here or not wanted(variant.key):
                continue
            try:
                value = variant.compute(result.case)
            except Exception:  # noqa: BLE001 - a variant that cannot be formed does not match
                continue
            if value is None:
                continue
            values = value if isinstance(value, list) else [value]
            for v in values:
                if stage == "forward":
                    hit = _match_forward(result.output, v, result.expected_output,
                                         variant.block, variant.key, result.case)
                else:
                    hit = _match_backward(result.grads, tuple(v), result.expected_grads,
                                          variant.key)
                if hit:
                    here += [k for k in (variant.key, *variant.also) if k not in here]
                    break
        if (stage == "backward" and backward is not None and "ignores-grad-out" not in here
                and wanted("ignores-grad-out") and _probe_ignores_grad_out(backward, result)):
            here.append("ignores-grad-out")
        if not here and wanted("constant-factor") and _constant_factor(result, stage):
            here.append("constant-factor")  # the least specific: only when nothing else fits
        for k in here:
            if k not in found:
                found.append(k)
                result.stages[k] = stage
    return found


def settle(results: list[CaseResult], evidence: list[CaseResult] | None = None) -> None:
    """Drop the diagnoses that are only ever an alternative explanation of a failure that
    another diagnosis explains alone elsewhere (in ``results`` or ``evidence``).

    On a window of four equal values, "every tied maximum gets the gradient" and "every
    element gets the gradient" give the same numbers; a case without that ambiguity
    decides which one the candidate does.
    """
    pool = [*results, *(evidence or [])]
    alone: set[str] = set()
    for r in pool:
        for stage in set(r.stages.values()):
            keys = [k for k in r.diagnoses if r.stages.get(k) == stage]
            if len(keys) == 1:
                alone.add(keys[0])

    def dominated(key: str) -> bool:
        if key in alone:
            return False
        for r in pool:
            if key in r.diagnoses:
                partners = [k for k in r.diagnoses
                            if k != key and r.stages.get(k) == r.stages.get(key)]
                if not any(p in alone for p in partners):
                    return False
        return True

    drop = {k for r in pool for k in r.diagnoses if dominated(k)}
    for r in results:
        r.diagnoses = [k for k in r.diagnoses if k not in drop]
        r.stages = {k: v for k, v in r.stages.items() if k not in drop}


# -------------------------------------------------------------------------- shrinking


def shrink(forward: Forward, backward: Backward | None, result: CaseResult,
           budget: int = 40, in_scope: Callable[[Case], bool] | None = None
           ) -> tuple[CaseResult, int]:
    """The smallest case (by the config's sizes) that still fails the same way.

    Each accepted step rebuilds the case from a smaller config with fresh data; a step is
    kept when the first problem has the same stage and kind and, if the original had a
    diagnosis, the same diagnosis. At most ``budget`` candidate cases are tried, only
    those for which ``in_scope`` (if given) is true.
    """
    case, signature = result.case, result.signature
    key = result.diagnoses[0] if result.diagnoses else None
    allowed = set(result.diagnoses)
    fd = signature is not None and signature[0] == FD_STAGE
    steps = 0
    improved = True
    while improved and budget > 0:
        improved = False
        for cfg in shrink_moves(case.op, case.config):
            if budget <= 0:
                break
            budget -= 1
            trial = build(case.op, case.name, case.kind, cfg, seed=1000 + budget)
            if in_scope is not None and not in_scope(trial):
                continue
            try:
                res = run_case(forward, backward, trial, finite_differences=fd)
            except Exception:  # noqa: BLE001 - e.g. the engine refuses the config
                continue
            if res.signature != signature:
                continue
            if key is not None:
                # the same mistake, and no new ambiguity (a tiny case can match two)
                res.diagnoses = diagnose(res, backward=backward)
                if key not in res.diagnoses or not set(res.diagnoses) <= allowed:
                    continue
            case, result, improved = trial, res, True
            steps += 1
            break
    if key is not None:
        result.diagnoses = diagnose(result, backward=backward)
        if key in result.diagnoses:
            result.diagnoses.remove(key)
        result.diagnoses.insert(0, key)
    return result, steps


def explain(forward: Forward, backward: Backward | None, failed: list[CaseResult],
            budget: int = 40, in_scope: Callable[[Case], bool] | None = None
            ) -> tuple[CaseResult, CaseResult, int, list[str], dict[str, str]]:
    """Diagnose every failed case, choose the one to show and shrink it.

    Returns ``(chosen, shrunk, steps, keys, stages)``: the failed case chosen (a diagnosed
    one, preferably without ties, which is clearer), its shrunk form after ``steps``
    steps, every diagnosis key (the shrunk case's first) and the stage of each key.
    """
    for r in failed:
        r.diagnoses = diagnose(r, backward=backward)
    settle(failed)
    chosen = min(failed, key=lambda r: (not r.diagnoses, not r.case.fd))
    shrunk, steps = shrink(forward, backward, chosen, budget=budget, in_scope=in_scope)
    if steps:  # shrinking skips finite differences unless they are what fails: run them
        keys, stages = shrunk.diagnoses, shrunk.stages
        shrunk = run_case(forward, backward, shrunk.case)
        shrunk.diagnoses, shrunk.stages = keys, stages
    settle([shrunk], failed)
    keys = list(shrunk.diagnoses)
    for r in failed:
        keys += [k for k in r.diagnoses if k not in keys]
    stages = {k: v for r in [*failed, shrunk] for k, v in r.stages.items()}
    return chosen, shrunk, steps, keys, stages


def diagnosis_text(key: str) -> str:
    """The explanation of a diagnosis key."""
    return TEXT[key]
