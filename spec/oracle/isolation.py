"""Running a candidate in a child process, with a time limit and a memory limit.

One long-lived child process per candidate runs call after call; the checker, the engine
and the comparisons stay in the oracle's own process, and only the candidate's calls cross
over: the arrays go to the child, the candidate's result comes back as plain data (arrays
as bytes, never a pickled object of the candidate's making), so nothing the candidate
does in its process can change a verdict.

What happens when a call goes wrong:

- the candidate raises: the exception's type, message and place come back, the child
  lives on (``KeyboardInterrupt`` and ``SystemExit`` included);
- it does not return within the time limit: the oracle kills the child (and anything it
  started) with ``SIGKILL``; that function is not called again (each further call would
  cost the whole limit), the other one (forward or backward) goes on in a fresh child;
- the child ends (``os._exit``, a signal such as a segmentation fault, the connection to
  the oracle closed) or closes its standard output or error: the call fails with that
  reason and a fresh child runs the next call, at most :data:`MAX_RESTARTS` times;
- it allocates past the memory limit (``RLIMIT_AS``: the child's size when it starts plus
  ``memory_mib``): the allocation fails with ``MemoryError``, reported as such.

A child that dies while importing the candidate's module (the command line imports it in
the child) fails every case with that reason. What the candidate prints goes to the
standard error, so the oracle's standard output holds only its report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import gc
import importlib
import io
import math
import multiprocessing
import os
import pickle
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np

#: Failure categories that come from the process rather than from a returned value: a case
#: failing this way is shown where it happened, never shrunk.
ISOLATION_CATEGORIES = ("timeout", "process", "memory")

#: The default memory limit of the child, in MiB above its size at start.
DEFAULT_MEMORY_MIB = 4096

#: After this many restarts of a child that died, further calls are not made.
MAX_RESTARTS = 20

#: Longest time limit accepted, in seconds (one day).
MAX_TIMEOUT = 86_400.0

#: Smallest memory limit accepted, in MiB.
MIN_MEMORY_MIB = 64

_MAX_REPLY = 256 * 2**20  # bytes of one reply; a larger one is a failure of the candidate
_MAX_ARRAY = 64 * 2**20  # an array returned larger than this comes back as its shape only
_MAX_TEXT = 2000


class CandidateError(Exception):
    """A call of a candidate that failed, already explained: ``message`` (what the report
    shows) and ``category`` (``raised``, ``not-implemented``, ``timeout``, ``process`` or
    ``memory``). The checker records it as the candidate's problem on that case."""

    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


class LoadError(Exception):
    """The candidate could not be loaded (no such module or function, an exception while
    importing it, a bad style): a bad argument, not a failure of the candidate."""


class OracleError(RuntimeError):
    """The oracle's own machinery failed (never reported as the candidate's failure)."""


# ---------------------------------------------------------------------- candidate text


def printable(text: str, newlines: bool = False) -> str:
    """``text`` from a candidate (an exception's message, a name) safe to print and to
    encode: control characters (terminal escapes included) and lone surrogates (which no
    encoder takes: printing one ended the oracle with UnicodeEncodeError) are shown as
    escapes; so are line breaks unless ``newlines``, so that a message stays on its line
    and cannot add lines such as a fake ``RESULT: PASS`` to a report."""
    out = []
    for ch in text:
        o = ord(ch)
        if (newlines and ch == "\n") or ch == "\t":
            out.append(ch)
        elif o < 32 or 127 <= o < 160 or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\x{o:02x}" if o < 256 else f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


# ------------------------------------------------------------------------ validation


