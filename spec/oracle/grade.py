"""Grading a class: many submissions, one TOML config, the formats graders and CI read.

``tinygrad-cnn oracle grade SUBMISSIONS --config grade.toml`` checks every submission (a
sub-folder holding ``.py`` files, or a single ``.py`` file; the student is its name) with
every ``[[check]]`` of the config and prints a table, or writes JSON, JUnit XML or a
Gradescope ``results.json``. Each check of each submission runs in its own child process
with the oracle's time and memory limits, what it prints goes to a file capped at
:data:`OUTPUT_LIMIT` bytes, and submissions are graded in parallel worker processes: a
submission that hangs, crashes, exits or floods its output costs only its own row, and
the row says what happened.

The config::

    [assignment]
    name = "CNN layers"
    timeout = 10          # optional: seconds per call (default 10)
    memory = 4096         # optional: MiB above the child's size at start (default 4096)
    seed = 0              # optional: seed of the random cases

    [[check]]
    name = "conv"         # shown in every output
    op = "conv2d"
    style = "arrays"      # optional: arrays | cs231n | layer (see spec.oracle.adapters)
    forward = "conv2d"
    backward = "conv2d_backward"        # optional
    module = "layers"     # optional: the file (without .py) in a student's folder
    layout = "NCHW"       # optional
    supports = { groups = [1], dilation = [1] }   # optional
    points = 10
    partial = false       # optional: credit by the share of cases in scope passed
    strict = false        # optional: unsupported cases count as failures
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import importlib.util
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cases import OPS
from .isolation import (
    DEFAULT_MEMORY_MIB,
    ChildRunner,
    LoadError,
    can_fork,
    printable,
    validate_limits,
)
from .scope import Scope

FORMATS = ("table", "json", "junit", "gradescope")

#: Bytes a submission may print (both streams together) during one check.
OUTPUT_LIMIT = 1 * 2**20

#: Characters of a submission's output kept in the results.
OUTPUT_SHOWN = 2000


class ConfigError(ValueError):
    """A config that cannot be used: the message names the key and what was expected."""


# ------------------------------------------------------------------------------ config


@dataclasses.dataclass
class CheckConfig:
    """One ``[[check]]`` of the config."""

    name: str
    op: str
    forward: str
    points: float
    backward: str | None = None
    style: str = "arrays"
    module: str | None = None
    layout: str = "NCHW"
    supports: dict[str, Any] | None = None
    partial: bool = False
    strict: bool = False
    grads: tuple[str, ...] | None = None


@dataclasses.dataclass
class Config:
    """A whole grading config."""

    name: str
    checks: list[CheckConfig]
    timeout: float | None = 10.0
    memory_mib: float | None = DEFAULT_MEMORY_MIB
    seed: int = 0

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)


def _take(table: dict[str, Any], key: str, where: str, kinds: tuple[type, ...],
          expected: str, default: Any = ..., check: Any = None) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}.{key}: missing; expected {expected}")
        return default
    value = table[key]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds) or (
            check is not None and not check(value)):
        raise ConfigError(f"{where}.{key}: expected {expected}, got {value!r}")
    return value


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """A :class:`Config` from parsed TOML; :class:`ConfigError` names the bad key."""
    assignment = data.get("assignment", {})
    if not isinstance(assignment, dict):
        raise ConfigError(f"{source}: [assignment] must be a table")
    where = f"{source}: assignment"
    title = _take(assignment, "name", where, (str,), "a string", "assignment")
    timeout = _take(assignment, "timeout", where, (int, float),
                    "a number of seconds between 0 and 86400", 10.0)
    memory = _take(assignment, "memory", where, (int, float), "a number of MiB, at least 64",
                   DEFAULT_MEMORY_MIB)
    seed = _take(assignment, "seed", where, (int,), "an integer >= 0", 0)
    for key, value, arg in (("timeout", timeout, "timeout"), ("memory", memory, "memory_mib"),
                            ("seed", seed, "seed")):
        try:
            validate_limits(**{"seed": 0, arg: value})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}.{key}: {str(exc).split(': ', 1)[1]}") from None
    checks_data = data.get("check")
    if not isinstance(checks_data, list) or not checks_data:
        raise ConfigError(f"{source}: check: expected at least one [[check]] table")
    checks: list[CheckConfig] = []
    for i, table in enumerate(checks_data, 1):
        where = f"{source}: check[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table")
        name = _take(table, "name", where, (str,), "a non-empty string", check=bool)
        where = f"{source}: check[{i}] ({name})"
        if name in {c.name for c in checks}:
            raise ConfigError(f"{where}.name: {name!r} is used by an earlier check; names "
                              "must be unique")
        op = _take(table, "op", where, (str,), f"one of {', '.join(OPS)}",
                   check=lambda v: v in OPS)
        ident = "a Python name such as conv_forward (dots for attributes)"
        check = CheckConfig(
            name=name, op=op,
            forward=_take(table, "forward", where, (str,), ident, check=_NAME.match),
            backward=_take(table, "backward", where, (str,), ident, None, _NAME.match),
            points=float(_take(table, "points", where, (int, float), "a number >= 0",
                               check=lambda v: v >= 0 and math.isfinite(v))),
            style=_take(table, "style", where, (str,), "a style name", "arrays"),
            module=_take(table, "module", where, (str,), "a module name (the file without "
                         ".py)", None, lambda v: re.match(r"^[A-Za-z_]\w*$", v)),
            layout=_take(table, "layout", where, (str,), "a layout name", "NCHW"),
            supports=_take(table, "supports", where, (dict,), "a table {parameter = [values]}",
                           None),
            partial=_take(table, "partial", where, (bool,), "true or false", False),
            strict=_take(table, "strict", where, (bool,), "true or false", False),
            grads=_take(table, "grads", where, (list,), "a list of attribute names", None))
        if check.grads is not None:
            check.grads = tuple(str(g) for g in check.grads)
        if check.supports is not None:  # TOML has no tuples: a pair [1, 2] is (1, 2)
            check.supports = {k: [tuple(x) if isinstance(x, list) else x for x in v]
                              if isinstance(v, list) else v
                              for k, v in check.supports.items()}
        try:
            Scope(op, check.supports)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}.supports: {str(exc).removeprefix('supports: ')}") \
                from None
        from .adapters import adapt

        try:
            adapt(op, _placeholder_callable, _placeholder_callable if check.backward else None,
                  style=check.style, layout=check.layout, grads=check.grads)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}.{str(exc)}") from None
        checks.append(check)
    return Config(title, checks, float(timeout) or None, float(memory), int(seed))


def _placeholder_callable(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover
    raise NotImplementedError


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a TOML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({exc})") from None
    return parse_config(data, path.name)


# ------------------------------------------------------------------------- submissions


@dataclasses.dataclass
class Submission:
    """One student's work: a folder of ``.py`` files or one ``.py`` file."""

    name: str
    path: Path

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.glob("*.py") if p.is_file())


