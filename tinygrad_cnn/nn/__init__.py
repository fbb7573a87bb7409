"""Neural-network building blocks: `functional` (ops) and layer modules."""

from . import functional
from .modules import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    Linear,
    MaxPool2d,
    MaxUnpool2d,
    Module,
    Parameter,
    ReLU,
    Sequential,
    load,
    manual_seed,
    save,
)

__all__ = [
    "functional", "Module", "Parameter", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d",
    "MaxUnpool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Linear", "ReLU",
    "Flatten", "Sequential", "manual_seed", "save", "load",
]
