"""Hostile relu candidates (arrays style). Each is correct on its values unless noted."""
import os
import sys

import numpy as np


def _relu(x):
    return np.maximum(x, 0)


def _relu_grad(x, grad_out):
    return grad_out * (x > 0)


def prints_megabytes(x):
    sys.stdout.write("y" * 3_000_000 + "\n")
    print("z" * 3_000_000, file=sys.stderr)
    return _relu(x)


def changes_directory(x):
    os.chdir("/")
    return _relu(x)


def patches_numpy(x):
    np.allclose = lambda *a, **k: True
    np.array_equal = lambda *a, **k: True
    np.testing.assert_allclose = lambda *a, **k: None
    np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)
    return np.zeros_like(x)                    # wrong


class Liar(np.ndarray):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __sub__(self, other):
        return np.zeros_like(np.asarray(other))

    def __rsub__(self, other):
        return np.zeros_like(np.asarray(other))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return True


def lying_subclass(x):
    return np.zeros_like(x).view(Liar)         # wrong values behind a lying __eq__


def object_array(x):
    return _relu(x).astype(object)             # right values, but Python objects


def float32_result(x):
    return _relu(x).astype(np.float32)


def int_result(x):
    return _relu(x).astype(np.int64)           # truncates


def complex_result(x):
    return _relu(x).astype(np.complex128)


def bool_result(x):
    return x > 0


def reads_the_stack(x):
    """Look for the expected output in the frames and objects of its process."""
    import gc
    f = sys._getframe()
    while f is not None:
        for name, v in f.f_locals.items():
            if name in ("expected", "reference", "want", "ref") and isinstance(v, np.ndarray):
                return v
        f = f.f_back
    import warnings

    for obj in gc.get_objects():
        try:
            with warnings.catch_warnings():  # (some modules warn on attribute access)
                warnings.simplefilter("ignore")
                exp = obj.__dict__.get("expected") if hasattr(obj, "__dict__") else None
        except Exception:
            continue
        if isinstance(exp, np.ndarray) and exp.shape == x.shape:
            return exp
    return np.zeros_like(x)


def backward(x, *, grad_out):
    return _relu_grad(x, grad_out)


_SURVIVOR = []


def leaves_a_process_running(x):
    """Once: a grandchild that leaves the process group and outlives the oracle's child."""
    if not _SURVIVOR:
        _SURVIVOR.append(os.fork())
        if _SURVIVOR[0] == 0:
            os.setsid()
            if os.fork() == 0:
                import time

                time.sleep(40)
            os._exit(0)
    return _relu(x)


def copies_an_earlier_report(x):
    """Walks up its frames (a forked child has the caller's stack) to a report of an earlier
    check kept by the caller, and returns that check's expected value (or output) for the
    same input."""
    seen, stack = set(), []
    frame = sys._getframe()
    while frame is not None:
        stack.append(frame.f_locals)
        frame = frame.f_back
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if type(obj).__name__ == "CaseResult":
            arrays = list(obj.case.arrays.values())
            if len(arrays) == 1 and arrays[0].shape == x.shape and np.array_equal(arrays[0], x):
                for found in (obj.expected_output, obj.output):
                    if found is not None:
                        return found
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif type(obj).__module__.startswith("spec.") and hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
    return np.zeros_like(x)
