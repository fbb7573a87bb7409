"""``python -m spec``: the same command as ``tinygrad-cnn verify`` (:mod:`spec.command`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tinygrad_cnn.console import run_guarded

from .command import build_parser
from .command import main as run

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the report."""
    args = build_parser().parse_args(argv)
    # a closed or broken stdout, an unencodable character, Ctrl-C: a status, no traceback
    return run_guarded(lambda: run(args), prog="python -m spec")


if __name__ == "__main__":
    sys.exit(main())
