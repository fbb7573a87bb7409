"""``python -m spec``: the same as ``tinygrad-cnn verify`` (same options)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tinygrad_cnn.cli import _add_verify

from .report import main as report_main


def build_parser() -> argparse.ArgumentParser:
    """The ``verify`` subcommand's parser from :mod:`tinygrad_cnn.cli`, named ``python -m spec``."""
    holder = argparse.ArgumentParser(add_help=False)
    sub = holder.add_subparsers()
    _add_verify(sub)
    parser = sub.choices["verify"]
    parser.prog = "python -m spec"
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the report."""
    return report_main(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
