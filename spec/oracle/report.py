"""The oracle's report: one line per case, then the smallest failing case and a diagnosis."""

from __future__ import annotations

import dataclasses

import numpy as np

from .adapters import IMAGE_OPS
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
from .isolation import ISOLATION_CATEGORIES
from .scope import Unsupported, summary

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
        One per case that ran, in order (documents, edge cases, ties, random cases).
    unsupported : list of Unsupported
        The cases not run, each with its ``reason``: outside ``supports``, not expressible
        in the calling style, or the candidate raised ``NotImplementedError`` on it.
    strict : bool
        Whether unsupported cases count as failures.
    scope : str
        The declared ``supports``, in words ('' when none was given).
    isolation : str
        How the candidate was run (child process, limits), in words.
    timing : dict
        Seconds spent starting child processes (``start``), and in calls outside the
        candidate's own code (``overhead``); counts of ``starts`` and ``calls``.
    order : list of str
        The names of all the cases in the order they were built (for the printed table).
    layout : str
        The candidate's layout; with ``"NHWC"`` the printed arrays stay in the oracle's
        NCHW / OIHW (the report says so, since indices and shapes differ from the
        candidate's).
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
    unsupported: list[Unsupported] = dataclasses.field(default_factory=list)
    strict: bool = False
    scope: str = ""
    isolation: str = ""
    timing: dict = dataclasses.field(default_factory=dict)
    order: list[str] = dataclasses.field(default_factory=list)
    layout: str = "NCHW"

    @property
    def passed(self) -> bool:
        """True when every case in scope passed, at least one ran, and (with ``strict``) no
        case was unsupported."""
        return (bool(self.results) and all(r.passed for r in self.results)
                and not (self.strict and self.unsupported))

    @property
    def checked(self) -> tuple[str, str]:
        """What was checked and what was not, per parameter, in words."""
        return summary(self.op, [r.case for r in self.results], self.unsupported)

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
        kinds: dict[str, int] = {}
        rows: list[tuple[Case, str, str]] = []
        for r in self.results:
            rows.append((r.case, "ok  " if r.passed else "FAIL", "" if r.passed else
                         f"{r.problems[0].stage}: {r.problems[0].message}"))
        for u in self.unsupported:
            rows.append((u.case, "skip", f"not run: {u.reason}"))
        order = {name: i for i, name in enumerate(self.order)}
        rows.sort(key=lambda row: order.get(row[0].name, len(order)))
        for case, _, _ in rows:
            kinds[case.kind] = kinds.get(case.kind, 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in kinds.items())
        lines = [f"spec.oracle check of {self.op}",
                 f"  forward:  {self.forward_name}",
                 f"  backward: {self.backward_name or '(none given: gradients not checked)'}",
                 f"  seed {self.seed}; {len(rows)} cases ({counts})"]
        if self.scope:
            lines.append(f"  supports: {self.scope}" + ("; strict: unsupported cases count "
                                                        "as failures" if self.strict else ""))
        if self.isolation:
            lines.append(f"  isolation: {self.isolation}")
        if self.layout != "NCHW" and self.op in IMAGE_OPS:
            here, yours, w_here, w_yours = (
                ("[n, c, l]", "[n, l, c]", "[o, i, k]", "[k, i, o]") if self.op == "conv1d"
                else ("[n, c, h, w]", "[n, h, w, c]", "[o, i, kh, kw]", "[kh, kw, i, o]"))
            lines.append(f"  layout: {self.layout}, converted by the oracle: the shapes, "
                         "indices and arrays below are channels-first (NCHW, conv weights "
                         f"OIHW), so the element {here} here is your {yours} (a weight's "
                         f"{w_here} is your {w_yours})")
        lines += [f"  checks: {CHECKS}", ""]
        width = max((len(case.name) for case, _, _ in rows), default=0)
        for case, status, extra in rows:
            if extra:
                extra = "  " + extra
            if len(extra) > 160:
                extra = extra[:157] + "..."
            lines.append(f"  {status}  {case.kind:<8}  {case.name:<{width}}{extra}".rstrip())
        if self.failure is not None:
            lines += ["", *self._failure_lines()]
        checked, not_checked = self.checked
        lines += ["", f"checked: {checked}", f"not checked: {not_checked}"]
        lines += ["", "RESULT: " + ("PASS" if self.passed else "FAIL") + f" ({self._counts()})"]
        return "\n".join(lines)

    def _counts(self) -> str:
        n_run, n_failed, n_skip = len(self.results), len(self.failed), len(self.unsupported)
        text = f"{n_run - n_failed} of {n_run} cases in scope passed"
        if not n_run:
            text = "no case in scope ran, so nothing was checked"
        if n_skip:
            text += (f"; {n_skip} not run" + (", which strict counts as failures"
                                               if self.strict else ""))
        return text

    def _failure_lines(self) -> list[str]:
        f = self.failure
        assert f is not None
        r, case = f.result, f.case
        category = r.problems[0].category
        timed_out = category in ISOLATION_CATEGORIES
        if category == "timeout":
            title = f"FAILING CASE (case {f.original}, where the time limit stopped it)"
        elif timed_out:
            title = f"FAILING CASE (case {f.original}, where its process failed)"
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
        elif category == "timeout":
            lines += ["", "DIAGNOSIS: it did not return in time, so nothing could be compared; "
                      "look for a loop that never ends (or raise the limit if it is only "
                      "slow)."]
        elif category == "memory":
            lines += ["", "DIAGNOSIS: it asked for more memory than the limit allows, so "
                      "nothing could be compared; look for an array sized by the wrong "
                      "dimensions (or raise the limit: --memory)."]
        elif timed_out:
            lines += ["", "DIAGNOSIS: the process running it ended or broke during the call "
                      "(see the reason above), so nothing could be compared; the oracle "
                      "itself is unaffected."]
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
