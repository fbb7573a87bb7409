"""Layer modules: `Module`, `Parameter` and the layers of a small CNN.

A `Module` finds its parameters by walking its own attributes in the order they were
assigned (``vars(self)`` keeps insertion order), descending into sub-modules, lists,
tuples and dicts (in insertion order). So the order of ``parameters()`` is fixed: it is
the order in which ``__init__`` assigned them, as in PyTorch, and ``named_parameters()``
gives dotted names such as ``"0.weight"`` or ``"conv1.bias"``.

The layers take PyTorch's constructor arguments and use PyTorch's default
initialisation: ``kaiming_uniform_(w, a=sqrt(5))``, that is
``w ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, and ``b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``,
where ``fan_in = in_channels/groups · KH · KW`` (conv) or ``in_features`` (linear).
Random numbers come from ``rng`` when a layer is given one, else from the module-level
generator that `manual_seed` resets.

Weights are saved as ``.npz`` (`save`) and read back with ``allow_pickle=False`` (`load`).
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import tempfile
import warnings
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from . import functional as F

__all__ = [
    "Parameter", "Module", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "MaxUnpool2d",
    "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Linear", "ReLU", "Flatten",
    "Sequential", "manual_seed", "save", "load", "load_npz", "META_PREFIX",
]

_rng = np.random.default_rng(0)

#: Keys of a saved ``.npz`` starting with this prefix hold metadata, not weights.
META_PREFIX = "__meta__."


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the generator that initialises layers created without an ``rng``.

    Returns the new generator. Two models built after the same ``manual_seed(s)`` have
    identical weights.
    """
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    if rng is None:
        return _rng
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got "
                    f"{type(rng).__name__}")


def _check_device(device: Any, layer: str) -> None:
    if device not in (None, "cpu"):
        raise ValueError(f"{layer}: this engine runs on NumPy, device must be None or 'cpu', "
                         f"got {device!r}")


def _float_dtype(dtype: Any, layer: str) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{layer}: dtype must be a floating-point dtype such as float32 or "
                        f"float64, got {dt}")
    return dt


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...],
             dtype: np.dtype) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _positive(value: Any, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


def _pair(value: Any, name: str, layer: str, minimum: int) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                              or v < minimum for v in items):
        raise ValueError(f"{layer}: {name} must be an int >= {minimum} or a pair of them, "
                         f"got {value!r}")
    return (int(items[0]), int(items[1]))


# ------------------------------------------------------------------------- Parameter


