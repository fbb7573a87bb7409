"""Neural-network building blocks: `functional` (ops) and layer modules."""

from . import functional

__all__ = ["functional"]