def validate_limits(seed: Any = 0, timeout: Any = None, memory_mib: Any = None) -> None:
    """Refuse a bad ``seed`` (an int >= 0), ``timeout`` (None or seconds in [0, 86400]) or
    ``memory_mib`` (None or at least 64) with a ``TypeError`` / ``ValueError`` naming it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an integer >= 0, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed}")
    for name, value, lo, hi, what in (
            ("timeout", timeout, 0.0, MAX_TIMEOUT, "seconds, or None for no limit"),
            ("memory_mib", memory_mib, MIN_MEMORY_MIB, math.inf, "MiB, or None for no limit")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                              np.floating)):
            raise TypeError(f"{name}: expected a number of {what}, got "
                            f"{type(value).__name__} {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            bound = f"between {lo:g} and {hi:g}" if math.isfinite(hi) else f"at least {lo:g}"
            raise ValueError(f"{name}: expected a finite number of {what} {bound}, "
                             f"got {value}")


def can_fork() -> bool:
    """Whether this platform can start a child process by forking (POSIX)."""
    return "fork" in multiprocessing.get_all_start_methods()


# --------------------------------------------------------------------- loading candidates


def load(target: str, paths: Sequence[str] | None = None) -> Callable[..., Any]:
    """Import ``module:function`` (dots allowed in both parts); ``LoadError`` otherwise."""
    if target.count(":") != 1:
        raise LoadError(f"expected MODULE:FUNCTION (e.g. mypkg.conv:conv2d), got {target!r}")
    module_name, attr = target.split(":")
    if not module_name or not attr:
        raise LoadError(f"expected MODULE:FUNCTION (e.g. mypkg.conv:conv2d), got {target!r}")
    for p in reversed(list(paths or [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise LoadError(f"cannot import module {module_name!r}: {exc} (is its directory on "
                        "the path? use --path DIR)") from None
    except Exception as exc:  # noqa: BLE001 - a broken module is reported, not raised
        raise LoadError(f"importing module {module_name!r} failed: "
                        f"{type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise LoadError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise LoadError(f"{target!r} is not callable (it is a {type(obj).__name__})")
    return obj


@dataclasses.dataclass
class FromObjects:
    """Candidate callables already adapted in the oracle's process (a forked child
    inherits them)."""

    adapted: Any

    def load(self) -> Any:
        return self.adapted


@dataclasses.dataclass
class FromModules:
    """Candidate named as ``module:function``, imported and adapted in the child (so that
    whatever the module does at import happens there)."""

    op: str
    target: str
    backward_target: str | None = None
    paths: Sequence[str] = ()
    style: str = "arrays"
    layout: str = "NCHW"
    grads: Any = None

    def adapter_arguments(self) -> tuple[str, bool, str, str, Any]:
        """``(op, has a backward, style, layout, grads)``: see :func:`parent_adapter`."""
        return (self.op, self.backward_target is not None, self.style, self.layout,
                self.grads)

    def load(self) -> Any:
        forward = load(self.target, self.paths)
        backward = load(self.backward_target, self.paths) if self.backward_target else None
        from .adapters import adapt

        try:
            return adapt(self.op, forward, backward, style=self.style, layout=self.layout,
                         grads=self.grads)
        except (ValueError, TypeError) as exc:
            raise LoadError(str(exc)) from None


def _placeholder_callable(*args: Any, **kwargs: Any) -> Any:
    raise OracleError("the oracle's placeholder for the candidate was called")


def parent_adapter(source: Any) -> Any:
    """The adapter of ``source`` as built in the oracle's own process, with placeholders for
    the candidate's callables (None for a source that cannot say how it is adapted).

    What a style can express and whether the candidate has a backward depend on the op, the
    style, the layout and the names given, never on the candidate's code; so they are
    decided here, not asked of the child, where the candidate's module may have changed the
    oracle's own modules (e.g. ``spec.oracle.adapters.adapt``) to skip the cases it fails or
    to hide its backward.
    """
    if isinstance(source, FromObjects):
        return source.adapted
    describe = getattr(source, "adapter_arguments", None)
    if describe is None:
        return None
    op, has_backward, style, layout, grads = describe()
    from .adapters import adapt

    try:
        return adapt(op, _placeholder_callable,
                     _placeholder_callable if has_backward else None,
                     style=style, layout=layout, grads=grads)
    except (ValueError, TypeError) as exc:
        raise LoadError(str(exc)) from None


# ------------------------------------------------------------ results as plain data


def _placeholder(type_name: str) -> Any:
    """An object whose type has the candidate's type name (what the checker reports)."""
    name = type_name if type_name.isidentifier() else "object"
    return type(name, (), {"__repr__": lambda self: f"<{name} object>"})()


