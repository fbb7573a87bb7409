"""tinygrad_cnn: a verified teaching engine for convolutional networks.

>>> from tinygrad_cnn import Tensor, Value, no_grad
>>> import tinygrad_cnn.nn.functional as F
"""

from .autograd import is_grad_enabled, no_grad
from .tensor import Tensor
from .value import Value

__all__ = ["Tensor", "Value", "no_grad", "is_grad_enabled", "nn", "optim"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # `nn` and `optim` are imported on first use, so `import tinygrad_cnn` stays light.
    if name in ("nn", "optim"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinygrad_cnn' has no attribute {name!r}")
