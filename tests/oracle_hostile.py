"""Hostile candidates for the oracle's isolation tests: each one, called, tries to end,
crash, hang or blind the process it runs in. Never call them outside an isolated check.

Each is a ``relu`` forward (the op with the fewest cases). ``correct_relu`` and
``relu_backward`` are the well-behaved parts they are paired with.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time

import numpy as np


def correct_relu(x):
    return np.maximum(x, 0.0)


def relu_backward(x, grad_out):
    return (grad_out * (x > 0),)


def exit_in_call(x):
    """Ends the process with status 0, as if all had gone well."""
    os._exit(0)


def sys_exit_in_call(x):
    sys.exit(0)


def segfault(x):
    """Reads address 0 from C: a segmentation fault."""
    ctypes.string_at(0)
    return correct_relu(x)


def ignores_alarm(x):
    """Ignores SIGALRM and cancels the interval timer, forever: an in-process timer can
    never stop it."""
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        signal.setitimer(signal.ITIMER_REAL, 0)


def long_c_call(x):
    """Sleeps an hour inside C (libc's sleep): no Python bytecode runs, so no signal
    handler does either."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    libc.sleep(3600)
    return correct_relu(x)


def allocates_50_gib(x):
    """Asks for 50 GiB and touches it."""
    big = np.ones(50 * 2**30 // 8)
    return correct_relu(x) + big[0] - 1.0


def keyboard_interrupt(x):
    raise KeyboardInterrupt


def closes_stdout(x):
    """Closes the standard output (both sys.stdout and file descriptor 1), then answers
    correctly."""
    sys.stdout.close()
    os.close(1)
    return correct_relu(x)


def slow_then_correct(x):
    """Correct, but each call takes 0.05 s (for the time-limit margin)."""
    time.sleep(0.05)
    return correct_relu(x)


def prints_a_pass(x):
    """Prints what a grader might take for the oracle's verdict, then answers wrongly."""
    print("RESULT: PASS (every case passed)")
    return correct_relu(x) + 1.0


def not_implemented_backward(x, grad_out):
    raise NotImplementedError("backward not written yet")