class Parameter(Tensor):
    """A tensor that is a learnable parameter of a `Module` (``requires_grad=True``).

    The data is copied, so a parameter never shares memory with the array it was made from.
    Optimizers update ``parameter.data`` in place.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True):
        if isinstance(data, np.ndarray):
            data = data.copy()
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


# ---------------------------------------------------------------------------- Module


def _walk(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """(dotted name, Parameter or Module) pairs found in ``value``, in a fixed order."""
    if isinstance(value, (Parameter, Module)):
        yield prefix, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(f"{prefix}.{i}" if prefix else str(i), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(f"{prefix}.{key}" if prefix else str(key), item)


class Module:
    """Base class of every layer and model.

    Subclasses assign `Parameter`s and sub-modules as attributes in ``__init__`` (directly
    or inside lists, tuples and dicts) and define ``forward``; calling the module calls
    ``forward``.

    Examples
    --------
    >>> from tinygrad_cnn import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv1 = nn.Conv2d(1, 4, 3)
    ...         self.fc = nn.Linear(4 * 6 * 6, 10)
    ...     def forward(self, x):
    ...         return self.fc(self.conv1(x).relu().flatten(1))
    >>> [name for name, _ in Net().named_parameters()]
    ['conv1.weight', 'conv1.bias', 'fc.weight', 'fc.bias']
    """

    training: bool

    def __init__(self) -> None:
        self.training = True

    # ------------------------------------------------------------------- structure
    def _members(self) -> Iterator[tuple[str, Any]]:
        """Direct parameters and sub-modules, with their names relative to this module."""
        for name, value in vars(self).items():
            yield from _walk(name, value)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their names (``"0"``, ``"conv1"``, ``"blocks.2"``)."""
        for name, value in self._members():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        """Direct sub-modules, in order."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``prefix``) and all its descendants, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and all its descendants, depth first."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, each shared parameter once."""
        yield from self._named_parameters(prefix, set())

    def _named_parameters(self, prefix: str, seen: set[int]) -> Iterator[tuple[str, Parameter]]:
        for name, value in self._members():
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(value, Parameter):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield full, value
            else:
                yield from value._named_parameters(full, seen)

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter, in the order ``named_parameters`` gives."""
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter (``grad = None``)."""
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every descendant; returns ``self``."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); returns ``self``."""
        return self.train(False)

    # ----------------------------------------------------------------------- weights
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter's data, keyed by its dotted name."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays from ``state_dict`` into the parameters of the same name.

        Every key, shape and dtype is checked before anything is changed, so a failed
        load leaves the module as it was.

        Parameters
        ----------
        state_dict : mapping of str to array
        strict : bool, default True
            Require the keys to match exactly (no missing and no unexpected key). With
            ``strict=False`` the matching keys are loaded and a `UserWarning` names the
            parameters left as they were and the keys skipped.

        Raises
        ------
        KeyError
            A parameter has no entry (``missing key``), or an entry matches no parameter
            (``unexpected key``); the message names the keys.
        ValueError
            An array has the wrong shape (the message names the key and both shapes).
        TypeError
            An array has the wrong dtype (names the key and both dtypes).
        """
        own = OrderedDict(self.named_parameters())
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got "
                            f"{type(state_dict).__name__}")
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing key(s) {missing}")
            if unexpected:
                parts.append(f"unexpected key(s) {unexpected}")
            raise KeyError(f"load_state_dict for {type(self).__name__}: "
                           f"{' and '.join(parts)}; expected keys {list(own)}")
        arrays = {}
        for key, p in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != p.shape:
                raise ValueError(f"load_state_dict: wrong shape for key {key!r}: got "
                                 f"{array.shape}, the parameter has shape {p.shape}")
            if array.dtype != p.dtype:
                raise TypeError(f"load_state_dict: wrong dtype for key {key!r}: got "
                                f"{array.dtype}, the parameter has dtype {p.dtype}")
            arrays[key] = array
        if not strict and (missing or unexpected):
            loaded = len(own) - len(missing)
            parts = [f"loaded {loaded} of {len(own)} parameters"
                     + (" (nothing)" if loaded == 0 else "")]
            if missing:
                parts.append(f"not in the state dict, left as they were: {missing}")
            if unexpected:
                parts.append(f"skipped, no such parameter: {unexpected}")
            warnings.warn(f"load_state_dict(strict=False) for {type(self).__name__}: "
                          f"{'; '.join(parts)}", UserWarning, stacklevel=2)
        for key, array in arrays.items():
            own[key].data[...] = array  # in place: optimizers keep their references

    # -------------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``Layer(...)``."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self.named_children():
            child_lines = repr(child).split("\n")
            child_lines = [child_lines[0]] + ["  " + line for line in child_lines[1:]]
            lines.append(f"  ({name}): " + "\n".join(child_lines))
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


# ---------------------------------------------------------------------------- layers


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _padding_mode(padding_mode: Any, layer: str) -> str:
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{layer}: padding_mode must be one of "
                         f"{', '.join(map(repr, PADDING_MODES))}, got {padding_mode!r}")
    return padding_mode


def _conv_padding(padding: Any, n: int, layer: str) -> Any:
    """An int tuple of length n, or the string 'valid' / 'same'."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{layer}: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
        return padding
    if n == 1:
        items = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,)
        if len(items) != 1 or isinstance(items[0], bool) or \
                not isinstance(items[0], (int, np.integer)) or items[0] < 0:
            raise ValueError(f"{layer}: padding must be an int >= 0, 'valid' or 'same', got "
                             f"{padding!r}")
        return (int(items[0]),)
    return _pair(padding, "padding", layer, 0)


