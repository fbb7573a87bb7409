"""benchmarks/run.py: a smoke run and its correctness gate (no timed assertions)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import optional

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "run.py"


def _load_run():
    spec = importlib.util.spec_from_file_location("benchmarks_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_a_table_with_a_ratio():
    optional("torch", "the benchmark smoke run (it compares against PyTorch)")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "softmax_ce_fwdbwd", "--rounds", "1",
         "--threads", "1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "OMP_NUM_THREADS=1" in out and "OPENBLAS_NUM_THREADS=1" in out
    assert "| workload (1 thread) | engine | reference | ratio |" in out
    row = next(line for line in out.splitlines() if line.startswith("| softmax-cross-entropy"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3].endswith("x") and float(cells[3][:-1]) > 0  # engine / PyTorch


def test_check_fails_loudly_on_a_mismatch():
    run = _load_run()
    workload = run.Workload("w", "a workload", None, "PyTorch", lambda: None)
    good = np.linspace(-1, 1, 7, dtype=np.float32)
    run.check(workload, [good], [good.copy()])
    bad = good.copy()
    bad[3] += 1e-3
    with pytest.raises(AssertionError, match="output 0 differs from PyTorch"):
        run.check(workload, [bad], [good])
    with pytest.raises(AssertionError, match="shape"):
        run.check(workload, [good[:3]], [good])
    with pytest.raises(AssertionError, match="float32"):
        run.check(workload, [good.astype(np.float64)], [good])


def test_unknown_workload_is_an_error():
    assert _load_run().main(["--only", "no_such_workload"]) == 2


def test_auto_kernels_unset_both_openblas_overrides(monkeypatch):
    run = _load_run()
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    env = run._thread_env(2, "auto")
    assert "OPENBLAS_CORETYPE" not in env and "OPENBLAS_L2_SIZE" not in env
    assert env["OPENBLAS_NUM_THREADS"] == "2"
    kept = run._thread_env(1, "env")
    assert kept["OPENBLAS_CORETYPE"] == "Haswell" and kept["OPENBLAS_L2_SIZE"] == "512"
    assert run._thread_env(1, "SkylakeX")["OPENBLAS_CORETYPE"] == "SkylakeX"


def test_two_thread_table_compares_each_ratio_with_its_one_thread_ratio():
    run = _load_run()
    row = {"name": "w", "description": "a workload", "reference_name": "PyTorch",
           "target": 1.0, "engine_s": 2.6e-3, "reference_s": 2e-3}
    single = {"results": [dict(row, engine_s=2e-3, ratio=1.0)]}
    text = run.table([row], 2, single)
    line = text.splitlines()[-1]
    assert "1.30x" in line and "1.30 **over 1.2**" in line
    assert "ratio / 1-thread ratio" not in run.table([row], 1)


def test_the_forced_algorithm_workloads_exist():
    names = [w.name for w in _load_run().WORKLOADS]
    assert {"conv_fwdbwd_32_64", "conv_fwdbwd_32_64_im2col", "conv_fwdbwd_32_64_f2"} <= set(names)