def encode(value: Any, depth: int = 0) -> Any:
    """A candidate's return value as tuples of str, int, float, bytes and None only."""
    if value is None:
        return ("none",)
    if type(value) in (bool, int, float, complex):
        return ("py", value)
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        generic = isinstance(value, np.generic)
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufc":
            return ("object-array", tuple(int(s) for s in arr.shape))
        shape = tuple(int(s) for s in arr.shape)
        if arr.nbytes > _MAX_ARRAY:
            return ("big-array", arr.dtype.str, shape)
        data = np.ascontiguousarray(arr).tobytes()
        return ("array", arr.dtype.str, shape, data, generic)
    if isinstance(value, (tuple, list)) and depth < 3 and len(value) <= 64:
        kind = "tuple" if isinstance(value, tuple) else "list"
        return (kind, tuple(encode(v, depth + 1) for v in value))
    if isinstance(value, float):
        return ("py", float(value))
    return ("object", type(value).__name__[:80])


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`, from data the oracle checked itself."""
    kind = data[0]
    if kind == "none":
        return None
    if kind == "py" and type(data[1]) in (bool, int, float, complex):
        return data[1]
    if kind == "object-array":  # a read-only view: no memory, whatever the shape
        return np.broadcast_to(np.array(None, dtype=object), _shape(data[1]))
    if kind in ("array", "big-array"):
        dtype = np.dtype(str(data[1]))
        if dtype.kind not in "biufc" or dtype.hasobject:
            raise ValueError("bad dtype")
        shape = _shape(data[2])
        if kind == "big-array":
            return np.broadcast_to(np.zeros((), dtype), shape)
        raw = data[3]
        if not isinstance(raw, bytes) or len(raw) != dtype.itemsize * math.prod(shape):
            raise ValueError("bad array data")
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return arr[()] if data[4] else arr
    if kind in ("tuple", "list"):
        items = [decode(v) for v in data[1]]
        return tuple(items) if kind == "tuple" else items
    if kind == "object":
        return _placeholder(str(data[1]))
    raise ValueError(f"unknown kind {kind!r}")


def _shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or len(shape) > 32 or not all(
            type(s) is int and 0 <= s < 2**40 for s in shape):
        raise ValueError("bad shape")
    return shape


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only plain data: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def _plain_loads(data: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(data)).load()


# ------------------------------------------------------------------------- the child


_OURS = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
         os.path.dirname(os.path.abspath(multiprocessing.__file__)) + os.sep)
_LIBRARIES = (os.path.dirname(os.path.abspath(np.__file__)) + os.sep,
              os.path.dirname(os.path.abspath(os.__file__)) + os.sep)


def _describe(exc: BaseException) -> str:
    """``raised Type: message (at file:line)``, as the in-process checker words it, at the
    innermost line of the candidate's own code (not NumPy's, the standard library's or the
    oracle's) when there is one."""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not os.path.abspath(f.filename).startswith(_OURS)]
        own = [f for f in frames if not os.path.abspath(f.filename).startswith(_LIBRARIES)]
        frame = (own or frames or [None])[-1]
        where = f" (at {frame.filename}:{frame.lineno})" if frame is not None else ""
    except Exception:  # noqa: BLE001
        where = ""
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - the candidate's own __str__ may misbehave
        text = "(its message could not be read)"
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    return printable(f"raised {type(exc).__name__}{': ' + text if text else ''}{where}")


def _vm_bytes() -> int | None:
    """This process's address-space size (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _limit_memory(memory_mib: float | None) -> str:
    """Apply the memory limit in the child; a note for the report."""
    try:
        import resource
    except ImportError:
        return "no memory limit (this platform has no resource limits)"
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core files from a crash
    if memory_mib is None:
        return "no memory limit"
    size = _vm_bytes()
    limit = int(memory_mib * 2**20) + (size or 0)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError) as exc:
        return f"memory limit not applied ({exc})"
    what = "above its size at start" if size is not None else "in all"
    return f"memory limit {memory_mib:g} MiB {what}"


def _stdio_ids() -> dict[int, tuple[int, int] | None]:
    ids: dict[int, tuple[int, int] | None] = {}
    for fd in (1, 2):
        try:
            st = os.fstat(fd)
            ids[fd] = (st.st_dev, st.st_ino)
        except OSError:
            ids[fd] = None
    return ids


def _stdio_broken(baseline: dict[int, tuple[int, int] | None]) -> str | None:
    """What the call did to the standard streams, if it closed or replaced them."""
    try:
        for fd, name, stream in ((1, "standard output", sys.stdout),
                                 (2, "standard error", sys.stderr)):
            if stream is None or stream.closed:
                return f"closed the {name} (sys.{'stdout' if fd == 1 else 'stderr'})"
            if _stdio_ids()[fd] != baseline[fd]:
                return f"closed or replaced the {name} (file descriptor {fd})"
    except BaseException:  # noqa: BLE001 - a replaced stream that misbehaves
        return "replaced the standard streams with something unusable"
    return None


def _call_in_child(loaded: Any, which: str, args: Any, kwargs: Any, memory_note: str
                   ) -> tuple:
    fn = loaded.forward if which == "forward" else loaded.backward
    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            out = fn(*args, **kwargs)
        encoded = encode(out)
        return ("ok", encoded, time.perf_counter() - start)
    except NotImplementedError as exc:
        return ("error", "not-implemented", _describe(exc), time.perf_counter() - start)
    except MemoryError as exc:
        return ("error", "memory", f"{_describe(exc)} ({memory_note})",
                time.perf_counter() - start)
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included
        return ("error", "raised", _describe(exc), time.perf_counter() - start)


def _redirect_output(path: str, limit: int | None) -> None:
    """Send the child's standard output and error to ``path``, at most ``limit`` bytes
    (``RLIMIT_FSIZE``: past it, the write ends the child with ``SIGXFSZ``)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    if limit is not None:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _child_main(conn: Any, source: Any, memory_mib: float | None, first: bool = True,
                output: str | None = None, output_limit: int | None = None) -> None:
    """The child: set limits, load the candidate, then answer requests until told to stop
    (or the connection closes)."""
    if output is not None:
        _redirect_output(output, output_limit)
    with contextlib.suppress(AttributeError, OSError):
        os.setpgrp()  # its own process group, so the oracle can kill what it starts
    if sys.platform.startswith("linux"):  # and it dies with the oracle, even on SIGKILL
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the user's Ctrl-C is the oracle's
    gc.freeze()  # the collector leaves the inherited objects alone: fewer pages copied
    memory_note = _limit_memory(memory_mib)
    with contextlib.suppress(OSError):  # what the candidate prints goes to stderr
        os.dup2(2, 1)
        # and Python's streams write to those descriptors, whatever they were before
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True,
                                      errors="backslashreplace")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True,
                                      errors="backslashreplace")
    with contextlib.suppress(Exception):  # the first crash prints where it happened
        if first:
            faulthandler.enable(file=2)
        else:
            faulthandler.disable()
    baseline = _stdio_ids()
    from .checker import forget_results  # (a cycle at import time)

    forget_results()  # this process is a copy: what earlier checks computed goes
    try:
        loaded = source.load()
    except LoadError as exc:
        conn.send_bytes(pickle.dumps((0, "load-error", str(exc))))
        return
    except BaseException as exc:  # noqa: BLE001 - SystemExit / KeyboardInterrupt at import
        conn.send_bytes(pickle.dumps((0, "import-died", f"importing it {_describe(exc)}")))
        return
    conn.send_bytes(pickle.dumps((0, "ready", memory_note, loaded.backward is not None)))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        seq, kind = request[0], request[1]
        if kind == "quit":
            return
        if kind == "scope":
            try:
                reply: tuple = ("ok", [loaded.out_of_scope(case) for case in request[2]])
            except Exception:  # noqa: BLE001 - the adapter's own bug, not the candidate's
                reply = ("oracle-error", traceback.format_exc(limit=5))
            conn.send_bytes(pickle.dumps((seq, *reply)))
            continue
        reply = _call_in_child(loaded, request[2], request[3], request[4], memory_note)
        broken = _stdio_broken(baseline)
        if broken is not None:
            reply = ("error", "process", f"{broken} of the process running it, which code "
                     "under test must not do", 0.0, True)
        try:
            data = pickle.dumps((seq, *reply))
        except Exception as exc:  # noqa: BLE001 - e.g. a message that cannot be pickled
            data = pickle.dumps((seq, "error", "raised", f"its result could not be sent "
                                 f"back: {type(exc).__name__}", 0.0))
        conn.send_bytes(data)
        if broken is not None:
            return


# ------------------------------------------------------------------------ the runners


_SIGNAL_NOTES = {
    "SIGSEGV": "a segmentation fault: it read or wrote memory it does not own",
    "SIGBUS": "a bus error: a bad memory access",
    "SIGABRT": "abort(): a failed assertion or allocation in compiled code",
    "SIGFPE": "a floating-point exception in compiled code",
    "SIGKILL": "killed from outside, e.g. by the system's out-of-memory killer",
    "SIGILL": "an illegal instruction",
    "SIGXFSZ": "it wrote more output than the limit allows",
}


def death_reason(exitcode: int | None) -> str:
    """Why a child ended, in words, from its exit code."""
    if exitcode is None:
        return "the process running it stopped answering"
    if exitcode >= 0:
        return (f"the process running it exited with status {exitcode} (os._exit, or exit() "
                "in compiled code)")
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    note = _SIGNAL_NOTES.get(name)
    return (f"the process running it was killed by signal {-exitcode} ({name}"
            f"{': ' + note if note else ''})")


def _wait_exit(proc: Any, timeout: float) -> None:
    """Wait until the child has ended (and is reaped), at most ``timeout`` seconds.

    ``Process.join`` waits for its sentinel pipe, which a process the candidate started and
    left running holds open too: each stop then took the whole timeout (5.5 s a check)."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ValueError, AssertionError):
        while proc.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)


class InProcessRunner:
    """Calls the candidate in the oracle's own process (``isolate=False``, or a platform
    that cannot fork): a ``SIGALRM`` time limit in the main thread, no memory limit, and
    no protection against a candidate that exits or crashes."""

    isolated = False

    def __init__(self, adapted: Any, timeout: float | None, note: str = "") -> None:
        self.adapted = adapted
        self.timeout = timeout
        self.note = note
        self.calls = 0
        self.starts = 0
        self._limit: contextlib.AbstractContextManager[None] | None = None

    def __enter__(self) -> InProcessRunner:
        from .checker import time_limit

        self._limit = time_limit(self.timeout)
        self._limit.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._limit is not None:
            self._limit.__exit__(*exc)

    @property
    def description(self) -> str:
        limit = f"{self.timeout:g} s per call (SIGALRM)" if self.timeout else "no time limit"
        why = self.note or "isolate=False"
        return f"none ({why}): the candidate runs in the oracle's process; {limit}"

    def _wrap(self, fn: Callable[..., Any] | None) -> Callable[..., Any] | None:
        if fn is None:
            return None

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                return fn(*args, **kwargs)
            except NotImplementedError as exc:
                raise CandidateError(_describe(exc), "not-implemented") from None

        return call

    @property
    def forward(self) -> Callable[..., Any]:
        fn = self._wrap(self.adapted.forward)
        assert fn is not None
        return fn

    @property
    def backward(self) -> Callable[..., Any] | None:
        return self._wrap(self.adapted.backward)

    def out_of_scope(self, case: Any) -> str | None:
        return self.adapted.out_of_scope(case)


class ChildRunner:
    """Runs a candidate in a long-lived child process (see the module docstring).

    Parameters
    ----------
    source : FromObjects or FromModules
        What the child calls: adapted callables (inherited by a forked child) or
        ``module:function`` names the child imports and adapts.
    timeout : float or None
        Seconds one call may take before the oracle kills the child (None or 0: no limit).
    memory_mib : float or None
        The child's memory limit, in MiB above its size at start (None: no limit).
    start_method : str, optional
        ``"fork"`` (the default where available) or ``"spawn"`` (``FromModules`` only).
    output : str, optional
        A file that receives what the candidate prints (both streams), instead of the
        oracle's standard error.
    output_limit : int, optional
        With ``output``: the most bytes the child may write to any file; a write past it
        ends the child (``SIGXFSZ``), which fails the call it was running.
    """

    isolated = True

    def __init__(self, source: Any, timeout: float | None = 10.0,
                 memory_mib: float | None = DEFAULT_MEMORY_MIB,
                 start_method: str | None = None, output: str | None = None,
                 output_limit: int | None = None) -> None:
        if start_method is None:
            start_method = "fork" if can_fork() else "spawn"
        if start_method != "fork" and isinstance(source, FromObjects):
            raise ValueError("callables can only be isolated in a forked child; this "
                             "platform cannot fork")
        self.source = source
        self.output, self.output_limit = output, output_limit
        self.timeout = timeout or None
        self.memory_mib = memory_mib
        self.start_method = start_method
        self._context = multiprocessing.get_context(start_method)
        self._proc: Any = None
        self._conn: Any = None
        self._seq = 0
        self._hung: set[str] = set()
        self._dead: str | None = None  # a reason: no further calls are made
        self.has_backward = isinstance(source, FromObjects) and \
            source.adapted.backward is not None or \
            isinstance(source, FromModules) and source.backward_target is not None
        self.memory_note = ""
        self.starts = 0
        self.restarts = 0
        self.calls = 0
        self.start_seconds = 0.0
        self.overhead_seconds = 0.0  # time of the calls not spent inside the candidate

    # -- lifetime

    def __enter__(self) -> ChildRunner:
        self._start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _start(self) -> None:
        start = time.perf_counter()
        parent_end, child_end = self._context.Pipe(duplex=True)
        proc = self._context.Process(target=_child_main,
                                     args=(child_end, self.source, self.memory_mib,
                                           self.starts == 0, self.output,
                                           self.output_limit),
                                     name="spec.oracle candidate", daemon=True)
        config = getattr(multiprocessing.current_process(), "_config", {})
        daemon = config.pop("daemon", None)  # a Pool worker is a daemon, which multiprocessing
        with warnings.catch_warnings():  # forbids to start processes; ours die with it
            warnings.filterwarnings("ignore", category=DeprecationWarning,
                                    message=".*fork.*")  # (Python 3.12+: fork + threads)
            try:
                proc.start()
            finally:
                if daemon is not None:
                    config["daemon"] = daemon
        child_end.close()
        self._proc, self._conn = proc, parent_end
        self.starts += 1
        try:
            reply = self._receive(0, self.timeout, "importing the candidate's module")
        except CandidateError as exc:
            self._dead = exc.message
            self._stop()
            return
        finally:
            self.start_seconds += time.perf_counter() - start
        kind = reply[1]
        if kind == "load-error":
            self._stop()
            raise LoadError(printable(str(reply[2])))
        if kind == "import-died":
            self._dead = printable(str(reply[2]))
            self._stop()
            return
        if kind != "ready" or len(reply) < 4:  # only a candidate writing into the pipe
            self._dead = "the process running it sent an unreadable reply while starting"
            self._stop()
            return
        self.memory_note = str(reply[2])
        reference = self._reference()
        # whether there is a backward to check is the oracle's decision, not the child's
        self.has_backward = bool(reply[3]) if reference is None else \
            reference.backward is not None

    def _reference(self) -> Any:
        if not hasattr(self, "_parent_adapter"):
            self._parent_adapter = parent_adapter(self.source)
        return self._parent_adapter

    def _stop(self) -> None:
        """End the child and everything it started."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            conn.close()
        if proc.pid is not None and hasattr(os, "killpg"):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            proc.kill()
        _wait_exit(proc, 5)
        with contextlib.suppress(ValueError):
            proc.close()

    def close(self) -> None:
        """Ask the child to finish (so what it printed is flushed), then make sure."""
        if self._proc is not None and self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send((-1, "quit"))
                _wait_exit(self._proc, 0.5)
        self._stop()

    # -- calls

    def _receive(self, seq: int, timeout: float | None, doing: str) -> tuple:
        """The reply to request ``seq``; a ``CandidateError`` when the child dies, times
        out or sends something unreadable (the child is stopped then)."""
        proc, conn = self._proc, self._conn
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([conn, proc.sentinel], 0.25 if remaining is None else
                         min(remaining, 0.25))
            if not ready and (remaining is None or remaining > 0.25):
                if proc.is_alive():  # (a process it forked may hold the sentinel open)
                    continue
                ready = [proc.sentinel]
            if conn in ready:
                try:
                    data = conn.recv_bytes(_MAX_REPLY)
                    reply = _plain_loads(data)
                except (EOFError, OSError) as exc:
                    _wait_exit(proc, 1)
                    reason = death_reason(proc.exitcode) if proc.exitcode is not None else \
                        ("the connection to the process running it broke (" +
                         (str(exc) or type(exc).__name__) + ")")
                    self._stop()
                    raise CandidateError(f"{reason} while {doing}", "process") from None
                except Exception as exc:  # noqa: BLE001 - an unreadable reply
                    self._stop()
                    raise CandidateError(f"the process running it sent an unreadable reply "
                                         f"while {doing} ({type(exc).__name__})",
                                         "process") from None
                if isinstance(reply, tuple) and len(reply) >= 2 and reply[0] == seq:
                    return reply
                continue  # a stale or stray message
            if proc.sentinel in ready:
                _wait_exit(proc, 1)
                reason = death_reason(proc.exitcode)
                self._stop()
                raise CandidateError(f"{reason} while {doing}", "process")
            self._stop()
            raise CandidateError(
                f"did not return within {timeout:g} s: the oracle stopped the process "
                f"running it while {doing} (an endless loop? the limit is check(..., "
                "timeout=...), --timeout on the command line)", "timeout")

    def call(self, which: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Call the candidate's ``which`` ("forward" or "backward") in the child."""
        self.calls += 1
        if which in self._hung:
            raise CandidateError(f"not run: it did not return within {self.timeout:g} s "
                                 "on an earlier case", "timeout")
        self._ensure_running()
        if self._dead is not None:
            raise CandidateError(f"not run: {self._dead}", "process")
        start = time.perf_counter()
        self._seq += 1
        try:
            self._conn.send((self._seq, "call", which, args, kwargs))
        except (OSError, ValueError):
            pass  # it died: the wait below says how
        doing = f"running its {which}"
        try:
            reply = self._receive(self._seq, self.timeout, doing)
        except CandidateError as exc:
            if exc.category == "timeout":
                self._hung.add(which)
            raise
        finally:
            elapsed = time.perf_counter() - start
        kind = reply[1]
        try:
            if kind == "ok":
                self.overhead_seconds += max(0.0, elapsed - float(reply[3]))
                return decode(reply[2])
            if kind == "error":
                self.overhead_seconds += max(0.0, elapsed - float(reply[4]))
                category, message = str(reply[2]), printable(str(reply[3]))
                if category not in ("raised", "not-implemented", "memory", "process"):
                    category = "raised"
                if len(reply) > 5 and reply[5]:  # the child stops after this reply
                    self._stop()
                raise CandidateError(message, category)
        except (ValueError, TypeError, IndexError):
            pass
        self._stop()
        raise CandidateError(f"the process running it sent an unreadable reply while "
                             f"{doing}", "process")

    def _ensure_running(self) -> None:
        """Start a fresh child after one ended, up to :data:`MAX_RESTARTS` times."""
        if self._dead is None and self._proc is None:
            if self.restarts >= MAX_RESTARTS:
                self._dead = (f"the process running it ended {self.restarts + 1} times; "
                              "no further calls are made")
            else:
                self.restarts += 1
                self._start()

    def _proxy(self, which: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.call(which, args, kwargs)

        call.__qualname__ = call.__name__ = f"isolated_{which}"
        return call

    @property
    def forward(self) -> Callable[..., Any]:
        return self._proxy("forward")

    @property
    def backward(self) -> Callable[..., Any] | None:
        return self._proxy("backward") if self.has_backward else None

    def out_of_scope(self, case: Any) -> str | None:
        """Why the adapter cannot express ``case``: what the style cannot express is decided
        in the oracle's process (see :func:`parent_adapter`); a case the style can express
        may still be out of the candidate's own scope (what depends on its code, e.g. a
        signature without a later option), which only the child, where the candidate is
        loaded, can tell. Like a ``NotImplementedError``, that can only take cases out, and
        ``strict`` counts them as failures."""
        reference = self._reference()
        if reference is not None:
            reason = reference.out_of_scope(case)
            if reason is not None or isinstance(self.source, FromObjects):
                return reason
        self._ensure_running()
        if self._dead is not None:
            return None
        self._seq += 1
        self._conn.send((self._seq, "scope", [case]))
        try:
            reply = self._receive(self._seq, self.timeout, "checking the scope of a case")
        except CandidateError:
            return None
        if reply[1] == "oracle-error":
            raise OracleError(f"the adapter's out_of_scope failed:\n{reply[2]}")
        reason = reply[2][0] if isinstance(reply[2], list) and reply[2] else None
        return printable(reason) if isinstance(reason, str) else None

    @property
    def description(self) -> str:
        limit = (f"the oracle kills it after {self.timeout:g} s per call" if self.timeout
                 else "no time limit")
        where = ("the module is imported in a child process" if
                 isinstance(self.source, FromModules) else "each call runs in a child process")
        note = self.memory_note or (f"memory limit {self.memory_mib:g} MiB"
                                    if self.memory_mib else "no memory limit")
        return f"{where} ({self.start_method}); {limit}; {note}"