def _flat_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...]
                  ) -> tuple[int, ...]:
    """PyTorch's ``_reversed_padding_repeated_twice``: F.pad's tuple, last axis first."""
    flat: list[int] = []
    for k, d, i in zip(reversed(kernel), reversed(dilation), range(len(kernel)), strict=True):
        if padding == "valid":
            flat += [0, 0]
        elif padding == "same":  # the odd extra cell after, as F.conv2d's "same"
            total = d * (k - 1)
            flat += [total // 2, total - total // 2]
        else:
            p = padding[len(kernel) - 1 - i]
            flat += [p, p]
    return tuple(flat)


class _ConvNd(Module):
    """What `Conv1d` and `Conv2d` share: checks, initialisation, padding modes."""

    _dims: int = 2

    def __init__(self, layer: str, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any, padding: Any, dilation: Any, groups: int, bias: bool,
                 padding_mode: str, device: Any, dtype: Any,
                 rng: np.random.Generator | int | None):
        super().__init__()
        _check_device(device, layer)
        tup = _pair if self._dims == 2 else _single
        self.in_channels = _positive(in_channels, "in_channels", layer)
        self.out_channels = _positive(out_channels, "out_channels", layer)
        self.kernel_size = tup(kernel_size, "kernel_size", layer, 1)
        self.stride = tup(stride, "stride", layer, 1)
        self.padding = _conv_padding(padding, self._dims, layer)
        self.dilation = tup(dilation, "dilation", layer, 1)
        self.groups = _positive(groups, "groups", layer)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{layer}: groups={groups} must divide in_channels="
                             f"{in_channels} and out_channels={out_channels}")
        self.padding_mode = _padding_mode(padding_mode, layer)
        if self.padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(f"{layer}: padding='same' needs stride 1, got stride "
                             f"{self.stride}")
        dt = _float_dtype(dtype, layer)
        gen = _generator(rng)
        fan_in = self.in_channels // self.groups * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(_uniform(gen, bound, shape, dt))
        self.bias = Parameter(_uniform(gen, bound, (self.out_channels,), dt)) if bias else None

    def _padded(self, x: Any) -> tuple[Any, Any]:
        """(input, conv padding): a non-zero mode pads with F.pad first, as PyTorch."""
        if self.padding_mode == "zeros":
            return x, self.padding
        flat = _flat_padding(self.padding, self.kernel_size, self.dilation)
        return F.pad(x, flat, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        one = (0,) * self._dims
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding not in (one, "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) \
                else f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        if self.weight.dtype != np.float32:
            s += f", dtype={self.weight.dtype}"
        return s


def _single(value: Any, name: str, layer: str, minimum: int) -> tuple[int]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(items) != 1 or isinstance(items[0], bool) or \
            not isinstance(items[0], (int, np.integer)) or items[0] < minimum:
        raise ValueError(f"{layer}: {name} must be an int >= {minimum}, got {value!r}")
    return (int(items[0]),)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) layer, as ``torch.nn.Conv2d``.

    ``y = conv2d(x, weight, bias, stride, padding, dilation, groups)`` with ``weight`` of
    shape (out_channels, in_channels/groups, KH, KW) and ``bias`` of shape (out_channels,).
    Parameter count: ``(KH·KW·in_channels/groups + 1)·out_channels`` (without the ``+ 1``
    when ``bias=False``).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, dilation : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
    groups : int, default 1
    bias : bool, default True
    padding_mode : "zeros" | "reflect" | "replicate" | "circular", default "zeros"
        How the ``padding`` cells are filled; any mode but "zeros" pads with `F.pad`
        first and convolves without padding, as PyTorch does.
    device : None or "cpu"
    dtype : floating dtype, default float32
    rng : numpy Generator or int seed, optional
        Source of the initial weights; the module generator (`manual_seed`) by default.
    """

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None, rng: np.random.Generator | int | None = None):
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode, device, dtype, rng)

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._padded(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation) layer, as ``torch.nn.Conv1d``.

    ``y = conv1d(x, weight, bias, stride, padding, dilation, groups)`` on x of shape
    (N, in_channels, L), with ``weight`` (out_channels, in_channels/groups, K); the same
    arguments as `Conv2d`, each one int.
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None, rng: np.random.Generator | int | None = None):
        super().__init__("Conv1d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode, device, dtype, rng)

    def forward(self, x: Tensor) -> Tensor:
        x, padding = self._padded(x)
        padding = padding if isinstance(padding, (str, int)) else padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride[0], padding,
                        self.dilation[0], self.groups)


class ConvTranspose2d(Module):
    """Transposed 2-D convolution layer, as ``torch.nn.ConvTranspose2d``.

    ``y = conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups,
    dilation)`` with ``weight`` of shape (in_channels, out_channels/groups, KH, KW), as in
    PyTorch; initialised like PyTorch with ``fan_in = out_channels/groups · KH · KW``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, dilation : int or (int, int), default 1
    padding, output_padding : int or (int, int), default 0
    groups : int, default 1
    bias : bool, default True
    padding_mode : "zeros"
        The only mode PyTorch has for a transposed convolution.
    device, dtype, rng
        As for `Conv2d`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                 bias: bool = True, dilation: Any = 1, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None,
                 rng: np.random.Generator | int | None = None):
        super().__init__()
        layer = "ConvTranspose2d"
        _check_device(device, layer)
        self.in_channels = _positive(in_channels, "in_channels", layer)
        self.out_channels = _positive(out_channels, "out_channels", layer)
        self.kernel_size = _pair(kernel_size, "kernel_size", layer, 1)
        self.stride = _pair(stride, "stride", layer, 1)
        self.padding = _pair(padding, "padding", layer, 0)
        self.output_padding = _pair(output_padding, "output_padding", layer, 0)
        self.dilation = _pair(dilation, "dilation", layer, 1)
        self.groups = _positive(groups, "groups", layer)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{layer}: groups={groups} must divide in_channels="
                             f"{in_channels} and out_channels={out_channels}")
        if padding_mode != "zeros":
            raise ValueError(f"{layer}: only padding_mode='zeros' exists for a transposed "
                             f"convolution (as in PyTorch), got {padding_mode!r}")
        self.padding_mode = padding_mode
        for op, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= max(s, d):
                raise ValueError(f"{layer}: output_padding must be smaller than either stride "
                                 f"or dilation, got output_padding {self.output_padding}, "
                                 f"stride {self.stride}, dilation {self.dilation}")
        dt = _float_dtype(dtype, layer)
        gen = _generator(rng)
        kh, kw = self.kernel_size
        fan_in = self.out_channels // self.groups * kh * kw
        bound = 1.0 / math.sqrt(fan_in)
        shape = (self.in_channels, self.out_channels // self.groups, kh, kw)
        self.weight = Parameter(_uniform(gen, bound, shape, dt))
        self.bias = Parameter(_uniform(gen, bound, (self.out_channels,), dt)) if bias else None

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, int]:
        """The output_padding that gives ``output_size`` (PyTorch's forward argument)."""
        if output_size is None:
            return self.output_padding
        sizes = tuple(output_size)
        sizes = sizes[-2:] if len(sizes) in (3, 4) else sizes
        if len(sizes) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must be (H, W) or end with it, "
                             f"got {output_size!r}")
        padding = []
        for axis, (want, n, k, s, p, d) in enumerate(zip(
                sizes, x.shape[-2:], self.kernel_size, self.stride, self.padding,
                self.dilation, strict=True)):
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= want <= smallest + s - 1:
                raise ValueError(f"ConvTranspose2d: output_size {tuple(output_size)}: size "
                                 f"{axis} must be in [{smallest}, {smallest + s - 1}] for an "
                                 f"input of size {n}, got {want}")
            padding.append(int(want) - smallest)
        return tuple(padding)

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.weight.dtype != np.float32:
            s += f", dtype={self.weight.dtype}"
        return s


