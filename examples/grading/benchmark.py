"""Time the grading of 100 generated submissions (a benchmark, not a test).

Mixes right, buggy and hostile submissions built from the sample assignment's three
students, grades them with the sample config (a 5 s time limit per call), and prints the
time and the scores. The target is under 3 minutes on 2 cores.

    python examples/grading/benchmark.py            # --jobs N, --count N, --keep DIR
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run from a checkout without installing

from spec.oracle import grade  # noqa: E402

ALICE = (HERE / "submissions" / "alice" / "layers.py").read_text()
CONV = "def conv_forward_naive(x, w, b, conv_param):\n"


def _with(prefix: str) -> str:
    """Alice's file with ``prefix`` run first thing in her conv_forward_naive."""
    return ALICE.replace(CONV, CONV + "".join(f"    {line}\n" for line in prefix.splitlines()))


KINDS = {  # kind: (share of the submissions, source)
    "right": (0.55, ALICE),
    "flipped kernel": (0.1, (HERE / "submissions" / "bob" / "layers.py").read_text()),
    "loss missing 1/N": (0.1, (HERE / "submissions" / "carol" / "layers.py").read_text()),
    "pool gradient to the minimum": (0.1, ALICE.replace(
        "            first = flat.argmax(axis=2)",
        "            first = flat.argmin(axis=2)")),
    "exits at import": (0.03, "import os\nos._exit(0)\n" + ALICE),
    "exits in the call": (0.03, _with("import os\nos._exit(0)")),
    "endless loop": (0.03, _with("while True:\n    pass")),
    "segfault": (0.03, _with("import ctypes\nctypes.string_at(0)")),
    "floods its output": (0.03, _with("print('x' * 10_000_000)")),
}


def generate(root: Path, count: int) -> dict[str, str]:
    """``count`` submission folders under ``root``; returns student -> kind."""
    kinds = {}
    names = [k for k, (share, _) in KINDS.items() for _ in range(max(1, round(share * count)))]
    for i, kind in enumerate((names * count)[:count]):
        student = f"student{i:03d}"
        (root / student).mkdir(parents=True)
        (root / student / "layers.py").write_text(KINDS[kind][1])
        kinds[student] = kind
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=None, help="default: the CPU count")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="write the submissions to DIR (kept) instead of a temp folder")
    args = parser.parse_args(argv)
    config = grade.load_config(HERE / "grade.toml")
    config.timeout = 5.0
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="oracle-bench-"))
    try:
        kinds = generate(root, args.count)
        start = time.perf_counter()
        results = grade.grade(grade.discover(root), config, args.jobs)
        seconds = time.perf_counter() - start
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    scores: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        scores[kinds[r.name]][grade._fmt_points(r.score)] += 1
    print(f"graded {len(results)} submissions x {len(config.checks)} checks in "
          f"{seconds:.1f} s with {args.jobs or grade.cpu_count()} jobs "
          f"({seconds / len(results) * 1000:.0f} ms a submission; target: under 180 s)")
    for kind, counter in scores.items():
        spread = ", ".join(f"{n} x {s}/{grade._fmt_points(config.max_score)}"
                           for s, n in sorted(counter.items(), key=lambda kv: -float(kv[0])))
        print(f"  {kind:<32} {spread}")
    return 0 if seconds < 180 else 1


if __name__ == "__main__":
    sys.exit(main())
