"""The ``verify`` command, defined once: ``tinygrad-cnn verify`` and ``python -m spec``.

:func:`add_arguments` declares the options on any parser; :data:`HELP` and
:data:`DESCRIPTION` are its texts; :func:`main` (from :mod:`spec.report`) runs it.
"""

from __future__ import annotations

import argparse

from .report import main

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "build_parser", "main"]

HELP = "derive the course formulas with SymPy and check them against the engine"
DESCRIPTION = (
    "Run the whole specification: for every item print the statement, the SymPy derivation, "
    "the result, the engine's result and the verdict, item by item as it runs. Exits 1 if "
    "any check fails, including a printed value of the course documents that disagrees "
    "with the derivation unless it is a known erratum (listed in spec/errata.py, with its "
    "reason); the known errata are confirmed and listed at the end. Exit status: 0 every "
    "item passed; 1 an item failed; 2 a bad argument (an --only name not in --list); 130 "
    "Ctrl-C; 141 the reader of the output went away (| head).")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare verify's options on ``parser`` (and return it)."""
    parser.add_argument("--json", action="store_true",
                        help="print the report (or, with --list, the items) as JSON")
    parser.add_argument("--only", metavar="NAME", action="append",
                        help="run only this topic or item (topic, name or topic/name; "
                             "repeatable); see --list")
    parser.add_argument("--list", action="store_true",
                        help="list the topics and items (with --only, those it selects) and "
                             "exit")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="one line per item instead of the full derivation")
    return parser


def build_parser(prog: str = "python -m spec") -> argparse.ArgumentParser:
    """A stand-alone parser of the command (``python -m spec``)."""
    return add_arguments(argparse.ArgumentParser(prog=prog, description=DESCRIPTION))
