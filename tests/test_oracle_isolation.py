"""Isolation: nothing a candidate does to its process (exit, crash, hang, exhaust memory,
interrupt, close its output) can end, hang or fake a pass of the oracle; the oracle's own
argument errors are refused up front and never blamed on the candidate."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from spec import oracle
from spec.oracle import isolation
from spec.oracle.adapters import Adapted
from tinygrad_cnn.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).parent))
import oracle_candidates as oc  # noqa: E402
import oracle_hostile as hostile  # noqa: E402

TESTS = str(Path(__file__).parent)
ROOT = str(Path(__file__).parent.parent)
LIMIT = 1.0  # the time limit of these tests, in seconds
MARGIN = 4.0  # what the oracle may add to it (2 shared cores; typically well under 1 s)

pytestmark = pytest.mark.skipif(not isolation.can_fork(), reason="isolation tests fork")

# hostile candidate -> words its FAIL report must contain
HOSTILE = {
    "exit_in_call": "exited with status 0 (os._exit",
    "sys_exit_in_call": "raised SystemExit: 0 (at ",
    "segfault": "killed by signal 11 (SIGSEGV: a segmentation fault",
    "ignores_alarm": f"did not return within {LIMIT:g} s: the oracle stopped the process",
    "long_c_call": f"did not return within {LIMIT:g} s: the oracle stopped the process",
    "allocates_50_gib": "raised MemoryError: Unable to allocate 50.0 GiB",
    "keyboard_interrupt": "raised KeyboardInterrupt (at ",
    "closes_stdout": "closed the standard output",
}


def _problems(report):
    return [r.problems[0].message for r in report.failed]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_candidate_fails_through_check(name):
    start = time.monotonic()
    report = oracle.check("relu", getattr(hostile, name), hostile.relu_backward,
                          timeout=LIMIT, isolate=True)
    elapsed = time.monotonic() - start
    text = str(report)
    assert not report.passed and "RESULT: FAIL" in text
    assert len(report.failed) == len(report.results) == len(oracle.all_cases("relu"))
    assert HOSTILE[name] in report.failed[0].problems[0].message, text
    assert report.failure is not None and "DIAGNOSIS: " in text
    assert elapsed < LIMIT + MARGIN, elapsed
    assert "isolation: each call runs in a child process (fork)" in text


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_candidate_fails_through_the_cli(name, capsys):
    start = time.monotonic()
    code = cli_main(["oracle", "relu", f"oracle_hostile:{name}", "--path", TESTS,
                     "--backward", "oracle_hostile:relu_backward", "--timeout", str(LIMIT)])
    elapsed = time.monotonic() - start
    out = capsys.readouterr().out
    assert code == 1
    assert "RESULT: FAIL" in out and HOSTILE[name] in out, out
    assert "isolation: the module is imported in a child process" in out
    assert elapsed < LIMIT + MARGIN, elapsed


IMPORT_HOSTILE = {
    "os._exit(0)": "the process running it exited with status 0 (os._exit, or exit() in "
                   "compiled code) while importing the candidate's module",
    "sys.exit(0)": "importing it raised SystemExit: 0",
    "while True: pass": f"did not return within {LIMIT:g} s: the oracle stopped the "
                        "process running it while importing the candidate's module",
}


@pytest.mark.parametrize("statement", list(IMPORT_HOSTILE))
def test_a_module_that_misbehaves_at_import_fails_every_case(statement, tmp_path, capsys):
    module = f"hostile_import_{abs(hash(statement))}"
    (tmp_path / f"{module}.py").write_text(f"import os, sys\n{statement}\n"
                                           "def relu(x):\n    return x\n")
    start = time.monotonic()
    code = cli_main(["oracle", "relu", f"{module}:relu", "--path", str(tmp_path),
                     "--timeout", str(LIMIT)])
    elapsed = time.monotonic() - start
    out = capsys.readouterr().out
    assert code == 1 and "RESULT: FAIL (0 of 7 cases in scope passed)" in out, out
    assert f"not run: {IMPORT_HOSTILE[statement]}" in out
    assert elapsed < LIMIT + MARGIN


def _run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spec.oracle", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_a_real_process_never_exits_0_for_a_candidate_that_exits_0(tmp_path):
    (tmp_path / "exits_at_import.py").write_text("import os\nos._exit(0)\n")
    for target, path in (("exits_at_import:relu", str(tmp_path)),
                         ("oracle_hostile:exit_in_call", TESTS),
                         ("oracle_hostile:segfault", TESTS)):
        done = _run_cli("relu", target, "--path", path, "--timeout", str(LIMIT))
        assert done.returncode == 1, (target, done.stdout, done.stderr)
        assert done.stdout.rstrip().endswith("RESULT: FAIL (0 of 7 cases in scope passed)")


def test_what_the_candidate_prints_does_not_reach_the_report():
    done = _run_cli("relu", "oracle_hostile:prints_a_pass", "--path", TESTS)
    assert done.returncode == 1
    assert done.stdout.count("RESULT:") == 1 and "RESULT: FAIL" in done.stdout
    assert "RESULT: PASS (every case passed)" in done.stderr  # printed, but on stderr


# ------------------------------------------------------------------ restarts and reuse


def test_a_crash_on_some_cases_fails_only_those(monkeypatch):
    def crashes_on_vectors(x):
        if x.ndim == 1:
            hostile.segfault(x)
        return np.maximum(x, 0.0)

    report = oracle.check("relu", crashes_on_vectors, hostile.relu_backward)
    crashed = {r.case.name for r in report.failed}
    assert crashed == {c.name for c in oracle.all_cases("relu") if c.arrays["x"].ndim == 1}
    assert all("SIGSEGV" in m for m in _problems(report))
    assert report.timing["starts"] == 1 + len(crashed)  # a fresh child after each crash


def test_restarts_are_capped(monkeypatch):
    monkeypatch.setattr(isolation, "MAX_RESTARTS", 2)
    report = oracle.check("relu", hostile.exit_in_call)
    messages = _problems(report)
    assert all("exited with status 0" in m for m in messages[:3])
    assert all("not run: the process running it ended 3 times" in m for m in messages[3:])
    assert report.timing["starts"] == 3


def test_one_child_serves_every_call_of_a_well_behaved_candidate():
    report = oracle.check("conv2d", *oc.REFERENCE["conv2d"])
    assert report.passed
    assert report.timing["starts"] == 1 and report.timing["calls"] > 100


def test_a_hung_forward_does_not_stop_the_backward():
    report = oracle.check("relu", hostile.ignores_alarm, hostile.relu_backward, timeout=LIMIT)
    first = report.results[0].problems
    assert [p.stage for p in first] == ["forward"]  # the backward ran and was right
    assert report.timing["starts"] == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_oracle_kills_what_the_candidate_started(tmp_path):
    pid_file = tmp_path / "pid"

    def starts_a_sleeper_then_hangs(x):
        sleeper = subprocess.Popen(["sleep", "60"])
        pid_file.write_text(str(sleeper.pid))
        while True:
            time.sleep(0.01)

    report = oracle.check("relu", starts_a_sleeper_then_hangs, timeout=LIMIT)
    assert not report.passed
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{pid}/stat") if os.path.exists(f"/proc/{pid}/stat") else \
                open(os.devnull) as stat:
            if ") Z " in stat.read():  # killed, waiting to be reaped by init
                break
        time.sleep(0.05)
    else:
        pytest.fail(f"the candidate's own child {pid} outlived the check")


# --------------------------------------------------------- nothing comes back but data


class _Evil:
    def __reduce__(self):
        return (os._exit, (0,))


def returns_an_object_that_exits_when_unpickled(x):
    return _Evil()


def returns_a_huge_array(x):
    return np.zeros((2**27,))  # 1 GiB: comes back as its shape only


def returns_a_huge_object_array(x):
    return np.broadcast_to(np.array(None, dtype=object), (2**38,))  # no memory here


def test_a_returned_object_is_never_unpickled_in_the_oracle():
    report = oracle.check("relu", returns_an_object_that_exits_when_unpickled)
    assert not report.passed  # we are still here
    assert "returned _Evil, expected a numpy.ndarray" in _problems(report)[0]
    report = oracle.check("relu", returns_a_huge_array)
    assert "returned shape (134217728,), expected (7,)" in _problems(report)[0]
    report = oracle.check("relu", returns_a_huge_object_array)
    assert "returned dtype object" in _problems(report)[0]


def test_plain_data_round_trip():
    values = [np.arange(6.0).reshape(2, 3), np.float32(2.5), 3.0, 7, None,
              (np.zeros(2, np.int64), None), [1.0], np.array(["a"]), {"a": 1}]
    for value in values:
        back = isolation.decode(isolation._plain_loads(
            isolation.pickle.dumps(isolation.encode(value))))
        if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
            assert back.dtype == value.dtype and np.array_equal(back, value)
        elif isinstance(value, np.generic):
            assert type(back) is type(value) and back == value
        elif isinstance(value, dict):
            assert type(back).__name__ == "dict" and not isinstance(back, dict)
        elif isinstance(value, np.ndarray):
            assert back.dtype == object and back.shape == value.shape
        elif isinstance(value, tuple):
            assert isinstance(back, tuple) and back[1] is None
        else:
            assert back == value and type(back) is type(value)
    with pytest.raises(isolation.pickle.UnpicklingError, match="refused posix.system"):
        isolation._plain_loads(isolation.pickle.dumps(os.system))


# ------------------------------------------------------------------- the oracle's errors


@pytest.mark.parametrize("kwargs, words", [
    ({"timeout": -1}, "timeout: expected a finite number of seconds, or None for no limit "
                      "between 0 and 86400, got -1"),
    ({"timeout": float("inf")}, "timeout: expected a finite number"),
    ({"timeout": float("nan")}, "timeout: expected a finite number"),
    ({"timeout": 1e12}, "between 0 and 86400, got 1000000000000.0"),
    ({"seed": -1}, "seed: expected an integer >= 0, got -1"),
    ({"memory_mib": 10}, "memory_mib: expected a finite number of MiB, or None for no limit "
                         "at least 64, got 10"),
])
def test_bad_limits_are_refused_up_front(kwargs, words):
    with pytest.raises(ValueError) as exc:
        oracle.check("relu", oc.relu, **kwargs)
    assert words in str(exc.value)


@pytest.mark.parametrize("kwargs", [{"timeout": "10"}, {"seed": 1.5}, {"seed": True},
                                    {"memory_mib": "4G"}])
def test_limits_of_the_wrong_type_are_refused(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(TypeError, match=f"^{name}: expected"):
        oracle.check("relu", oc.relu, **kwargs)


@pytest.mark.parametrize("argv, words", [
    (["--timeout", "1e12"], "--timeout: expected a finite number >= 0 and at most 86400"),
    (["--timeout", "-1"], "--timeout: expected a finite number >= 0"),
    (["--timeout", "nan"], "--timeout: expected a finite number"),
    (["--seed", "-1"], "--seed: expected an integer >= 0"),
    (["--memory", "10"], "--memory: expected a size of at least 64 MiB"),
    (["--memory", "lots"], "--memory: expected a size of at least 64 MiB"),
])
def test_bad_limits_are_an_argparse_error_in_the_cli(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["oracle", "relu", "oracle_candidates:relu", "--path", TESTS, *argv])
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


def test_limits_at_their_bounds_let_a_right_candidate_pass(capsys):
    forward, backward = oc.REFERENCE["relu"]
    assert oracle.check("relu", forward, backward, timeout=86_400, memory_mib=64).passed
    assert oracle.check("relu", forward, backward, timeout=None, memory_mib=None).passed
    assert oracle.check("relu", forward, backward, timeout=0, seed=2**40).passed
    assert cli_main(["oracle", "relu", "oracle_candidates:relu", "--path", TESTS,
                     "--timeout", "86400", "--memory", "512M"]) == 0
    assert "memory limit 512 MiB above its size at start" in capsys.readouterr().out
    assert cli_main(["oracle", "relu", "oracle_candidates:relu", "--path", TESTS,
                     "--memory", "unlimited", "--timeout", "0"]) == 0
    assert "no time limit; no memory limit" in capsys.readouterr().out


def test_a_small_memory_limit_stops_a_big_allocation_and_not_the_oracle():
    def allocates_256_mib(x):
        return np.maximum(x, 0) + np.ones(2**25)[0] - 1

    assert oracle.check("relu", allocates_256_mib, memory_mib=None).passed
    report = oracle.check("relu", allocates_256_mib, memory_mib=128)
    assert not report.passed
    assert "raised MemoryError" in _problems(report)[0]
    assert "(memory limit 128 MiB above its size at start)" in _problems(report)[0]
    assert "DIAGNOSIS: it asked for more memory than the limit allows" in str(report)


# ------------------------------------------------------------------ without isolation


def test_isolate_false_runs_in_process_and_says_so():
    calls = []

    def relu(x):
        calls.append(1)  # visible here only because it runs in this process
        return np.maximum(x, 0)

    report = oracle.check("relu", relu, isolate=False)
    assert report.passed and calls
    assert "isolation: none (isolate=False): the candidate runs in the oracle's process" \
        in str(report)
    report = oracle.check("relu", hostile.keyboard_interrupt, isolate=True)
    assert "raised KeyboardInterrupt" in _problems(report)[0]


def test_without_fork_check_falls_back_with_a_note(monkeypatch):
    monkeypatch.setattr(oracle, "can_fork", lambda: False)
    report = oracle.check("relu", *oc.REFERENCE["relu"])
    assert report.passed
    assert "this platform cannot fork, so check(isolate=True) runs it here" in str(report)


def test_not_implemented_in_process_is_unsupported_too():
    def refuses(x):
        raise NotImplementedError("later")

    report = oracle.check("relu", refuses, isolate=False)
    assert not report.results and len(report.unsupported) == 7
    assert report.unsupported[0].reason.startswith("its forward raised NotImplementedError: "
                                                   "later")


def test_a_spawned_child_imports_the_module():
    source = isolation.FromModules("relu", "oracle_hostile:correct_relu", None, (TESTS,))
    with isolation.ChildRunner(source, timeout=60, start_method="spawn") as runner:
        out = runner.forward(np.array([-1.0, 2.0]))
        assert out.tolist() == [0.0, 2.0] and runner.backward is None
        assert runner.out_of_scope(oracle.all_cases("relu")[0]) is None
    assert "(spawn)" in runner.description


def test_load_errors_in_the_child_are_bad_arguments(capsys):
    assert cli_main(["oracle", "relu", "oracle_candidates:nope", "--path", TESTS]) == 2
    assert capsys.readouterr().err.strip() == (
        "tinygrad-cnn oracle: module 'oracle_candidates' has no attribute 'nope'")
    assert cli_main(["oracle", "relu", "oracle_candidates:relu", "--path", TESTS,
                     "--style", "fortran"]) == 2
    assert "style: expected one of" in capsys.readouterr().err


def test_an_adapter_without_isolation_support_is_not_blamed_on_the_candidate():
    class Broken(Adapted):
        def out_of_scope(self, case):
            raise RuntimeError("adapter bug")

    source = isolation.FromObjects(Broken(oc.relu, None))
    with isolation.ChildRunner(source, timeout=5) as runner, \
            pytest.raises(RuntimeError, match="adapter bug"):
        runner.out_of_scope(oracle.all_cases("relu")[0])


def test_overhead_is_measured():
    report = oracle.check("conv2d", *oc.REFERENCE["conv2d"])
    timing = report.timing
    assert timing["starts"] == 1 and 0 < timing["start"] < 5
    assert 0 <= timing["overhead"] < 0.05 * timing["calls"]  # < 50 ms a call, even loaded


def test_the_candidate_module_is_not_imported_in_the_oracle(tmp_path):
    (tmp_path / "marks_import.py").write_text(textwrap.dedent("""
        import numpy as np
        IMPORTED_IN = __import__("os").getpid()
        def relu(x):
            return np.maximum(x, 0)
        """))
    done = _run_cli("relu", "marks_import:relu", "--path", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "marks_import" not in sys.modules


def test_a_child_that_forks_and_exits_is_seen_to_end():
    def forks_then_exits(x):
        if os.fork() == 0:  # the grandchild keeps the child's pipes open, and sleeps
            time.sleep(30)
            os._exit(0)
        os._exit(3)

    start = time.monotonic()
    report = oracle.check("relu", forks_then_exits, timeout=10)
    assert "exited with status 3" in _problems(report)[0]
    assert time.monotonic() - start < 5  # not the 10 s limit, per call
    import multiprocessing

    assert multiprocessing.active_children() == []  # nothing left behind


def test_check_works_outside_the_main_thread():
    import threading

    reports = []
    thread = threading.Thread(target=lambda: reports.append(
        oracle.check("relu", hostile.ignores_alarm, timeout=LIMIT)))
    thread.start()
    thread.join(LIMIT + MARGIN + 5)
    assert reports and not reports[0].passed
    assert "did not return within 1 s" in _problems(reports[0])[0]


def test_every_call_including_shrinking_runs_in_the_child():
    calls = []
    flipped = oc.BROKEN["flipped kernel"][1]

    def spy(*arrays, **params):
        calls.append(os.getpid())  # appended in whichever process runs it
        return flipped(*arrays, **params)

    report = oracle.check("conv2d", spy)
    assert report.failure.steps > 0 and report.diagnoses[0] == "flipped-kernel"
    assert calls == []  # not one call ran in this process
    report = oracle.check("conv2d", spy, isolate=False)
    assert calls and set(calls) == {os.getpid()}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_child_does_not_outlive_a_killed_oracle(tmp_path):
    script = tmp_path / "oracle_then_killed.py"
    pid_file = tmp_path / "child.pid"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {ROOT!r})
        from spec import oracle

        def hangs(x):
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            while True:
                pass

        oracle.check("relu", hangs, timeout=None)
        """))
    oracle_process = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline and oracle_process.poll() is None
            time.sleep(0.05)
        child = int(pid_file.read_text())
    finally:
        oracle_process.kill()  # SIGKILL: the oracle cannot clean up
        oracle_process.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        if ") Z " in Path(f"/proc/{child}/stat").read_text():
            return
        time.sleep(0.05)
    os.kill(child, 9)
    pytest.fail("the candidate's process outlived the oracle")


def _check_segfault_in_worker(_):
    report = oracle.check("relu", hostile.segfault, timeout=LIMIT)
    return report.passed, report.failed[0].problems[0].message


def test_check_works_inside_a_pool_worker():
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:  # its workers are daemons
        [(passed, message)] = pool.map(_check_segfault_in_worker, [0])
    assert not passed and "SIGSEGV" in message


def test_ctrl_c_stops_the_oracle_without_a_verdict(tmp_path):
    marker = tmp_path / "running"
    (tmp_path / "loops_after_marking.py").write_text(textwrap.dedent(f"""
        def relu(x):
            open({str(marker)!r}, "w").close()
            while True:
                pass
        """))
    done = subprocess.Popen([sys.executable, "-m", "spec.oracle", "relu",
                             "loops_after_marking:relu", "--path", str(tmp_path), "--timeout",
                             "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while not marker.exists():  # the candidate is looping in its child
        assert time.monotonic() < deadline and done.poll() is None
        time.sleep(0.05)
    done.send_signal(__import__("signal").SIGINT)
    out, err = done.communicate(timeout=30)
    assert done.returncode == 130 and "interrupted; no verdict" in err
    assert "RESULT" not in out
