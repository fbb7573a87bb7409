"""Neural-network building blocks: `functional` (ops) and layer modules."""

from . import functional
from .modules import (
    AvgPool2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Module,
    Parameter,
    ReLU,
    Sequential,
    load,
    manual_seed,
    save,
)

__all__ = [
    "functional", "Module", "Parameter", "Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "ReLU",
    "Flatten", "Sequential", "manual_seed", "save", "load",
]
