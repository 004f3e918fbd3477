"""ConvNetwork files: .json and .npz round trips, and hostile files refused with a reason."""

import io
import json
import zipfile

import numpy as np
import pytest

from network.conv import (ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer,
                          load_conv_network)
from network.errors import ModelFileError


def small_net(dtype=np.float32):
    net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8), 2, "relu"),
                       FullyConnectedLayer(18, 5, "tanh", p_dropout=0.25),
                       SoftmaxLayer(5, 3)], seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    for layer in net.layers:
        layer.w += rng.standard_normal(layer.w.shape).astype(dtype)
    return net


@pytest.mark.parametrize("suffix", [".json", ".npz"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saved_conv_network_loads_with_identical_outputs(tmp_path, suffix, dtype):
    net = small_net(dtype)
    path = tmp_path / f"net{suffix}"
    net.save(path)
    back = load_conv_network(path)
    X = np.random.default_rng(2).random((5, 64))
    np.testing.assert_array_equal(back.feedforward(X), net.feedforward(X))
    assert back.dtype == net.dtype
    assert [l.config() for l in back.layers] == [l.config() for l in net.layers]


def test_npz_is_written_without_pickle_and_read_back_with_allow_pickle_false(tmp_path):
    path = tmp_path / "net.npz"
    small_net().save(path)
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["b0", "b1", "b2", "config", "w0", "w1", "w2"]


def _npz(path, **arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def _header(net):
    return {"format": "nndl-convnet", "version": 1, "dtype": "float32",
            "layers": [l.config() for l in net.layers]}


def test_npz_with_a_pickled_object_is_refused(tmp_path):
    net = small_net()
    arrays = {f"{c}{l}": getattr(layer, c) for l, layer in enumerate(net.layers) for c in "wb"}
    arrays["w0"] = np.array([{"evil": 1}], dtype=object)
    path = _npz(tmp_path / "evil.npz", config=np.array(json.dumps(_header(net))), **arrays)
    with pytest.raises(ModelFileError):
        load_conv_network(path)


def test_npz_with_wrong_shape_is_refused_before_reading_the_array(tmp_path):
    net = small_net()
    arrays = {f"{c}{l}": getattr(layer, c) for l, layer in enumerate(net.layers) for c in "wb"}
    arrays["w1"] = np.zeros((5, 17), np.float32)
    path = _npz(tmp_path / "bad.npz", config=np.array(json.dumps(_header(net))), **arrays)
    with pytest.raises(ModelFileError, match="'w1' has shape"):
        load_conv_network(path)


def _json_file(tmp_path, mutate):
    net = small_net()
    path = tmp_path / "net.json"
    net.save(path)
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(format="something"), "expected 'nndl-convnet'"),
    (lambda d: d.update(version=7), "unsupported version"),
    (lambda d: d.update(dtype="int8"), "dtype"),
    (lambda d: d["layers"][0].update(type="transformer"), "unknown layer type"),
    (lambda d: d["layers"][0].update(filter_shape=[2, 1, 3]), "filter_shape"),
    (lambda d: d["layers"][1].update(n_in=19), "do not chain"),
    (lambda d: d["layers"][1].update(n_out=10 ** 9), "out-of-range"),
    (lambda d: d["layers"][1].update(bogus=1), "invalid"),
    (lambda d: d["weights"].pop(), "lists of 3 arrays"),
    (lambda d: d["weights"][2].pop(), "shape"),
    (lambda d: d["biases"][0].__setitem__(0, "x"), "numbers"),
])
def test_damaged_json_model_is_refused_with_the_reason(tmp_path, mutate, message):
    with pytest.raises(ModelFileError, match=message):
        load_conv_network(_json_file(tmp_path, mutate))


def test_non_finite_weights_and_garbage_files_are_refused(tmp_path):
    path = tmp_path / "nan.json"
    small_net().save(path)
    path.write_text(path.read_text().replace("]]]]", "]]]]", 1).replace("0.", "NaN, 0.", 1))
    with pytest.raises(ModelFileError):
        load_conv_network(path)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match="not a readable .npz"):
        load_conv_network(tmp_path / "junk.npz")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ModelFileError, match="not a text file"):
        load_conv_network(tmp_path / "bin.json")
    with pytest.raises(ModelFileError, match="no such model file"):
        load_conv_network(tmp_path / "missing.npz")
    with pytest.raises(ModelFileError, match="use .json or .npz"):
        small_net().save(tmp_path / "net.pkl")


def test_npz_without_config_is_refused(tmp_path):
    path = _npz(tmp_path / "noconf.npz", w0=np.zeros(3))
    with pytest.raises(ModelFileError, match="config"):
        load_conv_network(path)
    with zipfile.ZipFile(path) as z:
        assert "config.npy" not in z.namelist()


def test_a_400_digit_weight_and_an_unknown_zip_compression_are_refused(tmp_path):
    """Found by tests/test_fuzz_files.py: OverflowError and zipfile's NotImplementedError
    escaped instead of ModelFileError."""
    path = _json_file(tmp_path, lambda d: d["biases"][0].__setitem__(0, 10 ** 400))
    with pytest.raises(ModelFileError, match="numbers"):
        load_conv_network(path)
    npz = tmp_path / "net.npz"
    small_net().save(npz)
    raw = bytearray(npz.read_bytes())
    central = raw.index(b"PK\x01\x02")            # first central-directory entry
    raw[central + 10:central + 12] = (99).to_bytes(2, "little")   # compression method 99
    npz.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="compressed"):
        load_conv_network(npz)
