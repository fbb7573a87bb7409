"""The digits split and the MNIST IDX reader (on small IDX files written here)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from conftest import optional

from tinygrad_cnn.data import load_digits, load_mnist, read_idx, stratified_split


def idx_bytes(array: np.ndarray, type_code: int) -> bytes:
    """An IDX file written from its definition: 0 0 type ndim, big-endian sizes, data."""
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    return header + big_endian.tobytes()


# ------------------------------------------------------------------------------ digits


def test_digits_split_shapes_range_and_stratification():
    optional("sklearn", "the digits loader (the 8x8 digits ship with scikit-learn)")
    from sklearn.datasets import load_digits as sk_load_digits

    data = load_digits()
    raw = sk_load_digits()
    n = len(raw.target)
    assert data.x_train.shape[1:] == data.x_test.shape[1:] == (1, 8, 8)
    assert data.x_train.dtype == data.x_test.dtype == np.float32
    assert data.y_train.dtype == np.int64
    assert len(data.x_train) + len(data.x_test) == n == 1797
    for x in (data.x_train, data.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    # stratified: every class gives round(20%) of its images to the test set
    per_class = np.bincount(raw.target)
    np.testing.assert_array_equal(np.bincount(data.y_test),
                                  np.round(per_class * 0.2).astype(int))
    # the images are sklearn's, scaled by 1/16, each exactly once
    all_x = np.concatenate([data.x_train, data.x_test]).reshape(n, 64) * 16
    all_y = np.concatenate([data.y_train, data.y_test])
    ours = sorted(zip(all_y.tolist(), map(bytes, all_x.astype(np.uint8)), strict=True))
    theirs = sorted(zip(raw.target.tolist(), map(bytes, raw.data.astype(np.uint8)),
                        strict=True))
    assert ours == theirs
    # fixed: the same split every time
    again = load_digits()
    np.testing.assert_array_equal(again.x_test, data.x_test)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10


def test_stratified_split_partitions_and_depends_on_seed():
    labels = np.repeat(np.arange(3), [10, 20, 5])
    train, test = stratified_split(labels, 0.2, seed=1)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(35))
    assert np.bincount(labels[test]).tolist() == [2, 4, 1]
    _, other = stratified_split(labels, 0.2, seed=2)
    assert not np.array_equal(test, other)
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(labels, 1.0, seed=0)


# --------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips_plain_and_gzipped(tmp_path, gz):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    data = idx_bytes(images, 0x08)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, images)


def test_read_idx_big_endian_types(tmp_path):
    for code, dtype in ((0x0C, np.int32), (0x0D, np.float32), (0x0B, np.int16)):
        a = np.array([[1, -2, 300], [70000 % 30000, 5, -6]], dtype=dtype)
        path = tmp_path / f"t{code}"
        path.write_bytes(idx_bytes(a, code))
        out = read_idx(path)
        np.testing.assert_array_equal(out, a)
        assert out.dtype.isnative


def test_read_idx_errors(tmp_path):
    good = idx_bytes(np.zeros((2, 3), dtype=np.uint8), 0x08)
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(ValueError, match="bad IDX magic number 0x01020802"):
        read_idx(bad_magic)
    bad_type = tmp_path / "type"
    bad_type.write_bytes(b"\x00\x00\x07\x02" + good[4:])
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad_type)
    short = tmp_path / "short"
    short.write_bytes(good[:-1])
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*6 bytes.*5 bytes"):
        read_idx(short)
    header = tmp_path / "header"
    header.write_bytes(good[:6])
    with pytest.raises(ValueError, match="truncated header"):
        read_idx(header)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00")
    with pytest.raises(ValueError, match="too short"):
        read_idx(tiny)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


def write_mnist(directory, n_train=6, n_test=4, size=5, gz_test=True, labels=None):
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n, dtype=np.uint8) if labels is None else labels[:n]
        gz = gz_test and split == "t10k"
        for kind, array, stem in (("images", images, "idx3"), ("labels", lab, "idx1")):
            name = f"{split}-{kind}-{stem}-ubyte" + (".gz" if gz else "")
            data = idx_bytes(array, 0x08)
            (directory / name).write_bytes(gzip.compress(data) if gz else data)
        files[split] = (images, lab)
    return files


def test_load_mnist_from_idx_files(tmp_path):
    files = write_mnist(tmp_path)
    data = load_mnist(tmp_path)
    assert data.x_train.shape == (6, 1, 5, 5) and data.x_test.shape == (4, 1, 5, 5)
    assert data.x_train.dtype == np.float32 and data.y_test.dtype == np.int64
    np.testing.assert_allclose(data.x_train[:, 0] * 255, files["train"][0], atol=1e-4)
    np.testing.assert_array_equal(data.y_test, files["t10k"][1])
    assert data.name == "mnist"


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)
    # 4 test images but 3 labels
    labels = np.array([1, 2, 3], dtype=np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 8)))
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        load_mnist(tmp_path)
    # labels that are not digits
    labels = np.array([1, 2, 3, 12], dtype=np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 8)))
    with pytest.raises(ValueError, match="0..9"):
        load_mnist(tmp_path)
    # images and labels swapped
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(labels, 8))
    with pytest.raises(ValueError, match="3-dim uint8"):
        load_mnist(tmp_path)
