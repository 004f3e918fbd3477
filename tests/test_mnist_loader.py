"""The book's loader API on the shipped MNIST: split sizes, layouts, dtypes, memory."""

import socket
import tracemalloc

import numpy as np
import pytest

from network.data import mnist as mnist_loader
from network.data.datasets import REPO_DATA
from network.errors import DataError, UsageError

SHIPPED = REPO_DATA / "mnist"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NNDL_MIRRORS", f"http://127.0.0.1:{port}/")  # closed: never the internet
    monkeypatch.delenv("NNDL_DATA", raising=False)


@pytest.fixture(scope="module")
def raw():
    """uint8 arrays of the shipped data, loaded once, with the peak memory it took."""
    tracemalloc.start()
    try:
        arrays = mnist_loader.load_arrays(path=SHIPPED, dtype=np.uint8, download=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return arrays, peak


@pytest.fixture(scope="module")
def arrays64():
    return mnist_loader.load_arrays(path=SHIPPED, download=False)


def test_load_arrays_uses_the_books_split(arrays64):
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = arrays64
    assert X_tr.shape == (50000, 784) and y_tr.shape == (50000,)
    assert X_va.shape == (10000, 784) and y_va.shape == (10000,)
    assert X_te.shape == (10000, 784) and y_te.shape == (10000,)
    assert y_tr[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]   # first training labels
    assert y_te[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]   # first test labels
    # the training and validation label counts add up to the published 60,000 counts
    assert (np.bincount(y_tr) + np.bincount(y_va)).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_load_arrays_default_is_float64_x_over_255_and_int64_labels(arrays64, raw):
    (X_tr, y_tr), (X_va, _), (X_te, y_te) = arrays64
    (R_tr, _), (R_va, _), (R_te, _) = raw[0]
    assert X_tr.dtype == np.float64 and y_tr.dtype == np.int64 and y_te.dtype == np.int64
    assert X_tr.min() == 0.0 and X_tr.max() == 1.0
    np.testing.assert_array_equal(X_va, R_va / 255.0)
    np.testing.assert_array_equal(X_te[:100], R_te[:100] / 255.0)
    mean60k = (X_tr.sum() + X_va.sum()) / (60000 * 784)
    assert round(mean60k, 5) == 0.13066


def test_load_arrays_uint8_keeps_raw_pixels_without_copies(raw):
    ((X_tr, y_tr), (X_va, y_va), (X_te, y_te)), peak = raw
    assert X_tr.dtype == X_va.dtype == X_te.dtype == np.uint8
    assert X_tr.shape == (50000, 784) and X_te.shape == (10000, 784)
    assert X_tr.max() == 255 and y_tr.dtype == np.int64
    assert X_tr.base is not None and X_va.base is not None  # views, not copies
    assert np.shares_memory(X_tr, X_tr.base) and X_tr.base is X_va.base
    assert peak < 200 * 1024**2, f"loading MNIST as uint8 peaked at {peak / 1e6:.0f} MB"
    assert peak > 55_000_000  # negative control: tracemalloc did see the 55 MB of pixels


def test_load_arrays_float32_scales_in_float32():
    images = np.tile(np.uint8([0, 1, 128, 255]), 196).reshape(1, 28, 28)
    x = mnist_loader._scale(images, np.dtype(np.float32))
    assert x.dtype == np.float32 and x.shape == (1, 784)
    np.testing.assert_array_equal(x[0, :4], np.float32([0, 1, 128, 255]) / np.float32(255))


def test_load_arrays_refuses_an_integer_dtype_other_than_uint8():
    with pytest.raises(UsageError, match="dtype int32 is neither a float type nor uint8"):
        mnist_loader.load_arrays(dtype=np.int32)


def test_load_arrays_passes_the_data_set_name_and_download_flag(tmp_path):
    with pytest.raises(DataError, match=r"(?s)^fashion-mnist: data set not found.*download=False"):
        mnist_loader.load_arrays("fashion-mnist", path=tmp_path, download=False)


def test_load_data_returns_the_books_three_pairs():
    training, validation, test = mnist_loader.load_data(path=SHIPPED)
    for (X, y), n in zip((training, validation, test), (50000, 10000, 10000)):
        assert X.shape == (n, 784) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert 0.0 <= X.min() and X.max() <= 1.0


def test_load_data_wrapper_gives_lists_of_column_vectors():
    training, validation, test = mnist_loader.load_data_wrapper(path=SHIPPED)
    assert isinstance(training, list) and isinstance(validation, list) and isinstance(test, list)
    assert (len(training), len(validation), len(test)) == (50000, 10000, 10000)
    x, y = training[0]
    assert x.shape == (784, 1) and y.shape == (10, 1)
    assert y.ravel().tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]   # the first digit is a 5
    assert all(yy.sum() == 1.0 for _, yy in training[:1000])
    x, label = validation[0]
    assert x.shape == (784, 1) and type(label) is int and label == 3
    x, label = test[0]
    assert x.shape == (784, 1) and label == 7
    assert training[1][0].base is training[2][0].base is not None  # views of one array
    # slicing and len work, unlike the book's zip iterators
    assert len(training[:10]) == 10


def test_vectorized_result_is_a_one_hot_column():
    e = mnist_loader.vectorized_result(3)
    assert e.shape == (10, 1) and e[3, 0] == 1.0 and e.sum() == 1.0
