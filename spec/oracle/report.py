"""The oracle's report: one line per case, then the smallest failing case and a diagnosis."""

from __future__ import annotations

import dataclasses

import numpy as np

from .cases import Case
from .checker import (
    FD_STAGE,
    CaseResult,
    decimals_to_show,
    diagnosis_text,
    fd_gradient,
    first_difference,
    significant_digits,
)

CHECKS = ("output shape against spec.output_size; output values against the engine "
          "(float64); gradients against the engine's autograd; your backward against "
          "central finite differences of your own forward (float64)")


def fmt_array(a: np.ndarray, indent: str = "    ", precision: int = 6) -> str:
    """Small arrays in full (integers without a trailing dot), large ones summarized;
    ``precision`` digits after the point (enough to show a difference: see
    :func:`spec.oracle.checker.decimals_to_show`)."""
    a = np.asarray(a)
    if a.dtype.kind == "f" and a.size and np.isfinite(a).all() and np.all(a == np.round(a)) \
            and np.abs(a).max() < 1e15:
        a = a.astype(np.int64)
    text = np.array2string(a, threshold=150, max_line_width=96, precision=precision,
                           separator=", ")
    return "\n".join(indent + line for line in text.splitlines())


@dataclasses.dataclass
class Failure:
    """The failure shown in detail: shrunk from ``original``."""

    original: str
    steps: int
    result: CaseResult
    fd_note: str = ""

    @property
    def case(self) -> Case:
        return self.result.case


