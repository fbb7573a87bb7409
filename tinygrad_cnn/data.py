"""Datasets: scikit-learn's bundled 8x8 digits, and a reader for MNIST's IDX files.

Nothing here downloads anything. The digits (1,797 images, 8x8, 16 grey levels) ship
inside scikit-learn (the ``train`` extra); MNIST is read from IDX files the user already
has (``--data-dir``), gzipped or not.

Images come out as float32 in [0, 1], shape (N, 1, H, W); labels as int64, shape (N,).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load_digits", "stratified_split", "read_idx", "load_mnist",
           "load_dataset", "DIGITS_SPLIT_SEED", "DIGITS_TEST_FRACTION"]

#: The digits split is fixed: it never depends on the training seed.
DIGITS_SPLIT_SEED = 20240101
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    """A train/test split: images (N, 1, H, W) float32 in [0, 1], labels (N,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = ""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, "
                f"test={self.x_test.shape})")


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): each class contributes ``round(n_c · test_fraction)`` to test.

    Implemented in NumPy (a permutation per class from ``default_rng(seed)``), so the split
    does not depend on any library's splitter. Both index arrays are sorted.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"stratified_split: test_fraction must be in (0, 1), got "
                         f"{test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = int(round(len(members) * test_fraction))
        test.append(rng.permutation(members)[:k])
    test_idx = np.sort(np.concatenate(test))
    train_mask = np.ones(len(labels), dtype=bool)
    train_mask[test_idx] = False
    return np.flatnonzero(train_mask), test_idx


def load_digits(test_fraction: float = DIGITS_TEST_FRACTION,
                seed: int = DIGITS_SPLIT_SEED) -> Dataset:
    """scikit-learn's 8x8 digits, scaled to [0, 1], split 80/20 stratified by class.

    Raises
    ------
    ImportError
        scikit-learn is not installed (``pip install 'tinygrad-cnn[train]'``).
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("the 8x8 digits ship with scikit-learn, which is not installed: "
                          "pip install 'tinygrad-cnn[train]' (or scikit-learn)") from None
    bunch = sk_load_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    train_idx, test_idx = stratified_split(y, test_fraction, seed)
    return Dataset(x[train_idx], y[train_idx], x[test_idx], y[test_idx], name="digits")


# ------------------------------------------------------------------------------- IDX

# IDX type codes: the third byte of the magic number
_IDX_TYPES = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


def _open(path: str):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


#: Largest data size one IDX file may declare (MNIST's training images are 47 MB): checked
#: against the header before the data is read or decompressed.
MAX_IDX_BYTES = 2**31


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (MNIST's format), plain or gzipped (detected from its content).

    The header is the magic number ``0x00 0x00 <type> <ndim>`` then ``ndim`` big-endian
    uint32 sizes; the data follows, big-endian, row-major. The size the header declares
    is checked against ``max_bytes`` before the data is read, so a gzip bomb is refused
    without being decompressed, and no more than the declared size is ever read.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Bad magic number, unknown type code, truncated header, a declared size over
        ``max_bytes``, or a data length that does not match the sizes in the header (the
        message says what was expected).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file {path!r} does not exist")
    try:
        with _open(path) as f:
            raw = f.read(4)
            if len(raw) < 4:
                raise ValueError(f"{path!r}: {len(raw)} bytes, too short for an IDX header "
                                 f"(4-byte magic number)")
            magic = int.from_bytes(raw[:4], "big")
            if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
                raise ValueError(
                    f"{path!r}: bad IDX magic number 0x{magic:08X}; expected 0x0000TTDD with "
                    f"type TT in {{08,09,0B,0C,0D,0E}} and DD >= 1 dims (MNIST images: "
                    f"0x00000803 = 2051, labels: 0x00000801 = 2049)")
            dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
            header = 4 + 4 * ndim
            raw += f.read(4 * ndim)
            if len(raw) < header:
                raise ValueError(f"{path!r}: truncated header: {ndim} dims need {header} "
                                 f"bytes, the file has {len(raw)}")
            shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
                          for i in range(ndim))
            expected = math.prod(shape) * dtype.itemsize
            what = f"shape {shape} of {dtype.name} ({expected} bytes of data)"
            if expected > max_bytes:
                raise ValueError(f"{path!r}: header says {what}, more than the limit of "
                                 f"{max_bytes} bytes; refusing to read it")
            body = f.read(expected + 1)  # one more: is there anything after the data?
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path!r}: cannot read it as an IDX file (plain or gzip): {err}") \
            from None
    if len(body) != expected:
        has = f"{len(body)} bytes" if len(body) < expected else f"more than {expected} bytes"
        raise ValueError(f"{path!r}: header says {what}, but the file has {has} after the "
                         f"header")
    data = np.frombuffer(body, dtype=dtype).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _find(data_dir: str, stem: str) -> str:
    # the usual names, plus the dotted variant some mirrors use (train-images.idx3-ubyte)
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{data_dir!r} has no {stem} (looked for {stem}, {stem}.gz, "
                            f"{dotted}, {dotted}.gz)")


def load_mnist(data_dir: str | os.PathLike) -> Dataset:
    """MNIST (or any dataset in its layout) from the four IDX files in ``data_dir``.

    Images are scaled from 0..255 to [0, 1] float32 with shape (N, 1, H, W).

    Raises
    ------
    FileNotFoundError
        ``data_dir`` is not a directory, or a file is missing (the message lists the names
        looked for).
    ValueError
        A file is malformed, or images and labels do not fit together.
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        what = "is not a directory" if os.path.lexists(data_dir) else "does not exist"
        raise FileNotFoundError(f"data directory {data_dir!r} {what}")
    arrays = {key: read_idx(_find(data_dir, stem)) for key, stem in _MNIST_FILES.items()}
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        stem = _MNIST_FILES[f"{split}_images"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{stem}: expected a 3-dim uint8 IDX file (N, rows, cols), got "
                             f"{images.ndim} dims of {images.dtype}")
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise ValueError(f"{_MNIST_FILES[f'{split}_labels']}: expected a 1-dim uint8 IDX "
                             f"file, got {labels.ndim} dims of {labels.dtype}")
        if len(images) != len(labels):
            raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() > 9:
            raise ValueError(f"{split}: labels must be digits 0..9, found {labels.max()}")
        x = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
        out += [x, labels.astype(np.int64)]
    if out[0].shape[1:] != out[2].shape[1:]:
        raise ValueError(f"train images are {out[0].shape[2:]} but test images are "
                         f"{out[2].shape[2:]}")
    return Dataset(*out, name="mnist")


def load_dataset(data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST from ``data_dir`` when given, else the bundled 8x8 digits."""
    return load_digits() if data_dir is None else load_mnist(data_dir)
