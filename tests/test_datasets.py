"""Dataset lookup, download and verification; sanity facts on the shipped MNIST.

No test touches the internet: every download goes to an http.server on 127.0.0.1
serving small fake IDX files made with write_idx, and $NNDL_MIRRORS points at a
closed local port for all other tests.
"""

import functools
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from network.data import datasets
from network.data.datasets import FILES, find_dataset, load_dataset
from network.data.idx import idx_bytes, write_idx
from network.errors import DataError, UsageError

SHIPPED = datasets.REPO_DATA / "mnist"


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there once the socket is closed


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("NNDL_MIRRORS", _closed_port_url())
    monkeypatch.delenv("NNDL_DATA", raising=False)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Point the repository and system data folders at empty temporary folders."""
    monkeypatch.setattr(datasets, "REPO_DATA", tmp_path / "repo-data")
    monkeypatch.setattr(datasets, "SYSTEM_DATA", tmp_path / "system")
    return tmp_path


def fake_arrays(n_train=20, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_fake(folder, n_train=20, n_test=5, seed=0):
    """Write a small fake data set; return {base: md5 of the uncompressed file}."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for base, arr in fake_arrays(n_train, n_test, seed).items():
        write_idx(folder / f"{base}.gz", arr)
        sums[base] = hashlib.md5(idx_bytes(arr)).hexdigest()
    return sums


# ---- the shipped data -------------------------------------------------------

@pytest.fixture(scope="module")
def mnist():
    """The shipped MNIST, read once per session, verified against the published digests."""
    return load_dataset("mnist", path=SHIPPED, download=False)


def test_shipped_mnist_matches_published_uncompressed_checksums():
    # Independent of read_idx: hash the gunzipped bytes directly.
    for base, (md5, sha256) in datasets.DATASETS["mnist"]["uncompressed"].items():
        raw = gzip.decompress((SHIPPED / f"{base}.gz").read_bytes())
        assert hashlib.md5(raw).hexdigest() == md5, base
        assert hashlib.sha256(raw).hexdigest() == sha256, base


def test_shipped_mnist_has_the_published_shapes(mnist):
    assert mnist["train_images"].shape == (60000, 28, 28)
    assert mnist["train_labels"].shape == (60000,)
    assert mnist["test_images"].shape == (10000, 28, 28)
    assert mnist["test_labels"].shape == (10000,)
    assert all(a.dtype == np.uint8 for a in mnist.values())


