"""Checkpoints and resume: a run stopped after any epoch and resumed ends bit-identical to one
never stopped; the command line stops cleanly on SIGINT/SIGTERM; hostile checkpoints are refused."""

import io
import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from network import Network
from network.mlp.checkpoint import load_checkpoint, save_checkpoint
from network.cli import main
from network.errors import ModelFileError, UsageError
from network.mlp.network import load as load_network
from network.base.optimizers import Adam
from network.mlp.resumable import resume, train

BACKENDS = ["numpy", "numba"] if "backend" in Network.__init__.__code__.co_varnames else [None]


def data(seed=0, n=240, n_in=12, k=3):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in)), rng.integers(0, k, n)


def make_net(backend, seed=5):
    kw = {} if backend is None else {"backend": backend}
    return Network([12, 7, 3], seed=seed, **kw)


class Interrupt:
    """A callback that raises KeyboardInterrupt after ``epoch`` has been reported: the
    Checkpointer (always last) never saves that epoch, as with a real Ctrl-C mid-epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def __call__(self, network, record):
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def same_parameters(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.weights + a.biases, b.weights + b.biases))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("options", [
    dict(momentum=0.9, dropout=0.3, lmbda=0.5),
    dict(optimizer="adam", regularization="L1", lmbda=0.1),
    dict(),
], ids=["momentum-dropout-L2", "adam-L1", "sgd"])
@pytest.mark.parametrize("stop_after", [0, 2])
def test_interrupted_then_resumed_run_ends_with_the_same_weights_bit_for_bit(
        tmp_path, backend, options, stop_after):
    X, y = data()

    def opts():  # a fresh optimiser object per run
        return {**options, "optimizer": Adam(0.01)} if options.get("optimizer") else options

    straight = make_net(backend)
    train(straight, (X, y), 4, 10, 0.5, checkpoint=tmp_path / "a.npz", **opts())

    net = make_net(backend)
    with pytest.raises(KeyboardInterrupt):
        train(net, (X, y), 4, 10, 0.5, checkpoint=tmp_path / "b.npz",
              callbacks=[Interrupt(stop_after)], **opts())
    assert load_checkpoint(tmp_path / "b.npz").epochs_done == stop_after
    resumed, _ = resume(tmp_path / "b.npz", (X, y))
    assert same_parameters(straight, resumed)
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2, 3]
    ck = load_checkpoint(tmp_path / "b.npz")
    assert ck.epochs_done == 4 and ck.epochs_remaining == 0
    # the generator carries on where the uninterrupted run's did
    assert straight.rng.bit_generator.state == resumed.rng.bit_generator.state


def test_interrupt_in_the_first_epoch_resumes_from_the_initial_checkpoint(tmp_path):
    X, y = data(1)
    straight = make_net(BACKENDS[0])
    straight.SGD((X, y), 2, 8, 0.3, momentum=0.5, verbose=False)
    net = make_net(BACKENDS[0])
    with pytest.raises(KeyboardInterrupt):
        train(net, (X, y), 2, 8, 0.3, checkpoint=tmp_path / "c.npz", callbacks=[Interrupt(0)],
              momentum=0.5)
    resumed, _ = resume(tmp_path / "c.npz", (X, y))
    assert same_parameters(straight, resumed)


def test_checkpoint_round_trip_restores_optimizer_rng_history_and_config(tmp_path):
    X, y = data(2)
    net = make_net(BACKENDS[0])
    opt = Adam(0.02)
    train(net, (X, y), 2, 16, 0.5, checkpoint=tmp_path / "r.npz", optimizer=opt,
          evaluation_data=(X[:50], y[:50]), monitor_evaluation_accuracy=True,
          config={"note": "kept", "nested": {"a": [1, 2.5]}})
    ck = load_checkpoint(tmp_path / "r.npz")
    assert same_parameters(net, ck.network)
    assert ck.optimizer.t == opt.t > 0 and ck.optimizer.lr == 0.02
    assert all(np.array_equal(a, b) for a, b in zip(ck.optimizer.m + ck.optimizer.v, opt.m + opt.v))
    assert ck.network.rng.bit_generator.state == net.rng.bit_generator.state
    assert ck.network.history == json.loads(json.dumps(net.history))
    assert ck.config == {"note": "kept", "nested": {"a": [1, 2.5]}}
    assert ck.training["options"]["monitor_evaluation_accuracy"] is True
    assert ck.training["mini_batch_size"] == 16 and ck.epochs_done == 2


def test_float32_checkpoint_keeps_float32(tmp_path):
    X, y = data(3)
    kw = {} if BACKENDS[0] is None else {"backend": "numpy"}  # no float32 kernel compile here
    net = Network([12, 5, 3], seed=1, dtype=np.float32, **kw)
    train(net, (X, y), 1, 10, 0.5, checkpoint=tmp_path / "f.npz", momentum=0.9)
    ck = load_checkpoint(tmp_path / "f.npz")
    assert ck.network.dtype == np.float32
    assert all(p.dtype == np.float32 for p in ck.network.weights + ck.optimizer.velocities)
    assert same_parameters(net, ck.network)


def test_resume_refuses_different_training_data_and_too_few_epochs(tmp_path):
    X, y = data(4)
    train(make_net(BACKENDS[0]), (X, y), 2, 10, 0.5, checkpoint=tmp_path / "d.npz")
    with pytest.raises(UsageError, match="training data differ"):
        resume(tmp_path / "d.npz", (X[::-1].copy(), y))
    with pytest.raises(UsageError, match="already done"):
        resume(tmp_path / "d.npz", (X, y), epochs=1)
    net, _ = resume(tmp_path / "d.npz", (X, y), epochs=3)  # more epochs: training goes on
    assert len(net.history) == 3


def test_non_finite_state_is_never_checkpointed_and_the_old_file_stays(tmp_path):
    X, y = data(5)
    net = make_net(BACKENDS[0])
    path = tmp_path / "g.npz"
    train(net, (X, y), 1, 10, 0.5, checkpoint=path)
    before = path.read_bytes()
    net.weights[0][0, 0] = np.nan
    with pytest.raises(UsageError, match="NaN or infinite"):
        save_checkpoint(path, net, net.optimizer, 2, {"epochs": 2, "mini_batch_size": 10,
                                                        "eta": 0.5, "options": {}})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.npz"]


# ---- hostile checkpoints (the fuzz test in test_fuzz_files.py does thousands more) -----

def members_of(path):
    """Every member of an .npz file, by name (read without pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def valid_members(tmp_path):
    X, y = data(6)
    path = tmp_path / "ok.npz"
    train(make_net(BACKENDS[0]), (X, y), 1, 10, 0.5, checkpoint=path, momentum=0.9)
    return members_of(path)


def rewrite(path, members, header_edit=None):
    """Write ``members`` as an .npz at ``path`` (an object array goes in as a pickle), the
    JSON header first changed in place by ``header_edit``; return ``path``."""
    members = dict(members)
    if header_edit is not None:
        header = json.loads(str(members["__checkpoint__"]))
        header_edit(header)
        members["__checkpoint__"] = np.array(json.dumps(header))
    buf = io.BytesIO()
    np.savez(buf, **members)
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.update(w0=m["w0"][:, :-1]), "has shape"),
    (lambda m: m.update(w1=np.full_like(m["w1"], np.nan)), "NaN or infinity"),
    (lambda m: m.update(b0=m["b0"].astype(np.float32)), "has dtype"),
    (lambda m: m.update(extra=np.zeros(3)), "unknown"),
    (lambda m: m.pop("velocity1"), "missing"),
    (lambda m: m.update(w0=np.array([object()] * 7, dtype=object)), "dtype"),
], ids=["shape", "nan", "dtype", "extra-member", "missing-member", "pickle-object-array"])
def test_checkpoint_with_wrong_arrays_is_refused_naming_the_file(tmp_path, edit, message):
    members = valid_members(tmp_path)
    edit(members)
    path = tmp_path / "bad.npz"
    buf = io.BytesIO()
    np.savez(buf, **members)  # an object array goes in as a pickle: the loader must refuse it
    path.write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match=message) as exc:
        load_checkpoint(path)
    assert "bad.npz" in str(exc.value)


