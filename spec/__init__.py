"""The specification: the course formulas derived with SymPy and checked against the engine.

``spec.output_size`` is the output-size formula; ``spec.oracle.check`` checks another
implementation; ``python -m spec`` (or ``tinygrad-cnn verify``) runs every item.
"""

from .report import run_all
from .shapes import output_size

__all__ = ["output_size", "run_all"]
