"""The command line when its output goes somewhere hostile: a pipe the reader closed, a closed
standard output, a full disk, a stream that cannot encode the text, Ctrl-C.

Each case runs the real command in a child process (``tinygrad-cnn`` and ``python -m spec``,
one and the same ``verify``) and asserts the exit status and that no traceback is printed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_cnn import console

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
CLI = [sys.executable, "-m", "tinygrad_cnn.cli"]
SPEC = [sys.executable, "-m", "spec"]
#: fast commands whose output is long enough to need several writes
COMMANDS = {
    "verify": [*CLI, "verify", "--only", "rules/relu", "--only", "claims/wu_kronecker_chain"],
    "python -m spec": [*SPEC, "--list", "--json"],
    "graph": [*CLI, "graph", "--conv", "--format", "dot"],
}


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err, err


@pytest.mark.parametrize("name", COMMANDS)
def test_a_reader_that_goes_away_ends_the_command_quietly(name):
    """``COMMAND | head -0``: the pipe breaks at the first write; exit 141, nothing on stderr."""
    p = subprocess.Popen(COMMANDS[name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=ENV, cwd=ROOT)
    p.stdout.close()  # the reader is gone before anything is written
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == console.EXIT_BROKEN_PIPE, err
    _no_traceback(err)
    assert err == ""


@pytest.mark.parametrize("name", ["verify", "graph"])
def test_a_closed_stdout_changes_nothing_but_the_output(name):
    """``COMMAND >&-``: the run completes and its exit status is the usual one."""
    r = subprocess.run(COMMANDS[name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=ENV, cwd=ROOT, text=True, timeout=60, check=False,
                       preexec_fn=lambda: os.close(1))
    _no_traceback(r.stderr)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("name", ["verify", "graph"])
def test_a_full_disk_is_one_line_and_exit_1(name):
    with open("/dev/full", "w") as full:
        r = subprocess.run(COMMANDS[name], stdout=full, stderr=subprocess.PIPE, env=ENV,
                           cwd=ROOT, text=True, timeout=60, check=False)
    _no_traceback(r.stderr)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "tinygrad-cnn: error: cannot write the output: No space left on device"]


def test_an_ascii_stream_gets_escapes_not_a_unicode_error():
    """verify prints σ, τ, ∞, −: on a stream that cannot encode them they become escapes."""
    r = subprocess.run([*SPEC, "--only", "convolution/commutativity"], capture_output=True,
                       env=dict(ENV, PYTHONIOENCODING="ascii"), cwd=ROOT, timeout=60,
                       check=False)
    err, out = r.stderr.decode(), r.stdout.decode("ascii")  # ascii, or this raises
    _no_traceback(err)
    assert r.returncode == 0, err
    assert "\\u03c4" in out and "[PASS] convolution/commutativity" in out


def test_ctrl_c_is_one_line_and_exit_130(capsys):
    def interrupted() -> int:
        raise KeyboardInterrupt

    assert console.run_guarded(interrupted, prog="python -m spec") == 130
    assert capsys.readouterr().err == "python -m spec: interrupted\n"


def test_other_errors_are_not_swallowed():
    """Only the stream failures become statuses: a bug still shows its traceback."""
    def bug() -> int:
        raise OSError(13, "Permission denied")  # not a failed write of the output

    with pytest.raises(OSError):
        console.run_guarded(bug)
    with pytest.raises(ZeroDivisionError):
        console.run_guarded(lambda: 1 // 0)


def test_verify_help_states_the_exit_statuses(capsys):
    from spec.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("0 every item passed", "1 an item failed", "2 a bad argument", "130 Ctrl-C",
                  "141 the reader"):
        assert words in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("env, coloured", [({}, True), ({"NO_COLOR": "1"}, False),
                                           ({"TERM": "dumb"}, False)])
def test_verify_colours_only_a_terminal_that_wants_colour(env, coloured, monkeypatch):
    import argparse

    import spec.report as R

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = _Terminal()
    args = argparse.Namespace(json=False, only=["rules/relu"], list=False, quiet=True)
    assert R.main(args, out=out) == 0
    assert ("\x1b[" in out.getvalue()) == coloured


def test_list_with_only_lists_the_selection(capsys):
    """--list ignored --only (it listed all 51 items); an unknown name is refused, exit 2."""
    from spec.__main__ import main

    assert main(["--list", "--only", "rules", "--only", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "parameters (1 item)" and "  lenet5" in out
    assert "rules (6 items)" in out and "convolution" not in out
    assert main(["--list", "--json", "--only", "nope"]) == 2
    assert "unknown topic or item 'nope'" in capsys.readouterr().err
