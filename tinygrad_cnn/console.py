"""Run a command-line entry point so that its output streams never end it with a traceback.

What a shell user does to a command's output, and what the command then does:

- ``| head`` (the reader goes away: a broken pipe): stop quietly, exit 141 (128 + SIGPIPE,
  what a shell reports for a command the pipe ended);
- ``>&-`` (standard output closed): the output goes nowhere, the run and its exit status
  are unchanged;
- ``> /dev/full`` (a full disk, an I/O error, here or in a file the command writes): one
  line on standard error, exit 1;
- a terminal or a pipe that cannot encode the text (``PYTHONIOENCODING=ascii``, a Latin-1
  locale): the characters it cannot show are written as ``\\u03c3`` escapes;
- Ctrl-C: ``PROG: interrupted`` on standard error, exit 130 (``train`` saves its checkpoint
  itself first and returns its own status).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

__all__ = ["run_guarded"]

EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130
#: a write that failed for lack of room or a device error (not a bug of the command)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG}


def _prepare_streams() -> None:
    if sys.stdout is None:  # started with standard output closed
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the run
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that refuses
                pass


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so the flush at exit does not fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # not a real file (a test's StringIO)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _stdout_broken() -> bool:
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False


def run_guarded(run: Callable[[], int], prog: str = "tinygrad-cnn") -> int:
    """Call ``run()`` and return its exit status; the stream failures above become statuses.

    Any other exception propagates unchanged.
    """
    _prepare_streams()
    try:
        return run()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        where = f"'{exc.filename}'" if exc.filename else "the output"
        if exc.filename is None or _stdout_broken():
            _silence_stdout()
        print(f"{prog}: error: cannot write {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
