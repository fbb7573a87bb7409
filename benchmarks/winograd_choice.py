"""Measure the choice between im2col and Winograd that ``F.conv2d`` makes by shape.

Usage::

    python benchmarks/winograd_choice.py [--rounds 5] [--threads 1] [SHAPE ...]

A SHAPE is ``N,C,O,S``: batch, input channels, output channels, image size (3x3 kernel,
padding 1). For each shape one forward+backward is timed with the direct path (im2col),
Winograd F(2x2, 3x3), Winograd F(4x4, 3x3) and PyTorch, interleaved round by round; the
table gives the median per call and the ratio to PyTorch, and what ``winograd.choose``
picks. The defaults are the convolutions of the benchmarks and their neighbours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

DEFAULT_SHAPES = ["64,32,64,14", "64,16,32,14", "64,8,16,14", "64,8,16,28", "64,16,16,28",
                  "64,64,64,7", "64,32,64,4", "64,4,8,28", "4,32,32,28", "1,64,64,56"]


def _time_shape(n: int, c: int, o: int, s: int, rounds: int, rng) -> dict[str, float]:
    """Median seconds per forward+backward of each algorithm and of PyTorch."""
    import numpy as np
    import torch

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor, winograd

    x = rng.standard_normal((n, c, s, s)).astype(np.float32)
    w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    g = rng.standard_normal((n, o, s, s)).astype(np.float32)
    tx, tw, tg = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(g)

    def engine(m: int | None) -> None:
        xe, we = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        if m is None:
            with winograd.algorithm("direct"):
                y = F.conv2d(xe, we, padding=1)
        else:
            y = winograd.conv2d_3x3(xe, we, None, ((1, 1), (1, 1)), m=m)
        y.backward(g)

    def reference() -> None:
        xt, wt = tx.clone().requires_grad_(True), tw.clone().requires_grad_(True)
        torch.nn.functional.conv2d(xt, wt, padding=1).backward(tg)

    runs = {"im2col": lambda: engine(None), "F2": lambda: engine(2), "F4": lambda: engine(4),
            "torch": reference}
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():
        fn()
    for _ in range(rounds):
        for name, fn in runs.items():
            start, calls = time.perf_counter(), 0
            while time.perf_counter() - start < 0.05:
                fn()
                calls += 1
            samples[name].append((time.perf_counter() - start) / calls)
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shapes", nargs="*", default=DEFAULT_SHAPES)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before NumPy is imported below
    import numpy as np
    import torch

    from tinygrad_cnn import winograd

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s), OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, median of {args.rounds} "
          f"interleaved rounds, forward+backward\n")
    print("| N, C -> O, size | im2col | F(2x2, 3x3) | F(4x4, 3x3) | PyTorch | auto picks |")
    print("|---|---:|---:|---:|---:|---|")
    for text in args.shapes:
        n, c, o, s = (int(v) for v in text.split(","))
        med = _time_shape(n, c, o, s, args.rounds, rng)
        cells = [f"{med[k] * 1e3:.2f} ms ({med[k] / med['torch']:.2f}x)"
                 for k in ("im2col", "F2", "F4")]
        m = winograd.choose((n, c, s, s), (o, c, 3, 3), (1, 1), (1, 1), 1, np.float32)
        pick = "im2col" if m is None else f"F({m}x{m}, 3x3)"
        print(f"| {n}, {c} -> {o}, {s}x{s} | " + " | ".join(cells)
              + f" | {med['torch'] * 1e3:.2f} ms | {pick} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
