"""benchmarks/conformance.py: the oracle run on real frameworks. Here on PyTorch only (the
torch extra is in CI): every op agrees, a planted disagreement is reported with the
oracle's diagnosis, declared and refused cases are "cannot express", and the committed
table is exactly what the script makes of its committed JSON."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from spec.oracle.cases import OPS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "conformance.py"


def _load():
    spec = importlib.util.spec_from_file_location("benchmarks_conformance", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


conformance = _load()


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def _table_rows(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    width = len(_cells(lines[start]))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == width, line
        rows.append(cells)
    return rows


@pytest.fixture(scope="module")
def torch_run():
    pytest.importorskip("torch", reason="torch is not installed (the torch extra)")
    return conformance.run_framework("torch", ops=("conv2d", "max_pool2d", "cross_entropy"))


def test_pytorch_agrees_on_every_case_of_each_op(torch_run):
    assert torch_run["framework"] == "PyTorch" and torch_run["versions"]["torch"]
    assert [r["op"] for r in torch_run["rows"]] == ["conv2d", "max_pool2d", "cross_entropy"]
    for row in torch_run["rows"]:
        assert row["ran"] > 5 and row["agrees"] == row["ran"], row
        assert row["differs"] == [] and row["cannot_express"] == {}
        assert row["checked"]  # the parameter values the cases ran with


needs_scopes = pytest.mark.skipif(
    not conformance._check_accepts("supports"),
    reason="spec.oracle.check has no supports= here (the oracle with scopes is on main): the "
           "'cannot express' path is not run")


@needs_scopes
def test_a_planted_disagreement_is_diagnosed_and_refusals_cannot_express():
    torch = pytest.importorskip("torch", reason="torch is not installed (the torch extra)")
    import torch.nn.functional as TF

    def flipped(x, w, b=None, **params):  # a true convolution: the kernel rotated
        w = np.flip(w, axis=(2, 3)).copy()
        with torch.no_grad():
            b = None if b is None else torch.from_numpy(b)
            return TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), b, **params).numpy()

    framework = conformance.FRAMEWORKS["torch"]
    entry = conformance._entry("planted", "conv2d with the kernel flipped", flipped, None)
    row = conformance.run_op(framework, "conv2d", entry)
    assert row["differs"] and row["agrees"] < row["ran"]
    assert "flipped-kernel" in {k for d in row["differs"] for k in d["diagnoses"]}

    def refuses_groups(x, w, b=None, groups=1, **params):
        if groups != 1:
            raise RuntimeError("grouped convolution is not supported\nsecond line")
        return flipped(x, np.flip(w, axis=(2, 3)).copy(), b, groups=groups, **params)

    no_dilation = ("dilation: not in this framework",
                   lambda case: max(conformance._pair(case.params["dilation"])) == 1)
    entry = conformance._entry("planted", "conv2d", refuses_groups, None, rules=[no_dilation])
    row = conformance.run_op(framework, "conv2d", entry)
    assert row["differs"] == [] and row["agrees"] == row["ran"] > 0
    reasons = row["cannot_express"]
    assert "dilation: not in this framework" in reasons
    refused = [why for why in reasons
               if why.startswith("the framework refuses the call (its forward raises)")]
    assert refused and "grouped convolution is not supported" in refused[0]
    assert "second line" not in refused[0]


def test_the_markdown_table_has_one_well_formed_row_per_op(torch_run):
    text = conformance.markdown({"frameworks": {"torch": torch_run}})
    assert text.startswith("# Conformance of real frameworks\n")
    summary = _table_rows(text, "| framework | versions |")
    assert summary == [["PyTorch", f"torch {torch_run['versions']['torch']}",
                        summary[0][2], summary[0][3]]]
    assert re.match(r"\d{4}-\d\d-\d\d \(Python ", summary[0][2])
    rows = _table_rows(text, "| framework | op |")
    assert [r[1] for r in rows] == ["`conv2d`", "`max_pool2d`", "`cross_entropy`"]
    for r in rows:
        assert re.fullmatch(r"(\d+) of \1", r[4]), r


def test_the_committed_table_is_the_committed_json_rendered():
    committed = json.loads((ROOT / "benchmarks" / "conformance.json").read_text())
    text = (ROOT / "benchmarks" / "conformance.md").read_text()
    assert conformance.markdown(committed) == text
    frameworks = committed["frameworks"]
    assert {"torch", "jax", "onnxruntime"} <= set(frameworks)
    for fw in frameworks.values():
        assert set(OPS) <= {r["op"] for r in fw["rows"]}
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", fw["date"]) and fw["versions"]
    rows = _table_rows(text, "| framework | op |")
    assert len(rows) == sum(len(fw["rows"]) for fw in frameworks.values())