def discover(root: str | os.PathLike[str], single: bool = False) -> list[Submission]:
    """The submissions under ``root`` (sorted by name); ``root`` itself when ``single``."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"no such folder: {root}")
    if single or root.is_file():
        return [Submission(root.stem if root.is_file() else root.resolve().name, root)]
    subs = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir() and any(entry.glob("*.py")):
            subs.append(Submission(entry.name, entry))
        elif entry.is_file() and entry.suffix == ".py":
            subs.append(Submission(entry.stem, entry))
    return subs


def locate(sub: Submission, check: CheckConfig) -> Path | str:
    """The file of ``sub`` that holds ``check``'s forward, or why there is none."""
    if sub.path.is_file():
        return sub.path
    if check.module:
        path = sub.path / f"{check.module}.py"
        return path if path.is_file() else f"no file {check.module}.py in {sub.name}/"
    head = check.forward.split(".")[0]
    defines = re.compile(rf"^\s*(def|class)\s+{re.escape(head)}\b|^{re.escape(head)}\s*=",
                         re.M)
    for path in sub.files():
        try:
            if defines.search(path.read_text(encoding="utf-8", errors="replace")):
                return path
        except OSError:
            continue
    return f"no .py file in {sub.name}/ defines {head}"


@dataclasses.dataclass
class FromFile:
    """A candidate in a student's file, imported by path in the child (so two students'
    ``layers.py`` never meet, and a name like ``random.py`` shadows nothing)."""

    op: str
    file: str
    forward: str
    backward: str | None = None
    style: str = "arrays"
    layout: str = "NCHW"
    grads: Any = None

    def adapter_arguments(self) -> tuple[str, bool, str, str, Any]:
        """``(op, has a backward, style, layout, grads)``, for the oracle's own process
        (see :func:`spec.oracle.isolation.parent_adapter`)."""
        return (self.op, self.backward is not None, self.style, self.layout, self.grads)

    def load(self) -> Any:
        path = Path(self.file)
        sys.path.insert(0, str(path.parent))  # the student's other files import as usual
        name = f"submission_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise LoadError(f"cannot import {path.name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - a broken file is the row's reason
            raise LoadError(f"importing {path.name} failed: {type(exc).__name__}: "
                            f"{exc}") from None

        def get(attr: str) -> Any:
            obj: Any = module
            for part in attr.split("."):
                if not hasattr(obj, part):
                    raise LoadError(f"{path.name} has no {attr!r}")
                obj = getattr(obj, part)
            if not callable(obj):
                raise LoadError(f"{path.name}: {attr!r} is not callable")
            return obj

        forward = get(self.forward)
        backward = get(self.backward) if self.backward else None
        from .adapters import adapt

        try:
            return adapt(self.op, forward, backward, style=self.style, layout=self.layout,
                         grads=self.grads)
        except (ValueError, TypeError) as exc:
            raise LoadError(str(exc)) from None


# --------------------------------------------------------------------------- grading


@dataclasses.dataclass
class CheckResult:
    """One check of one submission, as plain data."""

    check: str
    op: str
    score: float
    max_score: float
    status: str  # "pass" | "fail" | "missing"
    reason: str  # the first diagnosis, problem or why it could not run ('' on a pass)
    report: str = ""
    diagnoses: list[str] = dataclasses.field(default_factory=list)
    cases_run: int = 0
    cases_passed: int = 0
    unsupported: int = 0
    seconds: float = 0.0
    output_bytes: int = 0
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclasses.dataclass
class SubmissionResult:
    """Every check of one submission."""

    name: str
    checks: list[CheckResult]

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)


