"""Hostile input to the command line and the weights files (issue 14, the CLI / file side).

Every case asserts the exact outcome: the exit code (DESIGN.md: 0 done, 1 the run failed,
2 a bad argument or input file; 130 for Ctrl-C, documented in ``train --help``), the words
of the one-line message, no traceback, and whether a weights file exists. Training runs are
tiny (``--subset``, one or two epochs); anything that could hang runs in a child process
under a timeout, and the refusals that must be fast are timed.
"""

from __future__ import annotations

import errno
import inspect
import io
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import optional

from tinygrad_cnn import cli, graph, nn
from tinygrad_cnn.nn.modules import load_npz
from tinygrad_cnn.train import (
    DEFAULTS,
    EXIT_INTERRUPTED,
    TrainingDiverged,
    build_model,
    checkpoint_path,
    train,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--subset", "32", "--no-progress"]


def run(argv, timeout=60, cwd=None, **kwargs) -> subprocess.CompletedProcess:
    """``tinygrad-cnn ARGV`` in a child process (this checkout on its path)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "tinygrad_cnn.cli", *argv], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False, **kwargs)


def refusal(err: str) -> str:
    """The refusal in ``err``: exactly one line, no traceback; returns it."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    return lines[0]


def call(argv, capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def leftovers(directory: Path) -> list[str]:
    """Temporary or probe files left behind in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------- train: arguments


@pytest.mark.parametrize("argv, words", [
    (["--seed", str(2**70)], "argument --seed: expected an integer from 0 to "
                             f"{2**63 - 1}, got {2**70}"),
    (["--seed", "-1"], "argument --seed: expected an integer from 0 to"),
    (["--seed", "1.5"], "argument --seed: expected an integer from 0 to"),
    (["--lr", "inf"], "argument --lr: expected a finite positive number, got inf"),
    (["--lr", "1e400"], "argument --lr: expected a finite positive number, got inf"),
    (["--lr", "nan"], "argument --lr: expected a finite positive number, got nan"),
    (["--lr", "0"], "argument --lr: expected a finite positive number, got 0.0"),
    (["--lr", "-0.001"], "argument --lr: expected a finite positive number, got -0.001"),
    (["--subset", "0"], "argument --subset: expected a positive integer, got 0"),
    (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs'"),
])
def test_bad_numbers_are_refused_by_the_parser(argv, words, capsys, tmp_path):
    out = tmp_path / "w.npz"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *argv, "--out", str(out)])
    assert exit_info.value.code == 2
    line = refusal(capsys.readouterr().err)
    assert line.startswith("tinygrad-cnn train: error:") and words in line
    assert line.endswith("(see tinygrad-cnn train --help)")
    assert not out.exists()


def test_out_that_is_a_directory_is_refused_before_training(tmp_path, capsys):
    code, out, err = call(["train", *TINY, "--out", str(tmp_path)], capsys)
    assert code == 2
    assert refusal(err) == (f"tinygrad-cnn train: error: --out: {str(tmp_path)!r} is a "
                            f"directory; give a file name, e.g. "
                            f"{str(tmp_path / 'weights.npz')!r}")
    assert out == ""  # refused before the data was loaded or a model built
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, words", [
    ("missing/w.npz", "does not exist"),
    ("a-file/w.npz", "is not a directory"),
    ("new-dir/", "names no file; give a file name, e.g. "),
])
def test_out_in_a_place_that_is_no_directory(where, words, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    code, out, err = call(["train", *TINY, "--out", os.path.join(tmp_path, where)], capsys)
    assert code == 2 and words in refusal(err) and "--out" in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_empty_out_is_refused(capsys):
    code, out, err = call(["train", *TINY, "--out", ""], capsys)
    assert code == 2 and out == ""
    assert refusal(err) == ("tinygrad-cnn train: error: --out: '' names no file; give a file "
                            "name, e.g. 'weights.npz'")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_unwritable_out_is_found_by_creating_a_file_even_as_root(capsys):
    # /proc accepts no new file even for root, where a permission check (os.access) says yes
    code, out, err = call(["train", *TINY, "--out", "/proc/weights.npz"], capsys)
    assert code == 2 and out == ""
    assert refusal(err).startswith("tinygrad-cnn train: error: --out: cannot create a file "
                                   "in '/proc':")


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_out_that_is_a_device_is_not_replaced(capsys):
    code, _, err = call(["train", *TINY, "--out", "/dev/null"], capsys)
    assert code == 2 and "exists and is not a regular file" in refusal(err)
    assert not os.path.isfile("/dev/null")  # still the device


def test_unwritable_plots_are_refused_before_training(tmp_path, capsys):
    optional("matplotlib", "the --plots checks")
    (tmp_path / "a-file").write_text("x")
    code, out, err = call(["train", *TINY, "--out", str(tmp_path / "w.npz"), "--plots",
                           str(tmp_path / "a-file")], capsys)
    assert code == 2 and out == ""
    assert "--plots" in refusal(err) and "exists and is not a directory" in err
    code, out, err = call(["train", *TINY, "--out", str(tmp_path / "w.npz"), "--plots",
                           str(tmp_path / "a-file" / "plots")], capsys)
    assert code == 2 and out == "" and "--plots: cannot create the directory" in refusal(err)
    if os.path.isdir("/proc/self"):
        code, out, err = call(["train", *TINY, "--out", str(tmp_path / "w.npz"), "--plots",
                               "/proc/plots"], capsys)
        assert code == 2 and out == "" and "--plots" in refusal(err)
    assert not (tmp_path / "w.npz").exists()


# ------------------------------------------------------------------ train: guarantees


def test_a_good_run_exits_0_and_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    optional("matplotlib", "the --plots check")
    import tinygrad_cnn.train as train_module

    out, plots = tmp_path / "w.npz", tmp_path / "figures"
    seen = []

    def write_plots(model, data, history, directory):  # the real one: test_train.py
        seen.append(sorted(os.listdir(directory)))
        return [os.path.join(directory, "curves.png")]

    monkeypatch.setattr(train_module, "write_plots", write_plots)
    code, stdout, err = call(["train", *TINY, "--seed", str(2**63 - 1), "--out", str(out),
                              "--plots", str(plots)], capsys)
    assert code == 0, err
    assert stdout.endswith(f"weights saved to {out}\nplot: {plots / 'curves.png'}\n")
    assert seen == [[]]  # the directory was made before training; the probe was removed
    assert out.is_file() and leftovers(tmp_path) == []
    _, meta = load_npz(out)
    assert meta["seed"] == 2**63 - 1 and meta["optimizer"] == "adam"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_diverging_run_stops_exits_1_and_keeps_the_finished_run(tmp_path, capsys):
    out = tmp_path / "w.npz"
    out.write_bytes(b"a finished run")  # what an earlier run left: must survive
    code, stdout, err = call(["train", "--lr", "1e30", "--epochs", "3", "--subset", "64",
                              "--no-progress", "--out", str(out)], capsys)
    assert code == 1
    line = refusal(err)
    assert re.fullmatch(r"tinygrad-cnn train: error: the training loss became (nan|inf) at "
                        r"epoch 1, step \d+ \(the learning rate 1e\+30 is probably too high\)"
                        r"; stopped, no weights saved \(try a smaller --lr\)", line), line
    assert "weights saved" not in stdout
    assert out.read_bytes() == b"a finished run"
    assert leftovers(tmp_path) == []


def test_train_raises_on_a_nan_loss_without_numpy_warnings(digits):
    model = build_model("mlp", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at epoch 1") \
                as info:
            train(model, digits, epochs=2, lr=1e30, optimizer="sgd", schedule="constant")
    assert info.value.epoch == 1 and info.value.step >= 2
    assert not np.isfinite(info.value.loss)
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []


def test_weights_are_written_atomically(tmp_path, monkeypatch):
    model = nn.Linear(3, 2)
    path = tmp_path / "w.npz"
    nn.save(model, path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="No space left"):
        nn.save(nn.Linear(3, 2), path)
    assert path.read_bytes() == before  # the old file, whole
    assert leftovers(tmp_path) == []  # the temporary file is gone


def test_cli_reports_a_failed_save_with_exit_1(tmp_path, capsys, monkeypatch):
    out = tmp_path / "w.npz"
    out.write_bytes(b"old")

    def full_disk(f, **arrays):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    code, stdout, err = call(["train", *TINY, "--out", str(out)], capsys)
    assert code == 1
    assert refusal(err) == (f"tinygrad-cnn train: error: could not save the weights to "
                            f"{str(out)!r}: No space left on device")
    assert out.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_keyboard_interrupt_saves_a_checkpoint_in_process(tmp_path, capsys, monkeypatch):
    import tinygrad_cnn.train as train_module

    real_train = train_module.train

    def interrupted_train(*args, callback=None, **kwargs):
        def stop(epoch, history):
            callback(epoch, history)
            if epoch == 1:
                raise KeyboardInterrupt

        return real_train(*args, callback=stop, **kwargs)

    monkeypatch.setattr(train_module, "train", interrupted_train)
    out = tmp_path / "w.npz"
    code, _, err = call(["train", "--epochs", "5", "--subset", "32", "--no-progress",
                         "--out", str(out)], capsys)
    assert code == EXIT_INTERRUPTED == 130
    checkpoint = tmp_path / "w.interrupted.npz"
    assert refusal(err) == (f"tinygrad-cnn train: interrupted after 1 of 5 epochs; checkpoint "
                            f"saved to {checkpoint} (`tinygrad-cnn evaluate {checkpoint}` "
                            f"reads it)")
    assert checkpoint.is_file() and not out.exists()
    _, meta = load_npz(checkpoint)
    assert meta["interrupted"] is True and meta["epochs_completed"] == 1
    assert meta["epochs"] == 5


@pytest.mark.parametrize("signum, code, words", [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated \\(SIGTERM\\)")])
def test_ctrl_c_in_a_real_process_saves_a_checkpoint_and_exits_130(signum, code, words,
                                                                   tmp_path, capsys):
    out = tmp_path / "w.npz"
    out.write_bytes(b"a finished run")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_cnn.cli", "train", "--epochs", "100000", "--subset",
         "32", "--no-progress", "--out", str(out)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        header = child.stdout.readline()  # printed (and flushed) just before the first step
        assert header.startswith("cnn: 6090 parameters; digits: 32 training"), header
        time.sleep(1.0)
        child.send_signal(signum)
        stdout, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == code
    assert "Traceback" not in err
    checkpoint = tmp_path / "w.interrupted.npz"
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(rf"tinygrad-cnn train: {words} after \d+ of 100000 epochs; "
                        rf"checkpoint saved to {re.escape(str(checkpoint))} \(`tinygrad-cnn "
                        rf"evaluate {re.escape(str(checkpoint))}` reads it\)", last), last
    assert out.read_bytes() == b"a finished run"  # the finished run is not replaced
    assert leftovers(tmp_path) == []
    assert cli.main(["evaluate", str(checkpoint)]) == 0
    assert "a checkpoint of an interrupted run" in capsys.readouterr().out


def test_evaluate_refuses_a_directory_and_a_device(tmp_path, capsys):
    code, _, err = call(["evaluate", str(tmp_path)], capsys)
    assert code == 2 and refusal(err).endswith(f"weights file {str(tmp_path)!r} is a directory")
    if os.path.exists("/dev/zero"):
        code, _, err = call(["evaluate", "/dev/zero"], capsys)
        assert code == 2 and refusal(err).endswith("'/dev/zero' is not a regular file")


def test_checkpoint_path():
    assert checkpoint_path("weights.npz") == "weights.interrupted.npz"
    assert checkpoint_path("/a/b.c/run") == "/a/b.c/run.interrupted.npz"


# ---------------------------------------------------------------- messages and noise


def test_train_help_states_every_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    # the help states one value per setting, so every model must share it
    assert DEFAULTS["cnn"] == DEFAULTS["mlp"]
    d = DEFAULTS["cnn"]
    for option, default in [("--model", "cnn"), ("--optimizer", "adam"),
                            ("--epochs", d["epochs"]), ("--batch-size", d["batch_size"]),
                            ("--lr", d["lr"]), ("--seed", 0), ("--out", "weights.npz")]:
        # the option's own help (up to the next option) says "(default: VALUE"
        assert re.search(rf" {option} (?:(?! --[a-z]).)*?\(default: "
                         rf"{re.escape(str(default))}[,)]", text), option
    parser = cli.build_parser()
    args = parser.parse_args(["train"])
    assert (args.model, args.optimizer, args.seed, args.out) == ("cnn", "adam", 0,
                                                                "weights.npz")
    assert inspect.signature(train).parameters["optimizer"].default == "adam"
    assert "exits 130" in text and "130 interrupted by Ctrl-C, 143 by SIGTERM" in text


def _examples(command: str, capsys) -> list[list[str]]:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    lines = capsys.readouterr().out.splitlines()
    return [shlex.split(line)[1:] for line in lines
            if line.strip().startswith(f"tinygrad-cnn {command}")]


def test_graph_help_examples_run_as_typed(capsys):
    examples = _examples("graph", capsys)
    assert len(examples) >= 3
    for argv in examples:
        assert cli.main(argv) == 0, argv
        out = capsys.readouterr().out
        assert out.startswith(("flowchart", "digraph")), argv
    assert ["graph", "(a*b + c).relu()", "--var", "a=2", "--var", "b=-3", "--var",
            "c=10"] in examples


def test_train_help_examples_parse(capsys):
    examples = _examples("train", capsys)
    assert len(examples) >= 3
    parser = cli.build_parser()
    for argv in examples:
        parser.parse_args(argv)  # exits 2 on a bad example


def test_no_progress_bar_in_a_log(tmp_path):
    result = run(["train", "--epochs", "3", "--subset", "32", "--out",
                  str(tmp_path / "w.npz")])
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and "it/s" not in result.stderr
    assert len(lines) == 3
    for epoch, line in enumerate(lines, 1):
        assert re.fullmatch(rf"epoch {epoch}/3: loss \d+\.\d{{4}}, train accuracy "
                            rf"\d\.\d{{4}}, test accuracy \d\.\d{{4}}", line), line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses a Linux pseudo-terminal")
def test_a_terminal_gets_the_progress_bar(tmp_path):
    optional("tqdm", "the progress-bar test")
    import fcntl
    import pty
    import select
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-m", "tinygrad_cnn.cli", "train", "--epochs",
                              "2", "--subset", "64", "--out", str(tmp_path / "w.npz")],
                             env=env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = b""
    try:
        while select.select([leader], [], [], 60)[0]:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        child.wait(timeout=60)
    assert child.returncode == 0
    text = shown.decode()
    assert "\repoch 1/2:" in text and "epoch 2/2: 100%" in text and "batch/s" in text


def test_load_state_dict_not_strict_warns_with_the_keys():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    other = nn.Linear(4, 4)  # another architecture: no key in common
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.warns(UserWarning) as caught:
        model.load_state_dict(other.state_dict(), strict=False)
    assert [str(w.message) for w in caught] == [
        "load_state_dict(strict=False) for Sequential: loaded 0 of 4 parameters (nothing); "
        "not in the state dict, left as they were: ['0.weight', '0.bias', '2.weight', "
        "'2.bias']; skipped, no such parameter: ['weight', 'bias']"]
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.numpy(), b)

    state = model.state_dict()
    del state["2.bias"]
    state["extra"] = np.zeros(1, np.float32)
    with pytest.warns(UserWarning, match=r"loaded 3 of 4 parameters; not in the state dict, "
                                         r"left as they were: \['2.bias'\]; skipped, no such "
                                         r"parameter: \['extra'\]"):
        model.load_state_dict(state, strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.load_state_dict(model.state_dict(), strict=False)  # all match: silent


# ------------------------------------------------------------------- graph: bounded


@pytest.mark.parametrize("argv, words", [
    (["((((a**64)**64)**64)**64)**64", "--var", "a=10"],
     "'(a ** 64) ** 64' would have about 4,104 digits, more than the limit"),
    (["((a**64)**64)**64", "--var", "a=10"], "'(a ** 64) ** 64' would have about 4,104"),
    (["((a**64)**64)**64", "--var", "a=1.5"], "refused before computing it"),
    (["a", "--var", "a=1e999999999"], "--var a: '1e999999999' needs more than 8192 bits"),
    (["a", "--var", "a=-1e-999999999"], "--var a: '-1e-999999999' needs more than"),
    (["a", "--var", "a=" + "9" * 3000], "--var a: 3000 characters, more than the 200"),
    (["a", "--var", "a=1" + "0" * 150 + "/7e-150"], "is not a number"),
    (["0x" + "f" * 3000 + " * a", "--var", "a=1"], "the literal"),
    (["1e999 * a", "--var", "a=1"], "overflows to inf (numbers must be finite)"),
    (["a.exp()", "--var", "a=100000"], "'a.exp()' overflows: inf"),
    (["(a*b)**64", "--var", "a=2**-1", "--var", "b=3"], "is not a number"),
    (["a ** 0.5", "--var", "a=-2"], "'a ** 0.5' is not a real number"),
    (["a ** 65", "--var", "a=2"], "exponent 65 is too large"),
    (["+".join(["a"] * 300), "--var", "a=1"], "expression too long (more than 500 syntax "
                                               "nodes)"),
    (["a" + "+a" * 3000, "--var", "a=1"], "expression too long (6001 characters, more than "
                                          "5000)"),
    (["(" * 300 + "a" + ")" * 300, "--var", "a=1"], "too many nested parentheses"),
    (["0+" + "-" * 4900 + "a", "--var", "a=1"], "cannot parse '0+---"),
])
def test_hostile_graph_expressions_are_refused_at_once(argv, words, capsys):
    start = time.perf_counter()
    code = cli.main(["graph", *argv])
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in refusal(err) and err.startswith("tinygrad-cnn graph: error:")
    assert seconds < 0.5


A121 = f"a={2**120 + 1}"  # a**64 has 7,681 bits: within the limit


def test_a_gradient_over_the_limit_is_refused_after_backward(capsys):
    # 1/x is within the limit, its gradient -1/x² is not
    start = time.perf_counter()
    code = cli.main(["graph", "1/(a**64)", "--var", A121])
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 0.5
    assert code == 2
    assert refusal(err) == ("tinygrad-cnn graph: error: a gradient has about 4,625 digits, "
                            "more than the limit of 2,467 digits")


def test_the_gradient_bound_refuses_before_backward(capsys, monkeypatch):
    from tinygrad_cnn import Value

    def no_backward(self):
        raise AssertionError("backward ran")

    monkeypatch.setattr(Value, "backward", no_backward)
    code = cli.main(["graph", "1/(1/(1/(1/(a**64))))", "--var", A121])
    err = capsys.readouterr().err
    assert code == 2
    assert refusal(err) == ("tinygrad-cnn graph: error: the gradients of this expression "
                            "could reach about 13,880 digits, more than the limit; refused "
                            "before computing them")


def test_graph_near_the_limit_still_works(capsys):
    # 3**4096: 6,492 bits, under the limit; its gradient 4096 * 3**4095 too
    assert cli.main(["graph", "(a**64)**64", "--var", "a=3"]) == 0
    out = capsys.readouterr().out
    assert f"data {3**4096}" in out and f"grad {4096 * 3**4095}" in out


@pytest.mark.parametrize("argv", [
    ["graph", "((((a**64)**64)**64)**64)**64", "--var", "a=10"],
    ["graph", "a", "--var", "a=1e999999999"],
    ["graph", "((a**64)**64)**64", "--var", "a=10"],
])
def test_the_reported_hangs_finish_in_a_child_process(argv):
    result = run(argv, timeout=30)
    assert result.returncode == 2
    assert "refused" in refusal(result.stderr)


def test_graph_max_bits_bounds_the_printed_numbers():
    # any exact number within the limit can be printed (Python's int-to-str limit is
    # 4300 digits); the limit is what the messages above quote
    assert graph.MAX_BITS == 8192
    assert len(str(2**graph.MAX_BITS)) < sys.get_int_max_str_digits()


# --------------------------------------------------------------- weights files: bounded


def npy_header(shape, descr="<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue()


def write_zip_bomb(path: Path, gib: int = 4) -> int:
    """An .npz with one ``gib`` GiB float32 entry of zeros, deflated to ~1 MB per GiB.

    A real archive (valid DEFLATE stream, CRC and zip64 size): the zeros are compressed
    once per MiB with a full flush, and that block is repeated. Returns the entry's size.
    """
    zeros = bytes(2**20)
    header = npy_header((gib * 2**28,))
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(header) + first.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = block.compress(zeros) + block.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    count = gib * 2**10
    crc = zlib.crc32(header)
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    size = len(header) + count * len(zeros)
    compressed = len(head) + count * len(chunk) + len(tail)
    name = b"0.weight.npy"
    zip64 = struct.pack("<HHQ", 1, 8, size)  # the uncompressed size does not fit 32 bits
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, compressed,
                        0xFFFFFFFF, len(name), len(zip64)) + name + zip64
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc,
                          compressed, 0xFFFFFFFF, len(name), len(zip64), 0, 0, 0, 0,
                          0) + name + zip64
    with open(path, "wb") as f:
        f.write(local)
        f.write(head)
        for _ in range(count):
            f.write(chunk)
        f.write(tail)
        offset = f.tell()
        f.write(central)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0))
    return size


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    write_zip_bomb(path)
    return path


def test_the_zip_bomb_is_real(zip_bomb):
    assert zip_bomb.stat().st_size < 5 * 2**20
    with zipfile.ZipFile(zip_bomb) as archive:
        (info,) = archive.infolist()
        assert info.file_size == 4 * 2**30 + 128
        with archive.open(info) as f:  # a valid stream: the header, then zeros
            start = f.read(128 + 2**21)
    assert np.lib.format.read_magic(io.BytesIO(start)) == (1, 0)
    assert start[128:] == bytes(2**21)


def test_zip_bomb_is_refused_at_once_without_allocating(zip_bomb):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as info:
            load_npz(zip_bomb)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == (f"{str(zip_bomb)!r} declares 4294967424 bytes (4.0 GiB) of "
                               f"uncompressed data, more than the limit of 268435456 bytes "
                               f"(256.0 MiB); refusing to decompress it")
    assert seconds < 0.5 and peak < 16 * 2**20


def test_evaluate_refuses_the_zip_bomb_with_exit_2(zip_bomb):
    start = time.perf_counter()
    result = run(["evaluate", str(zip_bomb)], timeout=30)
    assert result.returncode == 2
    assert "refusing to decompress it" in refusal(result.stderr)
    assert time.perf_counter() - start < 10  # the interpreter's start included


def write_entries(path: Path, entries: dict[str, bytes],
                  method: int = zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def test_a_lying_npy_header_is_refused_before_reading(tmp_path):
    # the zip says 140 bytes; the .npy header inside claims 4 GiB of float32
    path = tmp_path / "liar.npz"
    write_entries(path, {"0.weight.npy": npy_header((2**30,)) + bytes(12)})
    with pytest.raises(ValueError, match=r"entry '0.weight' declares shape \(1073741824,\) of "
                                         r"float32 \(4294967296 bytes \(4.0 GiB\)\), more "
                                         r"than the limit"):
        load_npz(path)


def test_a_truncated_entry_is_called_truncated(tmp_path):
    path = tmp_path / "cut.npz"
    write_entries(path, {"0.weight.npy": npy_header((1000,)) + bytes(40)})
    with pytest.raises(ValueError) as info:
        load_npz(path)
    message = str(info.value)
    assert message == (f"{str(path)!r}: entry '0.weight' is truncated: its header declares "
                       f"shape (1000,) of float32 (4000 bytes of data) but it holds 40 bytes")
    assert "pickled" not in message


def test_a_truncated_file_is_diagnosed(tmp_path):
    path = tmp_path / "w.npz"
    nn.save(build_model("cnn"), path, metadata={"kind": "cnn"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a weights file \\(.npz archive\\), or it is "
                                         "truncated"):
        load_npz(path)


def test_entry_with_extra_bytes_and_a_bad_crc_are_corrupt(tmp_path):
    extra = tmp_path / "extra.npz"
    write_entries(extra, {"0.weight.npy": npy_header((2,)) + bytes(8 + 5)})
    with pytest.raises(ValueError, match="entry '0.weight' is corrupt: its header declares "
                                         r"shape \(2,\) of float32 \(8 bytes of data\) but it "
                                         "holds 13 bytes"):
        load_npz(extra)
    crc = tmp_path / "crc.npz"
    nn.save(nn.Linear(4, 4), crc)
    data = bytearray(crc.read_bytes())
    spot = data.index(b"\x93NUMPY") + 140  # inside the first array's data (after 128)
    data[spot] ^= 0xFF
    crc.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="entry 'weight' is corrupt: Bad CRC-32"):
        load_npz(crc)


@pytest.mark.parametrize("entries, method, words", [
    ({"0.weight.npy": npy_header((1,), "|O") + b"\x80\x04N."}, zipfile.ZIP_STORED,
     "entry '0.weight' is a pickled object array; refusing to load it"),
    ({"notes.txt": b"hello"}, zipfile.ZIP_STORED,
     "entry 'notes.txt' is not an .npy array, so this is not a weights file"),
    ({"0.weight.npy": npy_header((1,), [("a", "<f4")]) + bytes(4)}, zipfile.ZIP_STORED,
     "entry '0.weight' has dtype [('a', '<f4')]; weights must be plain numbers"),
    ({"0.weight.npy": b"not an npy header at all"}, zipfile.ZIP_STORED,
     "entry '0.weight' is not a valid .npy array"),
    ({"0.weight.npy": npy_header((2,)) + bytes(8)}, zipfile.ZIP_BZIP2,
     "uses zip compression method 12; weights files are stored or deflated"),
])
def test_foreign_entries_are_refused(entries, method, words, tmp_path):
    path = tmp_path / "w.npz"
    write_entries(path, entries, method)
    with pytest.raises(ValueError) as info:
        load_npz(path)
    assert words in str(info.value)


def test_encrypted_entries_and_too_many_entries_are_refused(tmp_path):
    path = tmp_path / "locked.npz"
    nn.save(nn.Linear(2, 2), path)
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + flag_at] |= 0x1
            start += 4
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="entry 'weight' is encrypted; weights files are not"):
        load_npz(path)
    many = tmp_path / "many.npz"
    write_entries(many, {f"{i}.npy": b"" for i in range(10_001)})
    with pytest.raises(ValueError, match="has 10001 entries, more than the 10000 a weights "
                                         "file may have"):
        load_npz(many)


def test_deflated_weights_and_a_custom_cap(tmp_path):
    model = build_model("mlp")
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **model.state_dict())
    state, meta = load_npz(path)
    assert meta == {} and all(np.array_equal(state[k], v)
                              for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="more than the limit of 1000 bytes"):
        load_npz(path, max_bytes=1000)


# ------------------------------------------------------------- MNIST IDX files: bounded


def idx_header(shape, type_code=0x08) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def test_an_idx_gzip_bomb_is_refused_before_decompressing(tmp_path, capsys):
    import gzip

    from tinygrad_cnn.data import read_idx

    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(idx_header((2**20, 64, 64)) + bytes(2**20)))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"header says shape \(1048576, 64, 64\) of uint8 "
                                         r"\(4294967296 bytes of data\), more than the limit "
                                         r"of 2147483648 bytes; refusing to read it"):
        read_idx(bomb)
    assert time.perf_counter() - start < 0.5
    # a real one: 40 MB of zeros in 40 KB, over a small limit
    real = tmp_path / "real.gz"
    real.write_bytes(gzip.compress(idx_header((40 * 2**20,)) + bytes(40 * 2**20)))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="more than the limit of 1000000 bytes"):
            read_idx(real, max_bytes=10**6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20
    code, out, err = call(["train", *TINY, "--out", str(tmp_path / "w.npz"), "--data-dir",
                           str(tmp_path)], capsys)
    assert code == 2 and out == "" and "refusing to read it" in refusal(err)


def test_an_idx_file_with_extra_data_is_refused(tmp_path):
    from tinygrad_cnn.data import read_idx

    path = tmp_path / "labels"
    path.write_bytes(idx_header((3,)) + bytes(5))
    with pytest.raises(ValueError, match=r"header says shape \(3,\) of uint8 \(3 bytes of "
                                         r"data\), but the file has more than 3 bytes after "
                                         r"the header"):
        read_idx(path)


@pytest.mark.parametrize("n_train, n_test, words", [
    (0, 4, "the training set of mnist is empty: nothing to train on"),
    (6, 0, "the test set of mnist is empty: nothing to measure accuracy on"),
])
def test_empty_idx_sets_are_refused(n_train, n_test, words, tmp_path, capsys):
    from test_data import write_mnist

    write_mnist(tmp_path, n_train=n_train, n_test=n_test)
    out = tmp_path / "w.npz"
    code, stdout, err = call(["train", *TINY, "--data-dir", str(tmp_path), "--out", str(out)],
                             capsys)
    assert code == 2 and stdout == "" and refusal(err).endswith(words)
    assert not out.exists()


# ----------------------------------------------------------------- evaluate: metadata


def saved(tmp_path: Path, name: str = "w.npz", model=None, **meta) -> Path:
    path = tmp_path / name
    metadata = {"kind": "cnn", "input_shape": np.array([1, 8, 8]), "num_classes": 10,
                "dataset": "digits", "data_dir": ""}
    metadata.update(meta)
    nn.save(model if model is not None else build_model("cnn", seed=0), path,
            metadata=metadata)
    return path


@pytest.mark.parametrize("meta, words", [
    ({"num_classes": float("nan")}, "metadata num_classes must be an integer from 2 to "
                                    "10000, got nan"),
    ({"num_classes": -5}, "metadata num_classes must be an integer from 2 to 10000, got -5"),
    ({"num_classes": 10**9}, "got 1000000000"),
    ({"num_classes": "ten"}, "got 'ten'"),
    ({"num_classes": 5}, "the weights have 5 classes, the data has labels up to 9"),
    ({"input_shape": np.array([1, 8])}, "metadata input_shape must be 3 positive integers"),
    ({"input_shape": np.array([0, 8, 8])}, "got [0, 8, 8]"),
    ({"input_shape": np.array([1, 28, 28])}, "the weights expect images of shape (1, 28, 28), "
                                             "the data has (1, 8, 8)"),
    ({"kind": "resnet"}, "was not written by `tinygrad-cnn train`"),
    ({"kind": "mlp"}, "does not fit a mlp: load_state_dict for Sequential: missing key(s)"),
])
def test_bad_metadata_is_refused_with_exit_2(meta, words, tmp_path, capsys):
    path = saved(tmp_path, **meta)
    code, out, err = call(["evaluate", str(path)], capsys)
    assert code == 2 and out == ""
    line = refusal(err)
    assert line.startswith("tinygrad-cnn evaluate: error:") and words in line, line


def test_weights_of_the_wrong_shape_are_refused(tmp_path, capsys):
    model = build_model("cnn", seed=0)
    state = model.state_dict()
    path = tmp_path / "w.npz"
    np.savez(path, **{**state, "0.weight": np.zeros((16, 1, 5, 5), np.float32),
                      "__meta__.kind": np.asarray("cnn")})
    code, _, err = call(["evaluate", str(path)], capsys)
    assert code == 2
    assert "does not fit a cnn: load_state_dict: wrong shape for key '0.weight': got " \
           "(16, 1, 5, 5), the parameter has shape (16, 1, 3, 3)" in refusal(err)


def test_nan_weights_warn_and_exit_1(tmp_path, capsys):
    model = build_model("cnn", seed=0)
    model[0].weight.data[0, 0, 0, 0] = np.nan
    model[-1].bias.data[:2] = np.inf
    path = saved(tmp_path, model=model)
    code, out, err = call(["evaluate", str(path)], capsys)
    assert code == 1 and out == ""
    assert "Traceback" not in err
    warning, error = err.strip().splitlines()
    assert warning == (f"tinygrad-cnn evaluate: warning: {str(path)!r}: 3 of 6090 weights are "
                       f"NaN or infinite, in 0.weight (1), 7.bias (2)")
    assert error == (f"tinygrad-cnn evaluate: error: {str(path)!r}: the model's outputs are "
                     f"NaN or infinite on 359 of 359 test images (a diverged model); no "
                     f"accuracy reported")


def test_an_infinite_weight_with_finite_outputs_warns_and_reports(tmp_path, capsys):
    model = build_model("cnn", seed=0)
    model[0].bias.data[3] = -np.inf  # channel 3 is -inf before the ReLU, 0 after it
    path = saved(tmp_path, model=model)
    code, out, err = call(["evaluate", str(path)], capsys)
    assert code == 0
    assert refusal(err).endswith("1 of 6090 weights are NaN or infinite, in 0.bias (1)")
    assert re.fullmatch(r"cnn: 6090 parameters; digits test accuracy: \d\.\d{4} "
                        r"\(\d+/359\)\n", out)


@pytest.mark.parametrize("case", ["nan-num-classes", "huge-num-classes", "nan-weights",
                                  "truncated"])
def test_evaluate_never_prints_a_traceback(case, tmp_path):
    if case == "nan-weights":
        model = build_model("cnn", seed=0)
        model[0].weight.data[...] = np.nan
        path, code = saved(tmp_path, model=model), 1
    elif case == "truncated":
        path, code = tmp_path / "cut.npz", 2
        write_entries(path, {"0.weight.npy": npy_header((1000,)) + bytes(40)})
    else:
        value = float("nan") if case == "nan-num-classes" else 10**9
        path, code = saved(tmp_path, num_classes=value), 2
    result = run(["evaluate", str(path)])
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("tinygrad-cnn evaluate: error:")


@pytest.fixture(scope="module")
def digits():
    optional("sklearn", "the training tests (scikit-learn's bundled digits)")
    from tinygrad_cnn.data import Dataset, load_digits

    data = load_digits()
    return Dataset(data.x_train[:64], data.y_train[:64], data.x_test, data.y_test, "d64")
