"""More hostile command lines (a second pass over issue 14's CLI part, by the QA review).

Each case asserts the exit code, the one-line refusal and what was (or was not) written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinygrad_cnn import cli
from tinygrad_cnn.nn.modules import load_npz

TINY = ["--epochs", "1", "--subset", "5", "--no-progress"]
INT64_MAX = 2**63 - 1


def call(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse refusals
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


@pytest.mark.parametrize("option", ["--epochs", "--batch-size", "--subset"])
def test_counts_too_large_to_store_are_refused_before_training(option, capsys, tmp_path,
                                                               monkeypatch):
    """They are saved with the weights as int64: 2**63 trained, then failed to save (a
    TypeError traceback, the run and any Ctrl-C checkpoint lost)."""
    import tinygrad_cnn.train as train

    def no_training(args):  # a refusal must come from the parser, before any training
        raise AssertionError("training started")

    monkeypatch.setattr(train, "_main_train", no_training)
    out = tmp_path / "w.npz"
    code, _, err = call(["train", option, str(2**63), "--out", str(out)], capsys)
    assert code == 2
    assert f"argument {option}: expected a positive integer up to {INT64_MAX}, got {2**63}" \
        in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_the_largest_storable_batch_size_trains_and_saves(capsys, tmp_path):
    out = tmp_path / "w.npz"
    code, stdout, _ = call(["train", *TINY, "--batch-size", str(INT64_MAX), "--out", str(out)],
                           capsys)
    assert code == 0 and "weights saved to" in stdout
    _, metadata = load_npz(out)
    assert int(metadata["batch_size"]) == INT64_MAX
    code, stdout, _ = call(["evaluate", str(out)], capsys)
    assert code == 0 and "test accuracy" in stdout


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_data_dir_that_is_a_file_is_called_so(command, capsys, tmp_path):
    """It used to say the directory 'does not exist', pointing at the wrong mistake."""
    not_a_dir = tmp_path / "mnist.gz"
    not_a_dir.write_bytes(b"\x1f\x8b")
    argv = ["train", *TINY, "--out", str(tmp_path / "w.npz")] if command == "train" else \
        ["evaluate", str(_weights(tmp_path, capsys))]
    code, _, err = call([*argv, "--data-dir", str(not_a_dir)], capsys)
    assert code == 2
    assert f"data directory {str(not_a_dir)!r} is not a directory" in err


def _weights(tmp_path: Path, capsys) -> Path:
    out = tmp_path / "trained.npz"
    assert call(["train", *TINY, "--out", str(out)], capsys)[0] == 0
    return out


@pytest.mark.parametrize("argv, words", [
    (["graph", "a", "--var", "a=1", "--var", "a=2"], "--var a is given twice"),
    (["graph", "--conv", "--var", "a=1"], "--var gives values only to the names"),
])
def test_graph_refuses_ignored_or_overridden_values(argv, words, capsys):
    """Both used to be accepted silently (the last --var won; --conv ignored --var)."""
    code, out, err = call(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("tinygrad-cnn graph: error: ") and words in err


def test_graph_default_values_can_still_be_overridden(capsys):
    code, out, _ = call(["graph", "--var", "a=5"], capsys)
    assert code == 0 and "data 5" in out


def test_evaluate_finds_the_mnist_directory_from_another_directory(tmp_path, capsys,
                                                                   monkeypatch):
    """train --data-dir mnist stored the relative path: evaluate from elsewhere said
    "data directory 'mnist' does not exist". It is stored absolute now."""
    from test_data import write_mnist

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "mnist").mkdir(parents=True)
    elsewhere.mkdir()
    write_mnist(project / "mnist", n_train=8, n_test=4)
    monkeypatch.chdir(project)
    code, _, _ = call(["train", "--epochs", "1", "--no-progress", "--data-dir", "mnist",
                       "--out", "w.npz"], capsys)
    assert code == 0
    monkeypatch.chdir(elsewhere)
    code, out, _ = call(["evaluate", str(project / "w.npz")], capsys)
    assert code == 0 and "mnist test accuracy" in out
    # the directory moved away: a message that says what to do
    (project / "mnist").rename(project / "moved")
    code, _, err = call(["evaluate", str(project / "w.npz")], capsys)
    assert code == 2 and "which is not a directory here: give --data-dir" in err
    code, out, _ = call(["evaluate", str(project / "w.npz"), "--data-dir",
                         str(project / "moved")], capsys)
    assert code == 0 and "mnist test accuracy" in out