def _reason(report: Any) -> str:
    if report.passed:
        return ""
    if report.diagnosis:
        return report.diagnosis.split(":")[0]
    if report.failed:
        problem = report.failed[0].problems[0]
        return f"{problem.stage}: {problem.message}"
    return "no case in scope ran" if not report.results else "unsupported cases (strict)"


def grade_check(sub: Submission, check: CheckConfig, config: Config, workdir: str,
                index: int = 0) -> CheckResult:
    """Run one check on one submission, in a child process."""
    from . import _run

    start = time.perf_counter()
    located = locate(sub, check)
    if isinstance(located, str):
        return CheckResult(check.name, check.op, 0.0, check.points, "missing", located)
    fd, output = tempfile.mkstemp(suffix=".out", dir=workdir)  # what it prints
    os.close(fd)
    source = FromFile(check.op, str(located), check.forward, check.backward, check.style,
                      check.layout, check.grads)
    runner = ChildRunner(source, timeout=config.timeout, memory_mib=config.memory_mib,
                         output=output, output_limit=OUTPUT_LIMIT)
    try:
        with runner:
            report = _run(check.op, runner, f"{sub.name}/{located.name}:{check.forward}",
                          check.backward and f"{sub.name}/{located.name}:{check.backward}",
                          config.seed, Scope(check.op, check.supports), check.strict, 40,
                          layout=check.layout or "NCHW")
    except LoadError as exc:
        result = CheckResult(check.name, check.op, 0.0, check.points, "missing", str(exc))
    else:
        n_run, n_failed = len(report.results), len(report.failed)
        n_scope = n_run + (len(report.unsupported) if check.strict else 0)
        if report.passed:
            score = check.points
        elif check.partial and n_scope:
            score = check.points * (n_run - n_failed) / n_scope
        else:
            score = 0.0
        result = CheckResult(check.name, check.op, score, check.points,
                             "pass" if report.passed else "fail", _reason(report),
                             str(report), list(report.diagnoses), n_run, n_run - n_failed,
                             len(report.unsupported))
    result.seconds = time.perf_counter() - start
    try:
        result.output_bytes = os.path.getsize(output)
        with open(output, "rb") as f:
            result.output = f.read(OUTPUT_SHOWN).decode("utf-8", "replace")
        os.unlink(output)
    except OSError:
        pass
    if result.output_bytes >= OUTPUT_LIMIT and result.status != "pass":
        result.reason += f" (it printed more than the {OUTPUT_LIMIT // 2**20} MiB allowed)"
    return result