def test_shipped_mnist_label_counts_and_first_labels(mnist):
    assert np.bincount(mnist["train_labels"]).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist["test_labels"]).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist["train_labels"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist["test_labels"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_shipped_mnist_pixel_statistics(mnist):
    x = mnist["train_images"]
    s1 = s2 = 0
    for i in range(0, len(x), 5000):  # exact integer sums, 30 MB at a time
        chunk = x[i:i + 5000].astype(np.int64)
        s1 += int(chunk.sum())
        s2 += int((chunk * chunk).sum())
    n = x.size
    mean = s1 / n / 255
    std = (s2 / n - (s1 / n) ** 2) ** 0.5 / 255
    assert round(mean, 5) == 0.13066
    assert round(std, 5) == 0.30811
    assert round(np.count_nonzero(x) / len(x)) == 150


# ---- lookup order -----------------------------------------------------------

def test_explicit_path_beats_nndl_data_beats_repo_data(isolated, monkeypatch):
    write_fake(isolated / "explicit" / "mnist", n_train=11)
    write_fake(isolated / "env" / "mnist", n_train=12)
    write_fake(datasets.REPO_DATA / "mnist", n_train=13)
    write_fake(datasets.SYSTEM_DATA / "mnist", n_train=14)
    monkeypatch.setenv("NNDL_DATA", str(isolated / "env"))

    def n_train(**kw):  # checksums={}: structure only, the fakes are not the real files
        return len(load_dataset("mnist", download=False, checksums={}, **kw)["train_labels"])

    assert n_train(path=isolated / "explicit") == 11
    assert n_train() == 12
    monkeypatch.delenv("NNDL_DATA")
    assert n_train() == 13
    (datasets.REPO_DATA / "mnist" / "train-images-idx3-ubyte.gz").unlink()  # repo set incomplete
    assert n_train() == 14


def test_nndl_data_may_hold_the_files_directly(isolated, monkeypatch):
    write_fake(isolated / "flat")
    monkeypatch.setenv("NNDL_DATA", str(isolated / "flat"))
    assert find_dataset("mnist", download=False) == isolated / "flat"


def test_plain_uncompressed_files_are_found_too(isolated):
    folder = isolated / "plain"
    folder.mkdir()
    for base, arr in fake_arrays().items():
        write_idx(folder / base, arr)
    data = load_dataset("mnist", path=folder, download=False, checksums={})
    assert data["test_images"].shape == (5, 28, 28)


def test_explicit_path_without_the_files_is_not_second_guessed(isolated):
    write_fake(datasets.REPO_DATA / "mnist")
    with pytest.raises(DataError, match=r"elsewhere \(path argument\)"):
        find_dataset("mnist", path=isolated / "elsewhere", download=False)


def test_unknown_data_set_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown data set 'cifar'; choose one of mnist, fashion-mnist"):
        find_dataset("cifar")


# ---- validation of what is found --------------------------------------------

def test_checksum_mismatch_on_a_local_file_names_it(isolated):
    sums = write_fake(isolated / "d")
    sums["t10k-labels-idx1-ubyte"] = "0" * 32
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: checksum mismatch: md5 .* expected 0{32}"):
        load_dataset("mnist", path=isolated / "d", download=False, checksums=sums)


def test_images_and_labels_of_different_counts_are_refused(isolated):
    folder = isolated / "d"
    write_fake(folder, n_train=20)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="train set holds 20 images but 19 labels"):
        load_dataset("mnist", path=folder, download=False, checksums={})


def test_labels_above_nine_are_refused(isolated):
    folder = isolated / "d"
    write_fake(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 10, 3, 4], np.uint8))
    with pytest.raises(DataError, match="test labels include 10"):
        load_dataset("mnist", path=folder, download=False, checksums={})


def test_fake_files_fail_the_published_mnist_checksums(isolated):
    write_fake(isolated / "d")
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("mnist", path=isolated / "d", download=False)


# ---- downloads from a local server ------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _LyingLengthHandler(_QuietHandler):
    """Announces the full length, sends half, hangs up: a dropped connection."""

    def do_GET(self):
        body = (self.server.root / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])


@pytest.fixture
def serve():
    servers = []

    def start(root, handler=_QuietHandler):
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        server.root = root
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_lands_verified_files_in_nndl_data(isolated, serve, monkeypatch, capsys):
    sums = write_fake(isolated / "mirror")
    monkeypatch.setenv("NNDL_DATA", str(isolated / "cache"))
    url = serve(isolated / "mirror")
    data = load_dataset("mnist", mirrors=[url], checksums=sums)
    target = isolated / "cache" / "mnist"
    assert _leftovers(target) == sorted(f"{b}.gz" for b in FILES)
    for base, arr in fake_arrays().items():
        key = FILES[base][0]
        np.testing.assert_array_equal(data[key], arr)
    assert "downloading " + url in capsys.readouterr().err
    # a second call finds the files and does not download again
    assert find_dataset("mnist", mirrors=[_closed_port_url()], checksums=sums) == target


def test_download_goes_to_repo_data_without_nndl_data_and_reads_the_env_mirrors(isolated, serve, monkeypatch):
    sums = write_fake(isolated / "mirror")
    monkeypatch.setenv("NNDL_MIRRORS", f"{_closed_port_url()}, {serve(isolated / 'mirror')}")
    assert find_dataset("mnist", checksums=sums) == datasets.REPO_DATA / "mnist"


