"""``python -m spec``: the same command as ``tinygrad-cnn verify`` (:mod:`spec.command`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .command import build_parser
from .command import main as run

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the report."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