def grade_submission(sub: Submission, config: Config, workdir: str) -> SubmissionResult:
    """Every check of ``config`` on one submission."""
    return SubmissionResult(sub.name, [grade_check(sub, check, config, workdir, i)
                                       for i, check in enumerate(config.checks)])


def _grade_in_worker(args: tuple[Submission, Config, str]) -> SubmissionResult:
    return grade_submission(*args)


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity where known, else the count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def grade(submissions: Sequence[Submission], config: Config, jobs: int | None = None
          ) -> list[SubmissionResult]:
    """Grade every submission, ``jobs`` at a time (default: the CPU count) in worker
    processes; results in the order of ``submissions``."""
    jobs = max(1, jobs or cpu_count())
    with tempfile.TemporaryDirectory(prefix="oracle-grade-") as workdir:
        if jobs == 1 or len(submissions) <= 1:
            return [grade_submission(s, config, workdir) for s in submissions]
        context = multiprocessing.get_context("fork" if can_fork() else "spawn")
        results: dict[int, SubmissionResult] = {}
        broken: list[int] = []
        with concurrent.futures.ProcessPoolExecutor(min(jobs, len(submissions)),
                                                    mp_context=context) as pool:
            futures = [pool.submit(_grade_in_worker, (s, config, workdir))
                       for s in submissions]
            for i, future in enumerate(futures):
                try:
                    results[i] = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    broken.append(i)
        # a submission that killed the worker grading it (e.g. os.kill(os.getppid(), 9))
        # broke the pool for every submission in flight: each of those is graded again on
        # its own, and the one that breaks it alone gets a row saying so
        for i in broken:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                try:
                    results[i] = pool.submit(_grade_in_worker,
                                             (submissions[i], config, workdir)).result()
                except concurrent.futures.process.BrokenProcessPool:
                    results[i] = SubmissionResult(submissions[i].name, [
                        CheckResult(c.name, c.op, 0.0, c.points, "fail",
                                    "the process grading this submission was killed (the "
                                    "submission killed or signalled the oracle's process)")
                        for c in config.checks])
        return [results[i] for i in range(len(submissions))]


# --------------------------------------------------------------------------- formats


def _fmt_points(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def format_table(results: list[SubmissionResult], config: Config, seconds: float) -> str:
    """One row per student: score, each check's verdict, the first reason."""
    names = [c.name for c in config.checks]
    header = ["student", "score", *names, "first problem"]
    rows = []
    for r in results:
        verdicts = []
        for c in r.checks:
            if c.status == "pass":
                verdicts.append("PASS")
            elif c.status == "missing":
                verdicts.append("missing")
            else:
                verdicts.append(f"FAIL {_fmt_points(c.score)}/{_fmt_points(c.max_score)}"
                                if c.score else "FAIL")
        first = next((f"{c.check}: {c.reason}" for c in r.checks if c.reason), "")
        if len(first) > 110:
            first = first[:107] + "..."
        rows.append([r.name, f"{_fmt_points(r.score)}/{_fmt_points(r.max_score)}",
                     *verdicts, first])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [f"{config.name}: {len(results)} submission{'s' * (len(results) != 1)}, "
             f"{len(names)} check{'s' * (len(names) != 1)} "
             f"({_fmt_points(config.max_score)} points)", ""]
    for row in [header, *rows]:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True))
                     .rstrip())
    lines += ["", f"graded in {seconds:.1f} s"]
    return "\n".join(lines)


def format_json(results: list[SubmissionResult], config: Config, seconds: float) -> str:
    """Every result and every report."""
    return json.dumps({
        "assignment": config.name, "max_score": config.max_score, "seconds": round(seconds, 3),
        "submissions": [{"name": r.name, "score": r.score, "max_score": r.max_score,
                         "checks": [dataclasses.asdict(c) for c in r.checks]}
                        for r in results]}, indent=2)


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_BAD.sub("\ufffd", text)