class Linear(Module):
    """Fully connected layer ``y = x · weightᵀ + bias``, as ``torch.nn.Linear``.

    ``weight`` has shape (out_features, in_features), ``bias`` (out_features,); parameter
    count ``in_features·out_features + out_features``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    device : None or "cpu"
    dtype : floating dtype, default float32
    rng : numpy Generator or int seed, optional
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None,
                 rng: np.random.Generator | int | None = None):
        super().__init__()
        layer = "Linear"
        _check_device(device, layer)
        self.in_features = _positive(in_features, "in_features", layer)
        self.out_features = _positive(out_features, "out_features", layer)
        dt = _float_dtype(dtype, layer)
        gen = _generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(_uniform(gen, bound, (self.out_features, self.in_features),
                                         dt))
        self.bias = Parameter(_uniform(gen, bound, (self.out_features,), dt)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        s = (f"in_features={self.in_features}, out_features={self.out_features}, "
             f"bias={self.bias is not None}")
        if self.weight.dtype != np.float32:
            s += f", dtype={self.weight.dtype}"
        return s


class MaxPool2d(Module):
    """Max pooling, as ``torch.nn.MaxPool2d`` (``stride`` defaults to ``kernel_size``).

    With ``return_indices=True`` the layer returns ``(output, indices)``, the flat
    per-plane indices `MaxUnpool2d` takes; ``ceil_mode=True`` keeps a last, partial window
    (see `F.max_pool2d`).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average pooling, as ``torch.nn.AvgPool2d`` (``stride`` defaults to ``kernel_size``).

    ``count_include_pad=True`` (PyTorch's default) divides by KH·KW everywhere; ``False``
    by the number of non-padding elements; ``divisor_override`` by that number.
    ``ceil_mode=True`` keeps a last, partial window (see `F.avg_pool2d`).
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(Module):
    """The partial inverse of max pooling, as ``torch.nn.MaxUnpool2d``.

    ``layer(x, indices, output_size=None)`` writes each value of ``x`` at its index (as
    returned by ``MaxPool2d(..., return_indices=True)``) in a zero plane; see
    `F.max_unpool2d`.
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                              output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``.

    ``output_size``: an int, a pair, or a pair with None (keep that input size).
    """

    def __init__(self, output_size: Any):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size, as ``torch.nn.AdaptiveMaxPool2d``."""

    def __init__(self, output_size: Any, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = bool(return_indices)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class ReLU(Module):
    """``max(0, x)`` elementwise, as ``torch.nn.ReLU``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` (default: all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Sequential(Module):
    """Modules applied one after the other; parameters are named ``"0.weight"``, ...

    ``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(name=module, ...))``.
    Indexing (``seq[0]``, ``seq[-1]``, ``seq[1:3]``), ``len`` and iteration work as in
    PyTorch.
    """

    def __init__(self, *modules: Any):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in items:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: element {name!r} is a "
                                f"{type(module).__name__}, expected a Module")
        self._names = [name for name, _ in items]
        # stored under their names, so the attribute walk yields "0", "1", ... in order
        for name, module in items:
            setattr(self, name, module)

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[Module]:
        return (getattr(self, name) for name in self._names)

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return Sequential(*[getattr(self, n) for n in self._names[index]])
        return getattr(self, self._names[index])

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x


# --------------------------------------------------------------------------- save/load

#: Largest total size of the arrays that `load_npz` accepts by default: the sizes each entry
#: declares are checked against it before anything is decompressed.
MAX_LOAD_BYTES = 256 * 2**20
_MAX_ENTRIES = 10_000
# DEFLATE cannot compress better than about 1032:1 (a 258-byte match in 2 bits)
_DEFLATE_MAX_RATIO = 1032
_LOADABLE_KINDS = "biufcUS"  # bool, integers, floats, complex; strings for metadata


def save(module: Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None
         ) -> None:
    """Write ``module.state_dict()`` to ``path`` as an uncompressed ``.npz``, atomically.

    The archive is written to a temporary file in the same directory, flushed to disk, and
    renamed over ``path`` (`os.replace`), so ``path`` holds either its old content or the
    complete new file, never half a file. ``metadata`` (plain strings, numbers, or arrays
    of them; no objects) is stored under keys ``"__meta__.<name>"``, so that `load_npz`
    can give it back without pickle.
    """
    arrays: dict[str, np.ndarray] = dict(module.state_dict())
    for key, value in (metadata or {}).items():
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"save: metadata {key!r} must be a string, a number or an array "
                            f"of them (no objects, nothing pickled), got "
                            f"{type(value).__name__}")
        arrays[META_PREFIX + key] = array
    write_atomically(path, lambda f: np.savez(f, **arrays))


def write_atomically(path: str | os.PathLike, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    On any error (or KeyboardInterrupt) the temporary file is removed and ``path`` is left
    as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _new_file_mode(path: str) -> int:
    """The permissions a file written at ``path`` gets: the old file's, else 0666 - umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _size(n: int) -> str:
    """A byte count for a message: ``4294967376 bytes (4.0 GiB)``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n} bytes ({n / scale:.1f} {unit})"
    return f"{n} bytes"


def _check_entries(path: str, archive: zipfile.ZipFile, file_size: int, max_bytes: int
                   ) -> list[tuple[str, zipfile.ZipInfo]]:
    """The (key, member) pairs of an .npz, after checking what the zip headers declare."""
    infos = archive.infolist()
    if len(infos) > _MAX_ENTRIES:
        raise ValueError(f"{path!r} has {len(infos)} entries, more than the {_MAX_ENTRIES} a "
                         f"weights file may have")
    declared = sum(info.file_size for info in infos)
    if declared > max_bytes:
        raise ValueError(f"{path!r} declares {_size(declared)} of uncompressed data, more "
                         f"than the limit of {_size(max_bytes)}; refusing to decompress it")
    entries = []
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{path!r}: entry {info.filename!r} is not an .npy array, so "
                             f"this is not a weights file")
        key = info.filename[:-4]
        if info.flag_bits & 0x1:
            raise ValueError(f"{path!r}: entry {key!r} is encrypted; weights files are not")
        if info.header_offset + info.compress_size > file_size:
            raise ValueError(f"{path!r}: entry {key!r} is truncated: it needs "
                             f"{info.header_offset + info.compress_size} bytes of the file, "
                             f"which has {file_size}")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise ValueError(f"{path!r}: entry {key!r} is corrupt: stored (uncompressed) "
                                 f"but its sizes differ ({info.compress_size} stored, "
                                 f"{info.file_size} declared)")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
                raise ValueError(f"{path!r}: entry {key!r} declares {_size(info.file_size)} "
                                 f"from {info.compress_size} compressed bytes, more than "
                                 f"DEFLATE can produce; refusing it")
        else:
            raise ValueError(f"{path!r}: entry {key!r} uses zip compression method "
                             f"{info.compress_type}; weights files are stored or deflated")
        entries.append((key, info))
    return entries


def _read_entry(path: str, archive: zipfile.ZipFile, key: str, info: zipfile.ZipInfo,
                max_bytes: int) -> np.ndarray:
    """One array, after checking its .npy header against the limit and the entry's size."""
    try:
        return _read_checked(path, archive, key, info, max_bytes)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # a bad CRC or a broken DEFLATE stream, found while reading (ahead)
        raise ValueError(f"{path!r}: entry {key!r} is corrupt: {err}") from None


def _read_checked(path: str, archive: zipfile.ZipFile, key: str, info: zipfile.ZipInfo,
                  max_bytes: int) -> np.ndarray:
    fmt = np.lib.format
    with archive.open(info) as f:
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as err:
            raise ValueError(f"{path!r}: entry {key!r} is not a valid .npy array: "
                             f"{err}") from None
        header = f.tell()
        if dtype.hasobject:
            raise ValueError(f"{path!r}: entry {key!r} is a pickled object array; refusing "
                             f"to load it (weights must be plain numeric arrays, loaded with "
                             f"allow_pickle=False)")
        if dtype.kind not in _LOADABLE_KINDS or dtype.names is not None:
            raise ValueError(f"{path!r}: entry {key!r} has dtype {dtype}; weights must be "
                             f"plain numbers (bool, int, float, complex) or strings")
        needed = math.prod(shape) * dtype.itemsize
        what = f"shape {shape} of {dtype}"
        if needed > max_bytes:
            raise ValueError(f"{path!r}: entry {key!r} declares {what} ({_size(needed)}), "
                             f"more than the limit of {_size(max_bytes)}; refusing it")
        holds = info.file_size - header
        if holds < needed:
            raise ValueError(f"{path!r}: entry {key!r} is truncated: its header declares "
                             f"{what} ({needed} bytes of data) but it holds {holds} bytes")
        if holds > needed:
            raise ValueError(f"{path!r}: entry {key!r} is corrupt: its header declares "
                             f"{what} ({needed} bytes of data) but it holds {holds} bytes")
    # checked: now NumPy's own reader, which reads exactly the declared size, never a pickle
    with archive.open(info) as f:
        try:
            return fmt.read_array(f, allow_pickle=False)
        except ValueError as err:  # pragma: no cover - the checks above come first
            raise ValueError(f"{path!r}: entry {key!r} is corrupt: {err}") from None


def load_npz(path: str | os.PathLike, max_bytes: int = MAX_LOAD_BYTES
             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a weights file: ``(state_dict, metadata)``; never unpickles anything.

    Untrusted files are welcome: before anything is decompressed, the sizes declared by the
    zip headers and by each entry's ``.npy`` header (shape and dtype) are checked against
    ``max_bytes`` and against the size of the file, so a zip bomb or a truncated entry is
    refused at once, with a message that says which.

    Parameters
    ----------
    path : str or PathLike
    max_bytes : int, default MAX_LOAD_BYTES (256 MiB)
        The most uncompressed data the file may declare, all entries together.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not an ``.npz`` archive, holds a pickled (object) array, declares more
        than ``max_bytes``, or an entry is truncated or corrupt.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"weights file {path!r} is "
                         f"{'a directory' if os.path.isdir(path) else 'not a regular file'}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise ValueError(f"{path!r} holds a single .npy array, not an .npz archive of named "
                         f"weights")
    if magic[:1] == b"\x80":  # the pickle protocol opcode that starts every modern pickle
        raise ValueError(f"{path!r} is a pickled file, not an .npz of plain arrays; "
                         f"refusing to unpickle it")
    if not magic.startswith(b"PK"):
        raise ValueError(f"{path!r} is not a weights file (.npz archive): it does not start "
                         f"with the zip signature")
    state: dict[str, np.ndarray] = {}
    metadata: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            entries = _check_entries(path, archive, os.path.getsize(path), max_bytes)
            for key, info in entries:
                array = _read_entry(path, archive, key, info, max_bytes)
                if key.startswith(META_PREFIX):
                    metadata[key[len(META_PREFIX):]] = \
                        array.item() if array.ndim == 0 else array
                else:
                    state[key] = array
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"{path!r} is not a weights file (.npz archive), or it is truncated: "
                         f"{err}") from None
    return state, metadata


def load(module: Module, path: str | os.PathLike, strict: bool = True) -> dict[str, Any]:
    """Load weights saved by `save` into ``module``; returns the stored metadata."""
    state, metadata = load_npz(path)
    module.load_state_dict(state, strict=strict)
    return metadata