@dataclasses.dataclass
class Report:
    """What :func:`spec.oracle.check` found.

    Attributes
    ----------
    op : str
    forward_name, backward_name : str
    seed : int
    results : list of CaseResult
        One per case, in order (documents, edge cases, ties, random cases).
    failure : Failure or None
        The smallest failing case found by shrinking, with its diagnosis.
    diagnoses : list of str
        Keys of the classic mistakes recognised (the shrunk case's first), e.g.
        ``"flipped-kernel"``; see :data:`spec.oracle.reference.TEXT`.
    """

    op: str
    forward_name: str
    backward_name: str | None
    seed: int
    results: list[CaseResult]
    failure: Failure | None = None
    diagnoses: list[str] = dataclasses.field(default_factory=list)
    stages: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> forward/backward

    @property
    def passed(self) -> bool:
        """True when every check of every case passed."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def diagnosis(self) -> str:
        """The explanation of the main diagnosis ('' when none was recognised)."""
        return diagnosis_text(self.diagnoses[0]) if self.diagnoses else ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        kinds = {}
        for r in self.results:
            kinds[r.case.kind] = kinds.get(r.case.kind, 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in kinds.items())
        lines = [f"spec.oracle check of {self.op}",
                 f"  forward:  {self.forward_name}",
                 f"  backward: {self.backward_name or '(none given: gradients not checked)'}",
                 f"  seed {self.seed}; {len(self.results)} cases ({counts})",
                 f"  checks: {CHECKS}", ""]
        width = max(len(r.case.name) for r in self.results)
        for r in self.results:
            status = "ok  " if r.passed else "FAIL"
            extra = "" if r.passed else "  " + r.problems[0].stage + ": " + \
                r.problems[0].message
            if len(extra) > 160:
                extra = extra[:157] + "..."
            lines.append(f"  {status}  {r.case.kind:<8}  {r.case.name:<{width}}{extra}".rstrip())
        if self.failure is not None:
            lines += ["", *self._failure_lines()]
        n_failed = len(self.failed)
        lines += ["", "RESULT: " + ("PASS" if self.passed else "FAIL") +
                  f" ({len(self.results) - n_failed} of {len(self.results)} cases passed)"]
        return "\n".join(lines)

    def _failure_lines(self) -> list[str]:
        f = self.failure
        assert f is not None
        r, case = f.result, f.case
        timed_out = r.problems[0].category == "timeout"
        if timed_out:
            title = f"FAILING CASE (case {f.original}, where the time limit stopped it)"
        elif f.steps:
            title = (f"SMALLEST FAILING CASE (shrunk from {f.original} in {f.steps} "
                     f"step{'s' * (f.steps != 1)})")
        else:
            title = f"SMALLEST FAILING CASE (case {f.original}; no smaller failing case found)"
        lines = [title,
                 f"  call: {case.describe()}"]
        if case.note:
            lines.append(f"  about: {case.note}")
        for name, a in case.arrays.items():
            lines += [f"  {name} =", fmt_array(a)]
        problem = r.problems[0]
        lines.append(f"  {problem.stage} problem: {problem.message}")
        if problem.stage == "forward":
            digits = decimals_to_show(r.output, r.expected_output)
            lines += [f"  expected output (shape {list(r.expected_output.shape)}):",
                      fmt_array(r.expected_output, precision=digits)]
            if isinstance(r.output, np.ndarray):
                lines += [f"  your output (shape {list(r.output.shape)}):",
                          fmt_array(r.output, precision=digits)]
        else:
            lines += ["  grad_out =", fmt_array(case.grad_out)]
            for name, exp, got in zip(case.differentiable, r.expected_grads,
                                      r.grads or (None,) * len(case.differentiable),
                                      strict=True):
                digits = decimals_to_show(got, exp)
                lines += [f"  expected dL/d{name}:", fmt_array(exp, precision=digits)]
                if isinstance(got, np.ndarray):
                    lines += [f"  your dL/d{name}:", fmt_array(got, precision=digits)]
                    if got.shape == exp.shape and got.dtype.kind == "f":
                        idx = first_difference(got, exp)
                        if idx is not None:
                            n = significant_digits(exp[idx], got[idx])
                            lines.append(f"  first difference in dL/d{name} at index "
                                         f"{list(idx)}: expected {exp[idx] + 0.0:.{n}g}, "
                                         f"got {got[idx] + 0.0:.{n}g}")
            if f.fd_note:
                lines.append(f.fd_note)
            if r.fd_checked and not any(p.stage == FD_STAGE for p in r.problems):
                lines.append("  finite differences of your own forward agree with your "
                             "backward here: the difference from the reference is in the "
                             "forward, or in a convention")
        other = [p for p in r.problems[1:]]
        for p in other[:4]:
            lines.append(f"  also: {p.stage}: {p.message}")
        if self.diagnoses:
            # one DIAGNOSIS per mistake; another key for the same symptom of the shown
            # case (same stage) is an alternative explanation, not a second mistake
            lines.append("")
            shown: set[str] = set()
            for key in self.diagnoses:
                stage = self.stages.get(key, "")
                where = f" [{stage}]" if stage else ""
                if key in r.diagnoses and r.stages.get(key) in shown:
                    lines.append("  also consistent with: " + diagnosis_text(key) + where)
                else:
                    lines.append("DIAGNOSIS: " + diagnosis_text(key) + where)
                    if key in r.diagnoses:
                        shown.add(r.stages.get(key, ""))
        elif timed_out:
            lines += ["", "DIAGNOSIS: it did not return in time, so nothing could be compared; "
                      "look for a loop that never ends (or raise the limit if it is only "
                      "slow)."]
        else:
            lines += ["", "DIAGNOSIS: no classic mistake recognised; compare the expected "
                      "and actual values above."]
        return lines


def fd_note(forward, result: CaseResult) -> str:
    """For a finite-difference failure: the coordinate-wise gradient of the candidate's own
    forward next to its backward, and the first index where they disagree."""
    case = result.case
    if not result.problems or result.problems[0].stage != FD_STAGE or result.grads is None:
        return ""
    lines = []
    for name, got in zip(case.differentiable, result.grads, strict=True):
        fd = fd_gradient(forward, case, name)
        if fd is None:
            continue
        scale = max(1.0, float(np.abs(fd).max()))
        bad = np.argwhere(~np.isclose(got, fd, rtol=1e-5, atol=1e-6 * scale))
        if len(bad):
            idx = tuple(int(i) for i in bad[0])
            lines += [f"  finite differences of your forward, dL/d{name}:", fmt_array(fd),
                      f"  first disagreement with your backward at index {list(idx)}: "
                      f"finite differences {fd[idx]:.8g}, your backward {got[idx]:.8g}"]
    return "\n".join(lines)
