"""The command line: --help of every subcommand, and clear errors (exit 2, no traceback)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_cnn import cli, nn


@pytest.mark.parametrize("command, options", [
    ("verify", ["--json", "--only", "--list", "--quiet"]),
    ("train", ["--model", "--optimizer", "--epochs", "--batch-size", "--lr", "--seed",
               "--subset", "--data-dir", "--out", "--plots", "--no-progress"]),
    ("evaluate", ["weights", "--data-dir"]),
    ("oracle", ["op", "target", "--backward", "--seed"]),
    ("graph", ["expression", "--var", "--conv", "--format", "--svg"]),
])
def test_every_subcommand_has_help(command, options, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: tinygrad-cnn {command}")
    for option in options:
        assert option in text, f"{command} --help does not mention {option}"


def test_top_level_help_and_no_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("verify", "train", "evaluate", "oracle", "graph"):
        assert command in text
    assert cli.main([]) == 2


def test_installed_entry_point_runs_help():
    result = subprocess.run([sys.executable, "-m", "tinygrad_cnn.cli", "train", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "--batch-size" in result.stdout


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "expected a positive integer, got 0"),
    (["train", "--lr", "-1"], "expected a finite positive number"),
    (["train", "--batch-size", "many"], "expected a positive integer, got 'many'"),
    (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["evaluate"], "the following arguments are required: weights"),
    (["graph", "--format", "png"], "invalid choice: 'png'"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def _run(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_train_input_errors(tmp_path, capsys):
    code, err = _run(["train", "--data-dir", str(tmp_path / "missing")], capsys)
    assert code == 2 and "data directory" in err and "does not exist" in err
    code, err = _run(["train", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and "train-images-idx3-ubyte" in err
    code, err = _run(["train", "--out", str(tmp_path / "no" / "w.npz")], capsys)
    assert code == 2 and "--out" in err
    (tmp_path / "file").write_text("x")
    code, err = _run(["train", "--plots", str(tmp_path / "file")], capsys)
    assert code == 2 and "--plots" in err and "not a directory" in err
    assert err.startswith("tinygrad-cnn train: error:")


def test_evaluate_input_errors(tmp_path, capsys):
    code, err = _run(["evaluate", str(tmp_path / "absent.npz")], capsys)
    assert code == 2 and "does not exist" in err
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    code, err = _run(["evaluate", str(text)], capsys)
    assert code == 2 and "not a weights file" in err
    pickled = tmp_path / "w.pkl"
    pickled.write_bytes(pickle.dumps({"kind": "cnn"}))
    code, err = _run(["evaluate", str(pickled)], capsys)
    assert code == 2 and "pickled" in err
    objects = tmp_path / "objects.npz"
    np.savez(objects, **{"0.weight": np.array([None], dtype=object)})
    code, err = _run(["evaluate", str(objects)], capsys)
    assert code == 2 and "pickled object array" in err
    plain = tmp_path / "plain.npz"
    nn.save(nn.Linear(2, 2), plain)
    code, err = _run(["evaluate", str(plain)], capsys)
    assert code == 2 and "not written by `tinygrad-cnn train`" in err
    wrong = tmp_path / "wrong.npz"
    nn.save(nn.Linear(2, 2), wrong, metadata={"kind": "cnn", "input_shape": [1, 8, 8]})
    code, err = _run(["evaluate", str(wrong)], capsys)
    assert code == 2 and "does not fit a cnn" in err and "missing key" in err
    assert err.startswith("tinygrad-cnn evaluate: error:")


def test_errors_print_no_traceback(tmp_path):
    for argv in (["train", "--data-dir", str(tmp_path / "missing")],
                 ["evaluate", str(tmp_path / "missing.npz")],
                 ["graph", "__import__('os')"]):
        result = subprocess.run([sys.executable, "-m", "tinygrad_cnn.cli", *argv],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2, argv
        assert "Traceback" not in result.stderr and "error:" in result.stderr, argv
