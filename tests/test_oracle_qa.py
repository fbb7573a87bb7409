"""The oracle judged on fresh submissions written the way students write them.

tests/oracle_qa/ holds one folder per "student" (a CS231n ``layers.py`` with naive loops, one
with the im2col "fast" layers, a "Deep Learning from Scratch" ``layers.py`` with its classes,
an NHWC numpy-ml-like conv, and buggy ones with realistic mistakes). These were written for
this review, independently of tests/oracle_corpus.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from spec import oracle

ROOT = Path(__file__).resolve().parents[1]
QA = Path(__file__).resolve().parent / "oracle_qa"


def _module(student: str):
    path = QA / student / "layers.py"
    spec = importlib.util.spec_from_file_location(f"oracle_qa_{student}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CORRECT = {
    # name: (op, student, forward, backward, check kwargs)
    "cs231n naive conv": ("conv2d", "cs_good", "conv_forward_naive", "conv_backward_naive",
                          {"style": "cs231n"}),
    "cs231n naive max pool": ("max_pool2d", "cs_good", "max_pool_forward_naive",
                              "max_pool_backward_naive", {"style": "cs231n"}),
    "cs231n affine": ("linear", "cs_good", "affine_forward", "affine_backward",
                      {"style": "cs231n"}),
    "cs231n relu": ("relu", "cs_good", "relu_forward", "relu_backward", {"style": "cs231n"}),
    "cs231n softmax_loss": ("cross_entropy", "cs_good", "softmax_loss", None,
                            {"style": "cs231n"}),
    "cs231n im2col conv": ("conv2d", "cs_fast", "conv_forward_fast", "conv_backward_fast",
                           {"style": "cs231n"}),
    "cs231n im2col max pool": ("max_pool2d", "cs_fast", "max_pool_forward_fast",
                               "max_pool_backward_fast", {"style": "cs231n"}),
    "dlfs Convolution": ("conv2d", "dlfs_good", "Convolution", None, {"style": "layer"}),
    "dlfs Pooling (no padding)": ("max_pool2d", "dlfs_good", "Pooling", None,
                                  {"style": "layer", "supports": {"padding": [0]}}),
    "dlfs Affine": ("linear", "dlfs_good", "Affine", None, {"style": "layer"}),
    "dlfs Relu (changes dout in place)": ("relu", "dlfs_good", "Relu", None,
                                          {"style": "layer"}),
    "nhwc conv2D": ("conv2d", "nhwc", "conv2D", "conv2D_backward", {"layout": "NHWC"}),
    "dlfs SoftmaxWithLoss with log-sum-exp": ("cross_entropy", "dlfs_good",
                                              "SoftmaxWithLossStable", None,
                                              {"style": "layer"}),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_fresh_submission_passes(name: str) -> None:
    op, student, fwd, bwd, kwargs = CORRECT[name]
    m = _module(student)
    report = oracle.check(op, getattr(m, fwd), bwd and getattr(m, bwd), timeout=5, **kwargs)
    assert report.passed, str(report)
    # every one has a backward (softmax_loss's dx and a layer's backward included), and the
    # report must not say "(none given: gradients not checked)" when they were checked
    assert "gradients not checked" not in str(report)
    assert all(r.grads is not None for r in report.results)


@pytest.mark.parametrize("op, student, fwd, bwd, style", [
    ("conv2d", "cs_good", "conv_forward_naive", "conv_backward_naive", "cs231n"),
    ("max_pool2d", "cs_good", "max_pool_forward_naive", "max_pool_backward_naive", "cs231n"),
    ("conv2d", "dlfs_good", "Convolution", None, "layer"),
])
def test_narrow_styles_still_get_random_cases(op, student, fwd, bwd, style) -> None:
    """One stride, one padding, no dilation: about 1 random config in 70 fits cs231n's conv.
    The random cases outside the style were replaced by too few draws, so these styles were
    checked on the fixed cases only; now they get as many random cases as the others."""
    m = _module(student)
    report = oracle.check(op, getattr(m, fwd), bwd and getattr(m, bwd), style=style,
                          timeout=5)
    ran = [r for r in report.results if r.case.kind == "random"]
    assert len(ran) >= 4, str(report)


def test_non_square_window_with_one_stride_is_checked() -> None:
    """cs231n's pool_param has pool_height and pool_width but one stride: a non-square
    window is expressible. The only non-square edge case had a stride pair, so the classic
    'unravel the argmax with the wrong width' bug passed; the report even said non-square
    windows were out of the style."""
    m = _module("cs_bugs")
    report = oracle.check("max_pool2d", m.max_pool_forward_naive, m.max_pool_backward_naive,
                          style="cs231n", timeout=5)
    assert not report.passed
    assert "edge-kernel-3x2-stride-1" in {r.case.name for r in report.failed}
    good = _module("cs_good")
    report = oracle.check("max_pool2d", good.max_pool_forward_naive,
                          good.max_pool_backward_naive, style="cs231n", timeout=5)
    assert report.passed
    checked_line = str(report).split("\nchecked: ")[1].split("\n")[0]
    assert "(3, 2)" in checked_line.split(";")[0], str(report)  # kernel_size ...


def test_cli_runs_a_cs231n_layers_file_by_style() -> None:
    """The command a student would type in the folder of their layers.py."""
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn.cli", "oracle", "conv2d",
         "layers:conv_forward_naive", "--backward", "layers:conv_backward_naive",
         "--style", "cs231n", "--timeout", "5"],
        cwd=QA / "cs_good", capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "RESULT: PASS" in run.stdout


def test_cli_help_names_the_styles_and_defaults() -> None:
    run = subprocess.run([sys.executable, "-m", "tinygrad_cnn.cli", "oracle", "--help"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    text = " ".join(run.stdout.split())
    assert "{arrays,cs231n,layer}" in text and "(default: arrays)" in text
    assert "backward(dout, cache)" in text
    assert "default: dW,db" in text and "default: table" in text and "default: 0)" in text


def test_nhwc_report_says_its_arrays_are_channels_first() -> None:
    """The shrunk case, the indices and the shapes are printed in the oracle's NCHW: for an
    NHWC candidate 'first at index [0, 0, 0, 2]' is another element of its own output, so
    the report has to say which layout it prints."""
    m = _module("nhwc")
    report = oracle.check("conv2d", m.conv2D_wrong_weights, m.conv2D_backward,
                          layout="NHWC", timeout=5)
    assert not report.passed
    assert "layout: NHWC" in str(report) and "is your [n, h, w, c]" in str(report)
    good = oracle.check("conv2d", m.conv2D, m.conv2D_backward, timeout=5)  # NCHW: no line
    assert "layout:" not in str(good)


# ------------------------------------------------------------------ hostile submissions

LYING = QA / "lying" / "layers.py"


def test_a_module_that_patches_the_oracle_in_its_child_cannot_hide_cases(tmp_path) -> None:
    """tests/oracle_qa/lying/layers.py: a softmax_loss whose dx is zeros, which at import
    replaces spec.oracle.adapters.adapt (its backward becomes None: 'gradients not
    checked') and Adapted.out_of_scope (only the edge cases are 'expressible'). The oracle
    asked the child both questions, so the command line said PASS (exit 0). Whether there
    is a backward, and what the style can express, are now decided in the oracle's
    process; the child can still take cases out of its own scope (as a
    NotImplementedError can), which strict counts as failures."""
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn.cli", "oracle", "cross_entropy",
         "layers:softmax_loss", "--style", "cs231n", "--timeout", "5"],
        cwd=LYING.parent, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "RESULT: FAIL" in run.stdout and "gradients not checked" not in run.stdout
    assert "backward: gradients:" in run.stdout  # its hidden backward was called

    # and through grade, as a student's folder
    student = tmp_path / "subs" / "mallory"
    student.mkdir(parents=True)
    (student / "layers.py").write_text(LYING.read_text())
    config = tmp_path / "grade.toml"
    config.write_text('[assignment]\nname = "loss"\ntimeout = 5\n\n[[check]]\nname = "loss"\n'
                      'op = "cross_entropy"\nstyle = "cs231n"\nforward = "softmax_loss"\n'
                      'module = "layers"\npoints = 5\n')
    out = tmp_path / "grades.json"
    from tinygrad_cnn.cli import main as cli_main

    assert cli_main(["oracle", "grade", str(tmp_path / "subs"), "--config", str(config),
                     "--format", "json", "--out", str(out)]) == 0
    import json

    row = json.loads(out.read_text())["submissions"][0]
    assert row["score"] == 0 and row["checks"][0]["status"] == "fail", row


HOSTILE = {
    # name: passes (the values are right) or not
    "changes_directory": True,
    "prints_megabytes": True,
    "float32_result": True,
    "patches_numpy": False,
    "lying_subclass": False,
    "object_array": False,
    "int_result": False,
    "complex_result": False,
    "bool_result": False,
    "reads_the_stack": False,
}


@pytest.mark.parametrize("isolate", [True, False])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_relu_gets_the_verdict_it_earned(name: str, isolate: bool, capfd) -> None:
    """Every candidate answers for itself: a subclass with a lying __eq__ / ufuncs (which
    made check(isolate=False) crash with AttributeError), numpy patched from inside the
    call, object / int / complex / bool results, one that searches its process's frames
    and objects for an expected array (the child never has one). The oracle's process is
    left as it was (cwd, numpy) when the candidate runs isolated."""
    import os

    import numpy as np

    h = _module_from(QA / "hostile.py")
    cwd = os.getcwd()
    saved = [(np, "allclose"), (np, "array_equal"), (np, "isclose"),
             (np.testing, "assert_allclose")]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr in saved]
    try:
        report = oracle.check("relu", getattr(h, name), h.backward, timeout=5,
                              isolate=isolate)
    finally:
        patched = any(getattr(owner, attr) is not value for owner, attr, value in saved)
        for owner, attr, value in saved:
            setattr(owner, attr, value)
        os.chdir(cwd)
    capfd.readouterr()  # what it printed
    assert report.passed is HOSTILE[name], str(report)
    if isolate:
        assert not patched
    if name in ("object_array", "int_result", "complex_result", "bool_result"):
        assert "expected a floating dtype" in str(report)


def _module_from(path: Path):
    spec = importlib.util.spec_from_file_location(f"oracle_qa_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grade_a_mixed_class_in_the_cs231n_sample_config(tmp_path) -> None:
    """The sample config (cs231n style) on fresh students: right naive loops (a folder and a
    single file), one with a mistake in every function, and a student who wrote the
    im2col layers under other names (missing, with the reason)."""
    import json
    import shutil
    import xml.etree.ElementTree as ET

    from tinygrad_cnn.cli import main as cli_main

    subs = tmp_path / "subs"
    for student in ("cs_good", "cs_bugs", "cs_fast"):
        shutil.copytree(QA / student, subs / student)
    shutil.copy(QA / "cs_good" / "layers.py", subs / "zoe.py")
    config = ROOT / "examples" / "grading" / "grade.toml"
    out = tmp_path / "grades.json"
    assert cli_main(["oracle", "grade", str(subs), "--config", str(config), "--format",
                     "json", "--out", str(out), "--jobs", "2"]) == 0
    rows = {s["name"]: s for s in json.loads(out.read_text())["submissions"]}
    assert rows["cs_good"]["score"] == rows["zoe"]["score"] == 20
    bugs = {c["check"]: c for c in rows["cs_bugs"]["checks"]}
    assert [bugs[k]["status"] for k in ("conv", "pool", "loss")] == ["fail"] * 3
    assert bugs["loss"]["diagnoses"][0] == "loss-gradient-missing-1/N"
    fast = {c["check"]: c for c in rows["cs_fast"]["checks"]}
    assert fast["conv"]["status"] == "missing" and "conv_forward_naive" in fast["conv"]["reason"]
    junit = tmp_path / "grades.xml"
    assert cli_main(["oracle", "grade", str(subs), "--config", str(config), "--format",
                     "junit", "--out", str(junit), "--jobs", "2"]) == 0
    assert ET.parse(junit).getroot().get("tests") == "12"


def test_a_process_left_running_does_not_hold_the_callers_pipe() -> None:
    """The candidate's output went straight to the oracle's standard error, so a process it
    started (and detached) kept the caller's pipe open: subprocess.run(capture_output=True),
    like a CI step, waited for it (40 s here, forever for an endless one). The output now
    goes to a file that the oracle copies to its standard error."""
    import time

    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn.cli", "oracle", "relu",
         "hostile:leaves_a_process_running", "--backward", "hostile:backward", "--timeout",
         "5"], cwd=QA, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0 and "RESULT: PASS" in run.stdout, run.stdout + run.stderr
    assert time.monotonic() - start < 20  # (each stop also waited 5.5 s for it)


def test_what_the_candidate_prints_is_still_shown_on_stderr() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn.cli", "oracle", "relu",
         "hostile:prints_megabytes", "--backward", "hostile:backward", "--timeout", "5"],
        cwd=QA, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0 and "RESULT: PASS" in run.stdout
    assert "y" * 1000 in run.stderr and "z" * 1000 in run.stderr and "yyy" not in run.stdout


def test_grade_warns_when_a_submission_writes_into_the_folder(tmp_path, capsys) -> None:
    """mallory's module, at import, copies her right file over zed's (zed flips the kernel),
    and zed got 20/20. The oracle cannot stop a process of the same user from writing
    files; it now says which files changed while grading, so the grades are not trusted
    silently."""
    from tinygrad_cnn.cli import main as cli_main

    sample = ROOT / "examples" / "grading"
    config = str(sample / "grade.toml")
    (tmp_path / "zed").mkdir()
    (tmp_path / "zed" / "layers.py").write_text(
        (sample / "submissions" / "bob" / "layers.py").read_text())
    (tmp_path / "mallory").mkdir()
    (tmp_path / "mallory" / "layers.py").write_text(
        "import pathlib\n_here = pathlib.Path(__file__).resolve().parent\n"
        "(_here.parent / 'zed' / 'layers.py').write_text((_here / 'layers.py').read_text())\n"
        + (sample / "submissions" / "alice" / "layers.py").read_text())
    assert cli_main(["oracle", "grade", str(tmp_path), "--config", config, "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "warning: files in" in err and "zed/layers.py" in err and "sandbox" in err
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "ann.py").write_text((sample / "submissions" / "alice" / "layers.py").read_text())
    assert cli_main(["oracle", "grade", str(clean), "--config", config, "--jobs", "1"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_submission_that_kills_its_grading_worker_costs_only_its_row(tmp_path,
                                                                        capsys) -> None:
    """os.kill(os.getppid(), SIGKILL) at import killed the pool worker grading it: the
    pool broke and `grade --jobs 2` ended in a BrokenProcessPool traceback for the whole
    class. The others are graded again, and the row says what happened."""
    from tinygrad_cnn.cli import main as cli_main

    sample = ROOT / "examples" / "grading"
    alice = (sample / "submissions" / "alice" / "layers.py").read_text()
    for name in ("ann", "bea"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "layers.py").write_text(alice)
    (tmp_path / "kim").mkdir()
    (tmp_path / "kim" / "layers.py").write_text(
        "import os\nimport signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + alice)
    out = tmp_path / "grades.json"
    assert cli_main(["oracle", "grade", str(tmp_path), "--config", str(sample / "grade.toml"),
                     "--jobs", "2", "--format", "json", "--out", str(out)]) == 0
    import json

    rows = {s["name"]: s for s in json.loads(out.read_text())["submissions"]}
    assert rows["ann"]["score"] == rows["bea"]["score"] == 20
    assert rows["kim"]["score"] == 0
    assert "was killed" in rows["kim"]["checks"][0]["reason"]


BUGGY = {
    # name: (op, student, forward, backward, check kwargs, the first diagnosis or None)
    "cs231n conv window steps by one": ("conv2d", "cs_bugs", "conv_forward_naive",
                                        "conv_backward_naive", {"style": "cs231n"},
                                        "window-steps-by-one"),
    "cs231n max pool window steps by one": ("max_pool2d", "cs_bugs",
                                            "max_pool_forward_steps_by_one", None,
                                            {"style": "cs231n"}, "window-steps-by-one"),
    "cs231n softmax_loss without 1/N": ("cross_entropy", "cs_bugs", "softmax_loss", None,
                                        {"style": "cs231n"}, "loss-gradient-missing-1/N"),
    "cs231n affine db over the wrong axis": ("linear", "cs_bugs", "affine_forward",
                                             "affine_backward", {"style": "cs231n"}, None),
    "dlfs SoftmaxWithLoss as in the book": ("cross_entropy", "dlfs_good", "SoftmaxWithLoss",
                                            None, {"style": "layer"}, "log-of-softmax"),
    "dlfs SoftmaxWithLoss without / batch_size": ("cross_entropy", "dlfs_bugs",
                                                  "SoftmaxWithLossNoBatch", None,
                                                  {"style": "layer"},
                                                  "loss-gradient-missing-1/N"),
    "dlfs Relu mask x < 0": ("relu", "dlfs_bugs", "ReluWrongMask", None, {"style": "layer"},
                             "relu-grad-at-zero"),
    "dlfs average Pooling without 1/(kh*kw)": ("avg_pool2d", "dlfs_bugs",
                                               "PoolingAvgNoDivide", None,
                                               {"style": "layer"}, "constant-factor"),
    "dlfs Convolution dW reshaped without transpose": ("conv2d", "dlfs_bugs", "Convolution",
                                                       None, {"style": "layer"}, None),
    "nhwc conv with OIHW-ordered weights": ("conv2d", "nhwc", "conv2D_wrong_weights",
                                            "conv2D_backward", {"layout": "NHWC"}, None),
}


@pytest.mark.parametrize("name", list(BUGGY))
def test_buggy_fresh_submission_fails_with_a_fitting_diagnosis(name: str) -> None:
    op, student, fwd, bwd, kwargs, diagnosis = BUGGY[name]
    m = _module(student)
    report = oracle.check(op, getattr(m, fwd), bwd and getattr(m, bwd), timeout=5, **kwargs)
    assert not report.passed, str(report)
    if diagnosis is None:  # nothing classic: no name is better than a wrong one
        assert report.diagnoses == [], str(report)
    else:
        assert report.diagnoses[0] == diagnosis, str(report)


def test_a_wider_dtype_does_not_buy_the_float32_tolerance() -> None:
    """A log_softmax off by 3e-6 fails in float64, and passed when cast to np.longdouble:
    every dtype but float64 got the float32 tolerance."""
    import numpy as np

    def off(x, axis=-1):
        z = x - x.max(axis=axis, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=axis, keepdims=True)) + 3e-6

    for dtype in (np.float64, np.longdouble):
        report = oracle.check("log_softmax", lambda x, axis=-1, t=dtype: off(x, axis).astype(t),
                              timeout=5)
        assert not report.passed, dtype


def test_a_garbled_exception_message_is_printed_escaped(tmp_path) -> None:
    """A message with a lone surrogate ended `tinygrad-cnn oracle` and `oracle grade` (the
    table) in a UnicodeEncodeError traceback; terminal escapes went to the terminal raw,
    and a line break let the message add a fake 'RESULT: PASS' line to the report."""
    folder = QA / "garbled"
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn.cli", "oracle", "cross_entropy",
         "layers:softmax_loss", "--style", "cs231n", "--timeout", "5"],
        cwd=folder, capture_output=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    out = run.stdout.decode("utf-8")
    assert run.returncode == 1 and "Traceback" not in run.stderr.decode("utf-8", "replace")
    assert "\\x1b[2J \\ud800\\x0aRESULT: PASS" in out and "\x1b" not in out
    assert [line for line in out.splitlines() if line.startswith("RESULT:")] == [
        out.splitlines()[-1]]
    import shutil

    shutil.copytree(folder, tmp_path / "subs" / "garbled")
    grade = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn.cli", "oracle", "grade", str(tmp_path / "subs"),
         "--config", str(ROOT / "examples" / "grading" / "grade.toml"), "--jobs", "2"],
        cwd=tmp_path, capture_output=True, timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    table = grade.stdout.decode("utf-8")
    assert grade.returncode == 0, grade.stderr.decode("utf-8", "replace")
    assert "garbled" in table and "\x1b" not in table


def test_a_candidate_cannot_copy_an_earlier_report_of_the_callers(capfd) -> None:
    """A grading loop in Python keeps each student's report; the next student's child is a
    fork of that process and could walk its stack to the earlier report and return the
    expected values (or the earlier student's outputs) for the same cases: it passed
    without computing anything. A forked child now forgets every result's arrays first."""
    h = _module_from(QA / "hostile.py")
    reports = {"alice": oracle.check("relu", h.changes_directory, h.backward, timeout=5)}
    reports["mallory"] = oracle.check("relu", h.copies_an_earlier_report, None, timeout=5)
    assert reports["alice"].passed and not reports["mallory"].passed
    # the caller's own reports keep their arrays (only the child's copy forgot them)
    assert all(r.expected_output is not None for r in reports["alice"].results)
