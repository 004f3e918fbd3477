"""IDX reader/writer: round trips, and every corruption refused by name before allocating."""

import gzip
import hashlib
import time
import tracemalloc

import numpy as np
import pytest

from network.data.idx import idx_bytes, read_idx, read_idx_header, write_idx
from network.errors import DataError


def _images(n=5, h=28, w=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w), dtype=np.uint8)


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (5, 28, 28), (2, 3, 4, 5), (0, 28, 28)])
def test_uint8_round_trip_plain_and_gzip(tmp_path, name, shape):
    arr = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    path = write_idx(tmp_path / name, arr)
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_other_standard_types_round_trip_to_native_endian(tmp_path, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype)
    back = read_idx(write_idx(tmp_path / "a.idx.gz", arr))
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


def test_idx_encoding_matches_the_published_format():
    data = idx_bytes(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    assert data == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])


def test_gzip_output_is_deterministic(tmp_path):
    arr = _images(2)
    a = write_idx(tmp_path / "a.gz", arr).read_bytes()
    assert a[4:8] == bytes(4)  # the gzip MTIME field is zero, so no clock in the bytes
    assert write_idx(tmp_path / "b.gz", arr).read_bytes() == a


def test_header_reader_reports_type_and_shape_without_the_data(tmp_path):
    path = write_idx(tmp_path / "a.gz", _images(3, 4, 5))
    assert read_idx_header(path) == (np.dtype(np.uint8), (3, 4, 5))


def test_missing_idx_file_is_refused_with_its_name(tmp_path):
    with pytest.raises(DataError, match=r"nothere-idx3-ubyte\.gz: file not found"):
        read_idx(tmp_path / "nothere-idx3-ubyte.gz")


def test_truncated_idx_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(_images(5))[:-100])
    with pytest.raises(DataError) as err:
        read_idx(path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte: truncated" in msg
    assert "5 images of 28x28 (3920 bytes)" in msg and "holds 3820 bytes" in msg
    assert "re-download" in msg


def test_truncated_gzip_stream_is_refused_with_its_name(tmp_path):
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", _images(50))
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: truncated.*compressed stream ends"):
        read_idx(path)


def test_gzip_whose_header_promises_more_than_it_holds_is_truncated(tmp_path):
    lie = idx_bytes(_images(10))[: 16 + 3 * 784]  # header says 10 images, 3 follow
    path = tmp_path / "lie.gz"
    path.write_bytes(gzip.compress(lie))
    with pytest.raises(DataError, match=r"lie\.gz: truncated: header declares 10 images of 28x28 \(7840 bytes\) but the file holds 2352"):
        read_idx(path)


@pytest.mark.parametrize("name", ["extra", "extra.gz"])
def test_trailing_bytes_after_the_declared_data_are_refused(tmp_path, name):
    data = idx_bytes(_images(2)) + b"\x00" * 7
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(DataError, match=rf"{name}: trailing bytes"):
        read_idx(path)


def test_header_cut_inside_the_dimensions_is_truncated(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match=r"short: truncated: the file ends inside its 3 dimension sizes"):
        read_idx(path)


@pytest.mark.parametrize("name", ["notidx", "notidx.gz"])
def test_wrong_magic_number_is_refused_with_its_name(tmp_path, name):
    data = b"PK\x03\x04" + bytes(100)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(DataError, match=rf"{name}: wrong magic number 504b0304"):
        read_idx(path)


def test_wrong_number_of_dimensions_is_refused(tmp_path):
    labels = write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: wrong dimensions: the header declares 1 dimensions, expected 3"):
        read_idx(labels, shape=(None, 28, 28))


def test_wrong_image_size_is_refused(tmp_path):
    path = write_idx(tmp_path / "imgs", _images(2, 28, 29))
    with pytest.raises(DataError, match=r"imgs: wrong dimensions: the header declares 2x28x29, expected Nx28x28"):
        read_idx(path, shape=(None, 28, 28))


def test_zero_dimensions_are_refused(tmp_path):
    path = tmp_path / "scalar"
    path.write_bytes(bytes([0, 0, 8, 0, 42]))
    with pytest.raises(DataError, match=r"scalar: wrong dimensions: the header declares 0"):
        read_idx(path)


def test_unknown_element_type_is_refused(tmp_path):
    path = tmp_path / "weird"
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(DataError, match=r"weird: wrong element type 0x0A"):
        read_idx(path)


def test_unexpected_element_type_is_refused(tmp_path):
    path = write_idx(tmp_path / "floats.gz", np.zeros((2, 28, 28), np.float32))
    with pytest.raises(DataError, match=r"floats\.gz: wrong element type: holds >?float32, expected uint8"):
        read_idx(path, dtype=np.uint8)


def test_checksum_mismatch_names_file_expected_and_actual(tmp_path):
    good = idx_bytes(_images(3))
    expected = hashlib.md5(good).hexdigest()
    bad = bytearray(good)
    bad[500] ^= 0xFF
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(bad)))
    actual = hashlib.md5(bytes(bad)).hexdigest()
    with pytest.raises(DataError) as err:
        read_idx(path, md5=expected)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz: checksum mismatch" in msg
    assert expected in msg and actual in msg
    # the unmodified bytes pass, so the check is on the content and not always failing
    path.write_bytes(gzip.compress(good))
    read_idx(path, md5=expected, sha256=hashlib.sha256(good).hexdigest())


def test_sha256_mismatch_is_refused_too(tmp_path):
    path = write_idx(tmp_path / "a", _images(1))
    with pytest.raises(DataError, match="sha256 of the uncompressed bytes"):
        read_idx(path, sha256="0" * 64)


def test_corrupt_compressed_data_is_refused_with_its_name(tmp_path):
    path = write_idx(tmp_path / "c.gz", _images(20))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"c\.gz: "):
        read_idx(path)


def _peak_bytes_while(fn):
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        fn()
        return tracemalloc.get_traced_memory()[1], time.perf_counter() - t0
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["huge-idx3-ubyte", "huge-idx3-ubyte.gz"])
def test_header_claiming_three_billion_images_fails_fast_without_allocating(tmp_path, name):
    header = bytes([0, 0, 8, 3]) + np.array([3_000_000_000, 28, 28], ">u4").tobytes()
    data = header + bytes(784 * 4)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    def attempt():
        with pytest.raises(DataError, match=rf"{name}: header declares 3000000000 images of 28x28"):
            read_idx(path)

    peak, seconds = _peak_bytes_while(attempt)
    assert peak < 2_000_000 and seconds < 1.0


def test_gzip_too_small_to_hold_its_header_promise_is_refused_before_allocating(tmp_path):
    # 1,000,000 images = 784 MB: under the 2 GiB ceiling, but no 1 kB gzip can expand to it.
    header = bytes([0, 0, 8, 3]) + np.array([1_000_000, 28, 28], ">u4").tobytes()
    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(header + bytes(784)))

    def attempt():
        with pytest.raises(DataError, match=r"liar\.gz: truncated: .*cannot hold that much"):
            read_idx(path)

    peak, _ = _peak_bytes_while(attempt)
    assert peak < 2_000_000


def test_tracemalloc_does_see_the_readers_array_allocation(tmp_path):
    # Negative control for the two tests above: a real 3 MB read must show up.
    path = write_idx(tmp_path / "real.gz", np.zeros((4000, 28, 28), np.uint8))
    peak, _ = _peak_bytes_while(lambda: read_idx(path))
    assert peak > 3_000_000