@pytest.mark.parametrize("edit,message", [
    (lambda h: h["network"].update(sizes=[12, 10**7, 3]), "parameters"),
    (lambda h: h["network"].update(sizes=[12, 2000, 3]), "implies"),
    (lambda h: h.update(version=2), "version"),
    (lambda h: h.update(epochs_done=-1), "'epochs_done' must be a whole number >= 0"),
    (lambda h: h["rng"]["state"].update(state=2**130), "'state' must be a whole number"),
    (lambda h: h["optimizer"].update(mu="0.9"), "should be"),
    (lambda h: h["training"]["options"].update(pickle="yes"), "unknown SGD option"),
    (lambda h: h.update(surprise=1), "unknown field 'surprise'"),
    (lambda h: h["history"].append({"epoch": [[[]]]}), "history"),
], ids=["huge-sizes", "sizes-vs-arrays", "version", "epochs", "rng", "type", "option", "key",
        "history"])
def test_checkpoint_with_a_wrong_header_is_refused(tmp_path, edit, message):
    path = rewrite(tmp_path / "bad.npz", valid_members(tmp_path), edit)
    with pytest.raises(ModelFileError, match=message):
        load_checkpoint(path)


def test_npy_header_declaring_a_billion_rows_is_refused_without_allocating(tmp_path):
    import tracemalloc
    members = valid_members(tmp_path)
    buf = io.BytesIO()
    np.savez(buf, **members)
    raw = buf.getvalue()
    # Same length, so the archive stays well formed: the padding gives room for the digits.
    old = b"'shape': (7, 12), }   "
    assert raw.count(old) == 2  # w0 and its velocity
    hostile = raw.replace(old, b"'shape': (9999999, 12)}", 1)
    path = tmp_path / "huge.npz"
    path.write_bytes(hostile)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError):
            load_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


