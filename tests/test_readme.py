"""The README is what a new user types: its code runs and its commands name real things.

- the Python block ("A taste") runs as written and prints what it claims to compute;
- every ``pip install -e ".[extra,...]"`` names extras that ``pyproject.toml`` defines;
- the two main commands exist (one runs ``tinygrad-cnn verify``, one runs pytest), each
  making its own venv, as the issue asks;
- every ``tinygrad-cnn`` subcommand and every ``benchmarks/run.py`` flag it shows is one
  the real argument parser accepts.

The commands themselves are not run here (they install packages); ``.ci/run`` runs the
test command from a fresh venv on a clean clone, and ``tests/test_cli.py`` runs
``verify``.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _extras() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return set(tomllib.load(fh)["project"]["optional-dependencies"])


def test_the_taste_block_runs_and_prints_a_loss_and_a_gradient_shape():
    (code,) = _blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    loss, shape = out.getvalue().strip().split(" ", 1)
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert shape == "(4, 3, 3, 3)"


def test_the_two_main_commands_each_make_a_venv_and_install_what_they_use():
    commands = [c.strip() for c in _blocks("bash")]
    verify = [c for c in commands if "tinygrad-cnn verify" in c]
    tests = [c for c in commands if "-m pytest" in c]
    assert len(verify) == 1 and len(tests) == 1, commands
    for command in (verify[0], tests[0]):
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -e "), command
    assert "[test" in tests[0]


EXTRAS_SHOWN = sorted(set(re.findall(r'pip install -e "\.\[([^\]]+)\]"', README)))


def test_the_readme_installs_extras():
    assert {"train", "test"} <= {e for group in EXTRAS_SHOWN for e in group.split(",")}


@pytest.mark.parametrize("extras", EXTRAS_SHOWN)
def test_every_extra_the_readme_installs_is_defined(extras):
    missing = set(extras.split(",")) - _extras()
    assert not missing, f"README installs extras {missing} that pyproject.toml does not define"


def test_the_cli_subcommands_in_the_readme_exist():
    import argparse

    from tinygrad_cnn.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    shown = set(re.findall(r"tinygrad-cnn (\w+)", README))
    assert "verify" in shown
    unknown = shown - set(sub.choices)
    assert not unknown, f"README shows tinygrad-cnn subcommands that do not exist: {unknown}"


def test_the_benchmark_flags_in_the_readme_exist():
    shown = set(re.findall(r"(--[a-z][a-z-]+)", "\n".join(
        line for line in README.splitlines() if "benchmarks/run.py" in line)))
    assert {"--list", "--only", "--quick", "--markdown", "--json"} <= shown
    help_text = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
                               capture_output=True, text=True, check=True).stdout
    unknown = {flag for flag in shown if flag not in help_text}
    assert not unknown, f"README shows benchmarks/run.py flags it does not accept: {unknown}"