def format_junit(results: list[SubmissionResult], config: Config, seconds: float) -> str:
    """JUnit XML: one ``testsuite`` per student, one ``testcase`` per check."""
    root = ET.Element("testsuites", name=_xml_text(config.name), time=f"{seconds:.3f}")
    total = failures = 0
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=_xml_text(r.name),
                              tests=str(len(r.checks)),
                              failures=str(sum(not c.passed for c in r.checks)),
                              errors="0", time=f"{sum(c.seconds for c in r.checks):.3f}")
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="score",
                      value=f"{_fmt_points(r.score)}/{_fmt_points(r.max_score)}")
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=_xml_text(r.name),
                                 name=_xml_text(c.check), time=f"{c.seconds:.3f}")
            total += 1
            if not c.passed:
                failures += 1
                failure = ET.SubElement(case, "failure", type=c.status,
                                        message=_xml_text(c.reason[:500]))
                failure.text = _xml_text(c.report or c.reason)
            if c.output:
                ET.SubElement(case, "system-out").text = _xml_text(c.output)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def format_gradescope(results: list[SubmissionResult], config: Config, seconds: float) -> str:
    """Gradescope's autograder ``results.json`` for one submission."""
    if len(results) != 1:
        raise ValueError("the gradescope format is for one submission (as Gradescope runs "
                         f"it), got {len(results)}")
    r = results[0]
    tests = []
    for c in r.checks:
        output = c.report or c.reason
        if c.output:
            output += f"\n\nWhat your code printed (first {OUTPUT_SHOWN} characters):\n" \
                      f"{c.output}"
        tests.append({"name": c.check, "score": round(c.score, 4),
                      "max_score": c.max_score, "status": "passed" if c.passed else "failed",
                      "output": output})
    return json.dumps({"score": round(r.score, 4), "execution_time": round(seconds, 3),
                       "output": f"{config.name}: {_fmt_points(r.score)} of "
                                 f"{_fmt_points(r.max_score)} points",
                       "tests": tests}, indent=2)


FORMATTERS = {"table": format_table, "json": format_json, "junit": format_junit,
              "gradescope": format_gradescope}


# ------------------------------------------------------------------------------- CLI


def snapshot(root: str | Path, limit: int = 20_000) -> dict[str, str]:
    """``relative path -> sha256`` of the files under ``root`` (at most ``limit`` files;
    what cannot be read is left out)."""
    root = Path(root)
    found: dict[str, str] = {}
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in paths[:limit]:
        try:
            found[str(path.relative_to(root) if path != root else path.name)] = \
                hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
    return found


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The files changed, added or removed between two :func:`snapshot` s (bytecode
    caches left out)."""
    names = sorted(set(before) | set(after))
    return [n for n in names if before.get(n) != after.get(n)
            and "__pycache__" not in Path(n).parts]


def main(args: argparse.Namespace) -> int:
    """``tinygrad-cnn oracle grade SUBMISSIONS --config FILE [--jobs N] [--format F]
    [--out FILE]``: exit 0 when grading completed (whatever the scores), 2 for a bad config
    or a missing folder."""
    def refuse(message: str) -> int:
        print(f"tinygrad-cnn oracle grade: {message}", file=sys.stderr)
        return 2

    if not getattr(args, "config", None):
        return refuse("--config FILE is required (the TOML file describing the checks)")
    fmt = getattr(args, "format", None) or "table"
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return refuse(str(exc))
    try:
        subs = discover(args.target, single=fmt == "gradescope")
    except FileNotFoundError as exc:
        return refuse(str(exc))
    if not subs:
        return refuse(f"no submissions in {args.target} (expected one sub-folder with .py "
                      "files, or one .py file, per student)")
    if fmt == "gradescope" and not subs[0].files():
        return refuse(f"the gradescope format grades one submission, and {args.target} has "
                      "no .py file: give the folder that holds the student's files")
    start = time.perf_counter()
    before = snapshot(args.target)
    results = grade(subs, config, getattr(args, "jobs", None))
    changed = changed_files(before, snapshot(args.target))
    if changed:  # a submission wrote into the folder (its own, or another student's)
        shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more"
                                           if len(changed) > 10 else "")
        print(f"tinygrad-cnn oracle grade: warning: files in {args.target} changed while "
              f"grading: {shown}. A submission may have written into another student's "
              "folder, so those grades cannot be trusted: grade untrusted code in a "
              "sandbox (a container, another user) with the submissions read-only.",
              file=sys.stderr)
    text = FORMATTERS[fmt](results, config, time.perf_counter() - start)
    if fmt == "table":  # student names and messages may hold anything
        text = printable(text, newlines=True)
    out = getattr(args, "out", None)
    if out:
        try:
            Path(out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            return refuse(f"--out: cannot write {out} ({exc.strerror or exc})")
        total = sum(r.score for r in results)
        print(f"graded {len(results)} submission{'s' * (len(results) != 1)} "
              f"({_fmt_points(total)} points in all); wrote {out}", file=sys.stderr)
    else:
        print(text)
    return 0