# ---- the command line -------------------------------------------------------------------

TRAIN = ["--training-size", 10000, "--epochs", 4, "--seed", 11, "--momentum", 0.5,
         "--dropout", 0.1, "--dtype", "float64"]


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "network", *map(str, args)],
                          capture_output=True, text=True, timeout=300, **kw)


def cli_in_process(capsys, *args):
    """The command line without a new interpreter (for errors raised before training)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def start_and_signal(args, signum, after_line="Epoch 1:"):
    """Start the CLI, send ``signum`` once ``after_line`` is printed; (returncode, out, err)."""
    p = subprocess.Popen([sys.executable, "-m", "network", *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = []
    for line in p.stdout:
        out.append(line)
        if line.startswith(after_line):
            p.send_signal(signum)
            break
    rest, err = p.communicate(timeout=120)
    return p.returncode, "".join(out) + rest, err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("straight")
    r = cli("train", *TRAIN, "--save", folder / "model.json")
    assert r.returncode == 0, r.stderr
    return load_network(folder / "model.json")


def test_cli_sigint_stops_with_130_and_resume_gives_the_uninterrupted_model(tmp_path,
                                                                            uninterrupted):
    ck = tmp_path / "run.ckpt.npz"
    code, out, err = start_and_signal(["train", *TRAIN, "--checkpoint", ck], signal.SIGINT)
    assert code == 130, err
    assert f"resume with: python -m network train --resume {ck}" in err
    assert "Traceback" not in err
    done = load_checkpoint(ck).epochs_done
    assert 1 <= done < 4
    assert f"interrupted at epoch {done}" in err
    r = cli("train", "--resume", ck, "--save", tmp_path / "model.json",
            "--metrics", tmp_path / "m.json")
    assert r.returncode == 0, r.stderr
    assert same_parameters(load_network(tmp_path / "model.json"), uninterrupted)
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1, 2, 3]
    assert metrics["config"]["seed"] == 11


def test_cli_sigterm_stops_with_143_and_keeps_the_last_epoch(tmp_path, capsys):
    ck = tmp_path / "run.ckpt.npz"
    code, out, err = start_and_signal(["train", *TRAIN, "--checkpoint", ck], signal.SIGTERM)
    assert code == 143, err
    done = load_checkpoint(ck).epochs_done
    assert done >= 1 and f"terminated (SIGTERM) at epoch {done}" in err
    assert f"--resume {ck}" in err
    # a conflicting option is refused; the same value or --epochs (a new total) are fine
    r = cli_in_process(capsys, "train", "--resume", ck, "--eta", 3.0)
    assert r.returncode == 2 and "--eta 3.0 conflicts with the checkpoint" in r.stderr
    r = cli_in_process(capsys, "train", "--resume", ck, "--epochs", 0)
    assert r.returncode == 2 and "already holds" in r.stderr


def test_cli_refuses_a_corrupt_checkpoint_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    r = cli_in_process(capsys, "train", "--resume", bad)
    assert r.returncode == 2 and "bad.npz" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_refuses_a_checkpoint_whose_settings_are_not_the_command_lines(tmp_path, capsys):
    X, y = data(7, n_in=784, k=10)
    for name, config in [("api.npz", {"note": "an API run"}),
                         ("damaged.npz", {"sizes": "abc", "seed": True, "eta": [0.5]})]:
        train(Network([784, 5, 10], seed=1), (X, y), 1, 10, 0.5, checkpoint=tmp_path / name,
              config=config)
        r = cli_in_process(capsys, "train", "--resume", tmp_path / name)
        assert r.returncode == 2 and "not written by 'python -m network train'" in r.stderr
        assert "Traceback" not in r.stderr
