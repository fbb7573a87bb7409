"""The reference runners shipped in every export: golden_runner.c (compiled with
``gcc -Wall -Werror``) against the small C implementation in tests/golden_impl/ops.c, and
golden_runner.js (run with ``node``) against tests/golden_impl/ops.js. Right
implementations pass in float64 and float32; each planted classic mistake is named by the
runner from the files' mutants, and only that one."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from spec.oracle import golden

IMPL = Path(__file__).parent / "golden_impl"
GCC = shutil.which("gcc")
NODE = shutil.which("node")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc is not installed (.ci/run installs it "
                               "with apt): the C runner is not compiled")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (.ci/run installs "
                                "nodejs with apt): the JavaScript runner is not run")

#: the C planted mistakes: compiler switch -> the mutant key the runner must name
C_BUGS = {"BUG_FLIPPED_KERNEL": "flipped-kernel",
          "BUG_PADDING_OFF_BY_ONE": "padding-off-by-one",
          "BUG_WEIGHT_GRAD_TRANSPOSED": "weight-gradient-transposed"}
#: the JS planted mistakes: GOLDEN_BUG -> the mutant key the runner must name
JS_BUGS = {"avg-count-valid": "avg-pool-wrong-count-at-border",
           "softmax-diagonal": "softmax-diagonal-jacobian"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("golden-runners")
    golden.export(root)
    return root


@pytest.fixture(scope="module")
def c_programs(exported, tmp_path_factory) -> dict[str, Path]:
    """The shipped runner compiled once per variant: "" (right) and each planted bug."""
    if GCC is None:
        pytest.skip("gcc is not installed")
    out = tmp_path_factory.mktemp("golden-c")
    programs = {}
    for variant in ["", *C_BUGS]:
        exe = out / (variant or "right")
        cmd = [GCC, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1",
               f"-I{exported}", *([f"-D{variant}"] if variant else []), "-o", str(exe),
               str(exported / "golden_runner.c"), str(IMPL / "ops.c"), "-lm"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        programs[variant] = exe
    return programs


def _run(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _named(stdout: str) -> set[str]:
    return set(re.findall(r"^mistake named: '([^']+)'", stdout, flags=re.M))


def _summary(stdout: str) -> tuple[int, int, int, int]:
    m = re.search(r"^(\d+) cases: (\d+) passed, (\d+) failed, (\d+) skipped", stdout, re.M)
    assert m, stdout[-500:]
    return tuple(int(v) for v in m.groups())


def _cases(exported: Path, *ops: str) -> int:
    return sum(len(golden.load(exported / f"{op}.json")["cases"]) for op in ops)


def test_the_export_ships_the_runners_unchanged_and_hashed(exported):
    index = json.loads((exported / "INDEX.json").read_text())
    hashes = {f["file"]: f["sha256"] for f in index["other_files"]}
    for name in golden.RUNNER_FILES:
        shipped = (exported / name).read_bytes()
        assert shipped == (golden.RUNNERS / name).read_bytes()
        assert hashes[name] == hashlib.sha256(shipped).hexdigest()
    readme = (exported / "README.md").read_text()
    for words in ("golden_runner.c", "golden_runner.js", "golden_ops[]", "GOLDEN_UNSUPPORTED",
                  "--float32", "forward(inputs, params)", "backward(inputs, gradOut"):
        assert words in readme, words


# ----------------------------------------------------------------------------------- C

@needs_gcc
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_c_runner_passes_a_right_implementation(exported, c_programs, precision):
    flag = ["--float32"] if precision == "float32" else []
    done = _run([str(c_programs[""]), str(exported), *flag])
    assert done.returncode == 0, done.stdout[-2000:]
    total = _cases(exported, "conv2d", "max_pool2d", "cross_entropy")
    # the C implementation does no class weights and no label smoothing: it says so
    skipped = sum(1 for c in golden.load(exported / "cross_entropy.json")["cases"]
                  if c["params"].get("weight") or c["params"].get("label_smoothing"))
    assert _summary(done.stdout) == (total, total - skipped, 0, skipped)
    assert done.stdout.count("unsupported by the implementation") == skipped
    assert f"({precision} rule)" in done.stdout and "FAIL" not in done.stdout


@needs_gcc
@pytest.mark.parametrize("bug", list(C_BUGS))
def test_c_runner_names_each_planted_mistake(exported, c_programs, bug):
    done = _run([str(c_programs[bug]), str(exported), "--quiet"])
    assert done.returncode == 1, done.stdout[-2000:]
    assert _named(done.stdout) == {C_BUGS[bug]}, done.stdout[-3000:]
    _, passed, failed, _ = _summary(done.stdout)
    assert failed > 0 and passed > 0  # max_pool2d and cross_entropy are still right
    # the explanation comes with the first naming
    assert re.search(rf"equals? the '{re.escape(C_BUGS[bug])}' mutant: \S", done.stdout)


@needs_gcc
def test_c_runner_names_a_consistent_backward_through_the_forward_mutants_gradients(
        exported, c_programs):
    # a flipped kernel used in both directions: the expected gradients fail, and they
    # match the gradients carried by the 'flipped-kernel' forward mutant
    done = _run([str(c_programs["BUG_FLIPPED_KERNEL"]), str(exported), "--op", "conv2d",
                 "--quiet"])
    assert "your gradients equal the 'flipped-kernel' mutant" in done.stdout
    assert "no known mistake matches" not in done.stdout


@needs_gcc
def test_c_runner_refuses_bad_arguments_and_files(exported, c_programs, tmp_path):
    exe = str(c_programs[""])
    assert _run([exe]).returncode == 2
    assert _run([exe, str(tmp_path)]).returncode == 2          # no conv2d.json there
    old = json.loads((exported / "conv2d.json").read_text())
    old["version"] = 1
    for op in ("conv2d", "max_pool2d", "cross_entropy"):
        (tmp_path / f"{op}.json").write_text(json.dumps(old))
    done = _run([exe, str(tmp_path)])
    assert done.returncode == 2 and "this runner reads version 2" in done.stderr
    (tmp_path / "conv2d.json").write_text('{"version": 2, "cases": [')
    done = _run([exe, str(tmp_path)])
    assert done.returncode == 2 and "invalid JSON" in done.stderr


# -------------------------------------------------------------------------- JavaScript

@needs_node
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_js_runner_passes_a_right_implementation(exported, precision):
    flag = ["--float32"] if precision == "float32" else []
    done = _run([NODE, str(exported / "golden_runner.js"), str(exported),
                 str(IMPL / "ops.js"), *flag], env={"GOLDEN_BUG": ""})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    total = _cases(exported, "softmax", "log_softmax", "avg_pool2d")
    assert _summary(done.stdout) == (total, total, 0, 0)


@needs_node
@pytest.mark.parametrize("bug", list(JS_BUGS))
def test_js_runner_names_each_planted_mistake(exported, bug):
    done = _run([NODE, str(exported / "golden_runner.js"), str(exported),
                 str(IMPL / "ops.js"), "--quiet"], env={"GOLDEN_BUG": bug})
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert _named(done.stdout) == {JS_BUGS[bug]}, done.stdout[-3000:]
    assert "no known mistake matches" not in done.stdout


@needs_node
def test_js_runner_refuses_bad_arguments(exported, tmp_path):
    runner = str(exported / "golden_runner.js")
    assert _run([NODE, runner, str(exported)]).returncode == 2
    empty = tmp_path / "empty.js"
    empty.write_text("module.exports = {};\n")
    done = _run([NODE, runner, str(exported), str(empty)])
    assert done.returncode == 2 and "exports no op" in done.stderr
