"""Model files: round trips, compatibility both ways with network2.py, hostile files refused."""

import json

import numpy as np
import pytest

import network
from network import ModelFileError, Network
from network.mlp import io as model_io


def book_load(filename):
    """network2.py's load(), re-typed from its published behaviour: JSON keys, cost looked up
    by class name in the module, weights and biases via np.array."""
    with open(filename) as f:
        data = json.load(f)
    cost = getattr(network, data["cost"])
    net = Network(data["sizes"], cost=cost)
    net.weights = [np.array(w) for w in data["weights"]]
    net.biases = [np.array(b) for b in data["biases"]]
    return net


def book_feedforward(weights, biases, a):
    for b, w in zip(biases, weights):
        a = 1.0 / (1.0 + np.exp(-(np.dot(w, a) + b)))
    return a


@pytest.mark.parametrize("cost,activation,dtype", [
    ("cross-entropy", "sigmoid", np.float64), ("quadratic", "tanh", np.float64),
    ("log-likelihood", "relu", np.float64), ("cross-entropy", "sigmoid", np.float32)])
def test_saved_network_loads_back_identically(tmp_path, cost, activation, dtype):
    net = Network([6, 5, 4, 3], cost=cost, activation=activation, seed=1, dtype=dtype)
    path = tmp_path / "net.json"
    net.save(path)
    back = network.load(path)
    assert back.sizes == net.sizes and back.cost is net.cost
    assert back.activation is net.activation and back.output_activation is net.output_activation
    for a, b in zip(net.weights + net.biases, back.weights + back.biases):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)  # repr of a float round-trips exactly


def test_saved_network_loads_in_book_format(tmp_path):
    net = Network([7, 4, 3], cost="quadratic", seed=2)
    path = tmp_path / "net.json"
    net.save(path)
    raw = json.loads(path.read_text())
    assert {"sizes", "weights", "biases", "cost"} <= set(raw) and raw["cost"] == "QuadraticCost"
    assert np.shape(raw["biases"][0]) == (4, 1)  # the book's (n, 1) columns
    book = book_load(path)
    x = np.linspace(0, 1, 7)[:, None]
    np.testing.assert_allclose(book_feedforward(book.weights, book.biases, x),
                               net.feedforward(x), rtol=1e-13)


def test_book_format_file_loads_here(tmp_path):
    rng = np.random.default_rng(3)
    sizes = [5, 3, 2]
    weights = [rng.normal(size=(3, 5)), rng.normal(size=(2, 3))]
    biases = [rng.normal(size=(3, 1)), rng.normal(size=(2, 1))]
    path = tmp_path / "book.json"
    path.write_text(json.dumps({"sizes": sizes, "weights": [w.tolist() for w in weights],
                                "biases": [b.tolist() for b in biases],
                                "cost": "CrossEntropyCost"}))
    net = network.load(path)
    assert net.cost is network.CrossEntropyCost and net.activation is network.Sigmoid
    x = rng.random((5, 1))
    np.testing.assert_allclose(net.feedforward(x), book_feedforward(weights, biases, x),
                               rtol=1e-13)


def test_cost_given_as_an_instance_still_saves(tmp_path):
    net = Network([3, 2], cost=network.CrossEntropyCost(), seed=0)  # the book's save() failed
    net.save(tmp_path / "n.json")
    assert network.load(tmp_path / "n.json").cost is network.CrossEntropyCost


def _good(tmp_path):
    net = Network([4, 3, 2], seed=0)
    return model_io.network_to_dict(net)


CORRUPTIONS = {
    "missing sizes": (lambda d: d.pop("sizes"), "missing field 'sizes'"),
    "sizes a string": (lambda d: d.update(sizes="784 30 10"), "'sizes' should be a list"),
    "negative size": (lambda d: d.update(sizes=[4, -3, 2]), "positive whole numbers"),
    "weights wrong shape": (lambda d: d["weights"][0].pop(), "should have 3 rows"),
    "ragged weights": (lambda d: d["weights"][0][1].append(0.5), "not a rectangular"),
    "strings in weights": (lambda d: d["weights"][1][0].__setitem__(0, "x"), "not a rectangular"),
    "unknown cost": (lambda d: d.update(cost="os.system"), "unknown cost"),
    "unknown activation": (lambda d: d.update(activation="gelu"), "unknown activation"),
    "too few layers of weights": (lambda d: d["weights"].pop(), "need 2 weight and bias"),
    "billions of parameters": (lambda d: d.update(sizes=[100000, 100000, 10]), "parameters"),
    "top level a list": (lambda d: ("replace", [d]), "top level should be a JSON object"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_model_file_is_refused_with_its_fault(tmp_path, name):
    change, message = CORRUPTIONS[name]
    data = _good(tmp_path)
    result = change(data)
    if isinstance(result, tuple) and result[0] == "replace":
        data = result[1]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=message) as info:
        network.load(path)
    assert "bad.json" in str(info.value)


@pytest.mark.parametrize("text,message", [
    ('{"sizes": [2, 1], "weights": [[[NaN, 1.0]]], "biases": [[[0.0]]], "cost": "QuadraticCost"}',
     "not a finite number"),
    ('{"sizes": [2, 1], "weights": [[[1e999, 1.0]]], "biases": [[[0.0]]], "cost": "QuadraticCost"}',
     "out of range for a float"),
    ("[" * 100000 + "]" * 100000, "deep or wide empty structures"),
    ("[" * 2000 + "]" * 2000, "nested far too deeply"),
    ('{"sizes": [' + "9" * 5000 + ', 1]}', "not valid JSON"),
    ("{\"sizes\": [2, 1], ", "not valid JSON"),
    ("", "not valid JSON"),
])
def test_hostile_json_is_refused(tmp_path, text, message):
    path = tmp_path / "hostile.json"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=message):
        network.load(path)


def test_binary_garbage_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ModelFileError, match="not a text file"):
        network.load(path)
    with pytest.raises(ModelFileError, match="no such model file"):
        network.load(tmp_path / "absent.json")


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    from network.storage import limits
    monkeypatch.setattr(limits, "MAX_JSON_BYTES", 100)
    net = Network([4, 3, 2], seed=0)
    net.save(tmp_path / "big.json")
    with pytest.raises(ModelFileError, match="larger than any model"):
        network.load(tmp_path / "big.json")


def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    Network([4, 3, 2], seed=0).save(path)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")
    import network.storage.atomic as files
    monkeypatch.setattr(files.os, "fsync", explode)
    with pytest.raises(OSError):
        Network([4, 3, 2], seed=1).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.json"]
