"""Where a benchmark workload spends its time, per primitive of the derivative table.

Usage::

    python benchmarks/profile_primitives.py conv_fwdbwd_32_64 [calls] [--threads 1]

Wraps every ``forward`` / ``vjp`` of :data:`tinygrad_cnn.primitives.TABLE` with a timer,
runs the engine side of the workload ``calls`` times (after one warm-up) and prints the
total per call and the time of each primitive by input shape, largest first. For the
Python-level view use ``python -m pyinstrument benchmarks/profile_primitives.py ...``.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="a name from `python benchmarks/run.py --list`")
    parser.add_argument("calls", nargs="?", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=20, help="rows to print (default 20)")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before NumPy is imported below
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # this checkout's engine
    import run  # noqa: E402 - the workloads, after the thread settings

    import tinygrad_cnn.primitives as P

    spent: dict[tuple[str, tuple[int, ...]], float] = collections.defaultdict(float)
    for name, cls in P.TABLE.items():
        for method in ("forward", "vjp"):
            original = getattr(cls, method)

            def timed(self, *xs, _f=original, _key=f"{name}.{method}", **kw):
                start = time.perf_counter()
                out = _f(self, *xs, **kw)
                first = xs[0] if _key.endswith("forward") else xs[2]
                spent[(_key, getattr(first, "shape", ()))] += time.perf_counter() - start
                return out

            setattr(cls, method, timed)
    workloads = {w.name: w for w in run.WORKLOADS}
    if args.workload not in workloads:
        print(f"unknown workload {args.workload!r}; see run.py --list", file=sys.stderr)
        return 2
    engine, _ = workloads[args.workload].setup()
    engine()
    spent.clear()
    start = time.perf_counter()
    for _ in range(args.calls):
        engine()
    total = (time.perf_counter() - start) / args.calls
    print(f"{args.workload}: {total * 1e3:.3f} ms per call ({args.threads} thread(s)); "
          f"primitives {sum(spent.values()) / args.calls * 1e3:.3f} ms")
    for (key, shape), seconds in sorted(spent.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {key:16s} {str(shape):32s} {seconds / args.calls * 1e3:8.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