def test_corrupted_download_is_refused_and_leaves_no_file(isolated, serve, monkeypatch):
    sums = write_fake(isolated / "mirror")
    bad = fake_arrays(seed=1)["t10k-images-idx3-ubyte"]     # right shape, wrong bytes
    write_idx(isolated / "mirror" / "t10k-images-idx3-ubyte.gz", bad)
    monkeypatch.setenv("NNDL_DATA", str(isolated / "cache"))
    with pytest.raises(DataError) as err:
        find_dataset("mnist", mirrors=[serve(isolated / "mirror")], checksums=sums)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz: checksum mismatch" in msg
    assert sums["t10k-images-idx3-ubyte"] in msg
    left = _leftovers(isolated / "cache" / "mnist")
    assert "t10k-images-idx3-ubyte.gz" not in left
    assert not [name for name in left if name.endswith(".tmp")]
    assert len(left) == 3  # the three good files were verified and kept


def test_garbage_download_is_refused_and_leaves_no_file(isolated, serve, monkeypatch):
    sums = write_fake(isolated / "mirror")
    (isolated / "mirror" / "train-labels-idx1-ubyte.gz").write_bytes(b"<html>Not here</html>")
    with pytest.raises(DataError, match="wrong magic number"):
        find_dataset("mnist", path=isolated / "dl", mirrors=[serve(isolated / "mirror")],
                     checksums=sums)
    assert "train-labels-idx1-ubyte.gz" not in _leftovers(isolated / "dl")
    assert not [n for n in _leftovers(isolated / "dl") if n.startswith(".")]


def test_dropped_connection_leaves_no_partial_file(isolated, serve):
    sums = write_fake(isolated / "mirror")
    url = serve(isolated / "mirror", _LyingLengthHandler)
    with pytest.raises(DataError, match="Download failed"):
        find_dataset("mnist", path=isolated / "dl", mirrors=[url], checksums=sums)
    assert _leftovers(isolated / "dl") == []


def test_second_mirror_is_tried_when_the_first_is_down_or_missing_files(isolated, serve):
    sums = write_fake(isolated / "mirror")
    (isolated / "empty").mkdir()
    mirrors = [_closed_port_url(), serve(isolated / "empty"), serve(isolated / "mirror")]
    folder = find_dataset("mnist", path=isolated / "dl", mirrors=mirrors, checksums=sums)
    assert _leftovers(folder) == sorted(f"{b}.gz" for b in FILES)


def test_fashion_download_is_checked_against_the_published_gz_md5(isolated, serve):
    write_fake(isolated / "mirror")
    with pytest.raises(DataError, match=r"md5 of the downloaded \.gz is [0-9a-f]{32}, expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d"):
        find_dataset("fashion-mnist", path=isolated / "dl", mirrors=[serve(isolated / "mirror")])
    assert _leftovers(isolated / "dl") == []


def test_offline_with_nothing_found_says_where_it_looked_and_how_to_get_the_files(isolated, monkeypatch):
    monkeypatch.setenv("NNDL_DATA", str(isolated / "env"))
    with pytest.raises(DataError) as err:
        find_dataset("fashion-mnist", timeout=5)
    msg = str(err.value)
    assert msg.startswith("fashion-mnist: data set not found. Looked for train-images-idx3-ubyte(.gz)")
    for folder in (isolated / "env" / "fashion-mnist", isolated / "env",
                   datasets.REPO_DATA / "fashion-mnist", datasets.SYSTEM_DATA / "fashion-mnist"):
        assert str(folder) in msg
    assert "Download failed" in msg and "127.0.0.1" in msg
    assert "To get the files" in msg and "$NNDL_DATA" in msg
    # the dead mirror is tried once, not once per file (each try may cost a timeout)
    assert sum(line.startswith("  http://127.0.0.1") for line in msg.splitlines()) == 1
    assert not (isolated / "env" / "fashion-mnist").exists()


def test_download_false_never_connects_and_says_so(isolated, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("download=False must not open a connection")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", no_network)
    with pytest.raises(DataError, match=r"download=False"):
        find_dataset("mnist", download=False)
    assert not (datasets.REPO_DATA / "mnist").exists()
