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


# ---- rotations and skews (problem 6.8) ------------------------------------------------------

def test_the_identity_map_and_whole_pixel_moves_copy_pixels_exactly():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, (20, 784), dtype=np.uint8)
    eye = np.tile(np.eye(2), (20, 1, 1))
    np.testing.assert_array_equal(expand_mnist.affine(X, eye), X)
    for dy, dx in expand_mnist.SHIFTS:
        moved = expand_mnist.affine(X, eye, np.tile([dx, dy], (20, 1)))
        np.testing.assert_array_equal(moved, shift(X, dy, dx))


def test_a_quarter_turn_is_numpys_rot90_counter_clockwise():
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, (6, 784), dtype=np.uint8)
    turned = expand_mnist.rotate(X, 90).reshape(-1, 28, 28)
    np.testing.assert_array_equal(turned, np.rot90(X.reshape(-1, 28, 28), 1, axes=(1, 2)))
    # Negative control: the other way round is another picture.
    assert not np.array_equal(expand_mnist.rotate(X, -90).reshape(-1, 28, 28), turned)


def test_a_pixel_goes_where_the_rotation_matrix_sends_it():
    """A single lit pixel at offset p from the centre lands (bilinearly spread) at R p."""
    r, c = 6, 20                                  # offset (x, y) = (6.5, -7.5) from (13.5, 13.5)
    for degrees in (7.0, -12.0, 33.0):
        out = expand_mnist.rotate(one_pixel(r, c), degrees).reshape(28, 28).astype(float)
        rows, cols = np.mgrid[0:28, 0:28]
        centre = np.array([(out * cols).sum(), (out * rows).sum()]) / out.sum()   # (x, y)
        t = np.radians(degrees)
        R = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
        expected = R @ np.array([c - 13.5, r - 13.5]) + 13.5
        assert np.abs(centre - expected).max() < 0.15, (degrees, centre, expected)


def test_skew_slants_a_vertical_stroke_like_italics():
    x = np.zeros((1, 28, 28), dtype=np.uint8)
    x[0, 4:24, 13] = 255                                    # a vertical bar in column 13
    out = expand_mnist.skew(x.reshape(1, 784), 0.3).reshape(28, 28).astype(float)
    cols = np.arange(28)
    for row in (5, 13, 22):
        centre = (out[row] * cols).sum() / out[row].sum()
        assert centre == pytest.approx(13 + 0.3 * (13.5 - row), abs=0.05)   # top to the right


def test_small_rotations_and_skews_keep_the_ink_of_real_digits():
    from network.data.mnist import load_arrays
    (X, _), _, _ = load_arrays("mnist", dtype=np.uint8)
    X = X[:200]
    ink = X.sum(axis=1).astype(float)
    for moved in (expand_mnist.rotate(X, 10.0), expand_mnist.skew(X, 0.2)):
        assert np.abs(moved.sum(axis=1) / ink - 1).max() < 0.05
    # and float images give the same pictures as pixels, to rounding
    f = expand_mnist.rotate(X[:20].astype(np.float32) / 255, 10.0)
    assert f.dtype == np.float32
    assert np.abs(f - expand_mnist.rotate(X[:20], 10.0) / 255).max() <= 0.5 / 255 + 1e-6


def test_random_distortions_without_rotation_or_skew_are_random_shifts():
    rng = np.random.default_rng(6)
    X = rng.integers(0, 256, (300, 784), dtype=np.uint8)
    same = expand_mnist.random_distortions(X, np.random.default_rng(7), 0.0, 0.0)
    np.testing.assert_array_equal(same, random_shifts(X, np.random.default_rng(7)))


def test_random_distortions_are_new_every_call_and_leave_the_images_alone():
    rng = np.random.default_rng(8)
    X = rng.integers(0, 256, (50, 784), dtype=np.uint8)
    X0 = X.copy()
    g = np.random.default_rng(9)
    a, b = expand_mnist.random_distortions(X, g), expand_mnist.random_distortions(X, g)
    assert a.shape == X.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(X, X0)
    assert not np.array_equal(a, b)                                   # afresh every epoch
    np.testing.assert_array_equal(a, expand_mnist.random_distortions(X, np.random.default_rng(9)))


def test_a_map_without_inverse_or_images_of_another_size_are_refused():
    with pytest.raises(UsageError, match="invertible"):
        expand_mnist.affine(np.zeros((1, 784)), np.zeros((1, 2, 2)))
    with pytest.raises(UsageError, match=r"\(n, 784\)"):
        expand_mnist.rotate(np.zeros((2, 100)), 5.0)
