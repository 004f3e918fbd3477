"""Expanded MNIST: one-pixel shifts, five blocks, a plain .npz cache never pickled."""

import numpy as np
import pytest

from network.data import expansion as expand_mnist
from network.errors import DataError, UsageError
from network.data.expansion import expand, load_expanded, random_shifts, read_expanded, shift


def one_pixel(r, c):
    x = np.zeros((1, 784), dtype=np.uint8)
    x[0, r * 28 + c] = 255
    return x


@pytest.mark.parametrize("dy, dx", [(-1, 0), (1, 0), (0, -1), (0, 1)])
def test_shift_moves_a_pixel_one_step(dy, dx):
    moved = shift(one_pixel(10, 12), dy, dx).reshape(28, 28)
    assert moved[10 + dy, 12 + dx] == 255 and moved.sum() == 255


@pytest.mark.parametrize("r, c, dy, dx", [(0, 5, -1, 0), (27, 5, 1, 0), (5, 0, 0, -1), (5, 27, 0, 1)])
def test_shift_drops_the_edge_instead_of_wrapping(r, c, dy, dx):
    assert shift(one_pixel(r, c), dy, dx).sum() == 0


def test_shift_refuses_steps_larger_than_one_pixel():
    with pytest.raises(UsageError, match="-1, 0 or 1"):
        shift(one_pixel(3, 3), 2, 0)


def test_expand_gives_originals_then_four_shifted_blocks():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (7, 784), dtype=np.uint8)
    y = np.arange(7)
    Xe, ye = expand(X, y)
    assert Xe.shape == (35, 784) and Xe.dtype == np.uint8
    assert (Xe[:7] == X).all() and (ye == np.tile(y, 5)).all()
    for k, (dy, dx) in enumerate(expand_mnist.SHIFTS, start=1):
        assert (Xe[7 * k:7 * (k + 1)] == shift(X, dy, dx)).all()


def test_cache_is_built_once_and_read_without_pickle(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (20, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 20)
    Xe, ye = load_expanded(out=tmp_path, source=(X, y), verbose=False)
    cache = tmp_path / expand_mnist.CACHE_NAME
    assert cache.exists() and len(Xe) == 100
    with np.load(cache, allow_pickle=False) as f:      # plain arrays only
        assert set(f.files) == {"X", "y", "source_sha256"}
    monkeypatch.setattr(expand_mnist, "expand", lambda *a: pytest.fail("rebuilt a good cache"))
    Xc, yc = load_expanded(out=tmp_path, source=(X, y), verbose=False)
    assert (Xc == Xe).all() and (yc == ye).all()
    assert not list(tmp_path.glob("*.tmp"))             # the atomic write left no temporary


def test_cache_from_other_images_is_rebuilt(tmp_path):
    rng = np.random.default_rng(2)
    X1 = rng.integers(0, 256, (5, 784), dtype=np.uint8)
    X2 = rng.integers(0, 256, (5, 784), dtype=np.uint8)
    y = np.arange(5)
    load_expanded(out=tmp_path, source=(X1, y), verbose=False)
    Xe, _ = load_expanded(out=tmp_path, source=(X2, y), verbose=False)
    assert (Xe[:5] == X2).all()


def test_a_corrupt_or_pickled_cache_is_refused_with_advice_and_rebuilt(tmp_path):
    bad = tmp_path / expand_mnist.CACHE_NAME
    bad.write_bytes(b"not an npz file at all")
    with pytest.raises(DataError, match="delete it"):
        read_expanded(bad, 5)
    np.savez(bad, X=np.array([{"evil": 1}], dtype=object), y=np.zeros(1), source_sha256=np.array("x"))
    with pytest.raises(DataError, match="dtype object"):
        read_expanded(bad, 1)
    np.savez(bad, X=np.zeros((3, 10), np.uint8), y=np.zeros(3, int), source_sha256=np.array("x"))
    with pytest.raises(DataError, match="has shape"):
        read_expanded(bad, 3)
    np.savez(bad, X=np.zeros((5, 784), np.uint8), y=np.zeros(5, int), source_md5=np.array("x"))
    assert read_expanded(bad, 5) is None         # the older layout: stale, so rebuilt
    rng = np.random.default_rng(3)
    X, y = rng.integers(0, 256, (1, 784), dtype=np.uint8), np.arange(1)
    Xe, _ = load_expanded(out=tmp_path, source=(X, y), verbose=False)   # rebuilds over it
    assert (Xe[:1] == X).all() and read_expanded(bad, 5)[0].shape == (5, 784)


def test_expanding_real_mnist_images_keeps_their_ink():
    from network.data.mnist import load_arrays
    (X, y), _, _ = load_arrays(dtype=np.uint8)
    X, y = X[:50], y[:50]
    Xe, ye = expand(X, y)
    # A one-pixel shift loses at most the ink in one edge row/column, which MNIST leaves blank.
    ink = Xe.reshape(5, 50, 784).sum(axis=2, dtype=np.int64)
    assert (np.abs(ink - ink[0]) <= 0.02 * ink[0]).all()


def test_random_shifts_picks_one_of_the_five_versions_of_each_image():
    rng = np.random.default_rng(1)
    X = rng.integers(1, 256, (400, 784), dtype=np.uint8)   # no zero pixel: every shift shows
    X0 = X.copy()
    out = random_shifts(X, np.random.default_rng(2))
    assert out.shape == X.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(X, X0)                   # a new array, X untouched
    versions = [X] + [shift(X, dy, dx) for dy, dx in expand_mnist.SHIFTS]
    which = np.full(len(X), -1)
    for c, v in enumerate(versions):
        which[(out == v).all(axis=1)] = c
    assert (which >= 0).all()                              # every row is one of the five
    counts = np.bincount(which, minlength=5)
    assert counts.min() > 50, counts                       # all five drawn, about 80 each
    again = random_shifts(X, np.random.default_rng(2))
    np.testing.assert_array_equal(out, again)              # the generator decides
    assert not np.array_equal(out, random_shifts(X, np.random.default_rng(3)))


def test_random_shifts_refuses_images_of_another_size():
    with pytest.raises(UsageError, match=r"\(n, 784\)"):
        random_shifts(np.zeros((3, 100)), np.random.default_rng(0))
