"""VAE checkpoints: a run stopped after any epoch (or killed by a signal) and resumed ends with the
model and metrics of a run never stopped, bit for bit; damaged, hostile or foreign checkpoint
files and contradicting options are refused in one line with exit status 2."""

import json
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from network import Network
from network.cli import main
from network.cli import vae as cli_vae
from network.errors import ModelFileError, UsageError
from network.base.optimizers import SGD, Adam
from network.mlp.resumable import train as train_network
from network.vae import io as vae_io
from network.vae.checkpoint import load_checkpoint, save_checkpoint
from network.vae.model import VAE
from network.vae.resumable import resume, train
from test_checkpoint import members_of, rewrite  # the same .npz surgery

SMALL = ["--training-size", 600, "--test-size", 200, "--hidden", 32, "--latent-dim", 2,
         "--seed", 3]
ROWS = (3000, 200)  # the most training and test images any test here uses


@pytest.fixture(scope="module")
def mnist():
    """The first MNIST images as the VAE command loads them (float32), read once per module."""
    X, y, Xt, yt = cli_vae.load_vae_data("mnist", None, np.float32)
    return X[:ROWS[0]].copy(), y[:ROWS[0]].copy(), Xt[:ROWS[1]].copy(), yt[:ROWS[1]].copy()


@pytest.fixture
def cli(mnist, monkeypatch, capsys):
    """The command line in this process, on the cached images; returns (status, out, err)."""
    def fake_load(dataset, path, dtype):
        assert dataset == "mnist" and np.dtype(dtype) == np.float32
        return mnist
    monkeypatch.setattr(cli_vae, "load_vae_data", fake_load)

    def run(*args):
        code = main(["vae", "train", *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def without_seconds(metrics):
    """Per-epoch records (a history, or a metrics file's "epochs") minus the wall-clock
    seconds, the one entry no rerun reproduces."""
    records = metrics["epochs"] if isinstance(metrics, dict) else metrics
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def same_model(a, b):
    return (a.parameter_names() == b.parameter_names()
            and all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters())))


class StopAt:
    """Epoch callback raising KeyboardInterrupt when ``epoch`` (counted from 0) is reported:
    that epoch is never saved, as with a Ctrl-C during it."""

    def __init__(self, epoch):
        self.epoch = epoch

    def __call__(self, model, record):
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def fresh(make_optimizer, seed=3):
    rng = np.random.default_rng(seed)
    return VAE(2, [32], "relu", 784, rng=rng, dtype=np.float32), make_optimizer(), rng


# ---- the library: train, interrupt, resume --------------------------------------------------

@pytest.mark.parametrize("make_optimizer", [lambda: Adam(1e-3), lambda: SGD(3e-3)],
                         ids=["adam", "sgd"])
@pytest.mark.parametrize("saved_epochs", [0, 1, 2])
def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(tmp_path, mnist, make_optimizer,
                                                              saved_epochs):
    X, _, Xt, _ = mnist
    X = X[:600]
    model, opt, rng = fresh(make_optimizer)
    history = train(model, X, 3, 128, opt, 1.0, rng, Xt, checkpoint=tmp_path / "a.npz")

    stopped, opt2, rng2 = fresh(make_optimizer)
    with pytest.raises(KeyboardInterrupt):
        train(stopped, X, 3, 128, opt2, 1.0, rng2, Xt, checkpoint=tmp_path / "b.npz",
              callbacks=[StopAt(saved_epochs)])
    assert load_checkpoint(tmp_path / "b.npz").epochs_done == saved_epochs

    resumed, resumed_history = resume(tmp_path / "b.npz", X, Xt)
    assert same_model(model, resumed)
    assert without_seconds(resumed_history) == without_seconds(history)
    assert [r["epoch"] for r in resumed_history] == [0, 1, 2]
    assert resumed.steps == model.steps and len(resumed.steps["kl"]) == 15
    ck = load_checkpoint(tmp_path / "b.npz")
    assert ck.epochs_done == 3 and ck.epochs_remaining == 0
    assert ck.rng.bit_generator.state == rng.bit_generator.state
    assert ck.optimizer.state_dict().keys() == opt.state_dict().keys()
    if isinstance(opt, Adam):
        assert ck.optimizer.t == opt.t == 15
        assert all(np.array_equal(a, b) for a, b in zip(ck.optimizer.m + ck.optimizer.v,
                                                        opt.m + opt.v))


def forget_rng(ck):
    ck.rng = np.random.default_rng(99)


def forget_adam(ck):
    ck.optimizer.m = ck.optimizer.v = None
    ck.optimizer.t = 0


def forget_eval_seed(ck):
    ck.training["eval_seed"] += 1


@pytest.mark.parametrize("forget", [forget_rng, forget_adam, forget_eval_seed])
def test_a_resume_that_forgets_any_piece_of_state_is_caught_by_the_comparison(tmp_path, mnist,
                                                                               forget):
    """Negative controls for the test above: each piece of state matters, so its equality
    assertions can fail."""
    X, _, Xt, _ = mnist
    X = X[:600]
    model, opt, rng = fresh(lambda: Adam(1e-3))
    history = train(model, X, 3, 128, opt, 1.0, rng, Xt, checkpoint=tmp_path / "a.npz")
    stopped, opt2, rng2 = fresh(lambda: Adam(1e-3))
    with pytest.raises(KeyboardInterrupt):
        train(stopped, X, 3, 128, opt2, 1.0, rng2, Xt, checkpoint=tmp_path / "b.npz",
              callbacks=[StopAt(1)])
    ck = load_checkpoint(tmp_path / "b.npz")
    forget(ck)
    resumed, resumed_history = resume(tmp_path / "b.npz", X, Xt, loaded=ck,
                                      checkpoint=tmp_path / "c.npz")
    assert [r["test_loss"] for r in resumed_history] != [r["test_loss"] for r in history]
    if forget is not forget_eval_seed:  # that seed changes only the held-out noise
        assert not same_model(model, resumed)


def test_resume_refuses_other_images_and_fewer_epochs_than_done(tmp_path, mnist):
    X, _, Xt, _ = mnist
    model, opt, rng = fresh(lambda: Adam(1e-3))
    train(model, X[:600], 2, 128, opt, 1.0, rng, Xt, checkpoint=tmp_path / "c.npz")
    with pytest.raises(UsageError, match="images differ"):
        resume(tmp_path / "c.npz", X[600:1200], Xt)
    with pytest.raises(UsageError, match="images differ"):
        resume(tmp_path / "c.npz", X[:600], Xt[:100])
    with pytest.raises(UsageError, match="already done"):
        resume(tmp_path / "c.npz", X[:600], Xt, epochs=1)


def test_non_finite_state_is_never_checkpointed_and_the_old_file_stays(tmp_path, mnist):
    X, _, Xt, _ = mnist
    model, opt, rng = fresh(lambda: Adam(1e-3))
    path = tmp_path / "d.npz"
    history = train(model, X[:600], 1, 128, opt, 1.0, rng, Xt, checkpoint=path)
    before = path.read_bytes()
    model.mu_weight[0, 0] = np.nan
    training = {"epochs": 2, "batch_size": 128, "beta": 1.0, "training_size": 600, "eval_seed": 1}
    with pytest.raises(UsageError, match="NaN or infinite"):
        save_checkpoint(path, model, opt, rng, training)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


# ---- the command line ------------------------------------------------------------------------

def test_cli_resume_extends_a_run_to_the_uninterrupted_model_and_metrics(tmp_path, cli):
    code, _, err = cli(*SMALL, "--epochs", 3, "--checkpoint", tmp_path / "a.npz",
                       "--save", tmp_path / "a.model.npz", "--metrics", tmp_path / "a.json")
    assert code == 0, err
    code, _, err = cli(*SMALL, "--epochs", 1, "--checkpoint", tmp_path / "b.npz")
    assert code == 0, err
    code, out, err = cli("--resume", tmp_path / "b.npz", "--epochs", 3,
                         "--save", tmp_path / "b.model.npz", "--metrics", tmp_path / "b.json")
    assert code == 0, err
    assert "Resuming" in out and "Epoch 0:" not in out and "Epoch 2:" in out
    assert same_model(vae_io.load(tmp_path / "a.model.npz"), vae_io.load(tmp_path / "b.model.npz"))
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert without_seconds(a) == without_seconds(b)
    assert len(b["epochs"]) == 3 and b["config"]["epochs"] == 3
    assert a["steps"] == b["steps"] and len(b["steps"]["kl"]) == 15
    # the file is done: resuming again trains nothing and changes nothing
    code, out, _ = cli("--resume", tmp_path / "b.npz", "--save", tmp_path / "c.model.npz")
    assert code == 0 and "nothing to train" in out
    assert same_model(vae_io.load(tmp_path / "a.model.npz"), vae_io.load(tmp_path / "c.model.npz"))


KILL = ["--training-size", 3000, "--test-size", 200, "--hidden", 32, "--latent-dim", 2,
        "--seed", 5, "--epochs", 40]  # ~40 ms an epoch: the signal lands long before the end


@pytest.mark.slow   # two 40-epoch runs and a killed one: left out by -m "not slow"
@pytest.mark.parametrize("signum,status,what", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_killed_cli_run_stops_cleanly_and_resumes_to_the_uninterrupted_result(
        tmp_path, cli, signum, status, what):
    code, _, err = cli(*KILL, "--save", tmp_path / "straight.npz", "--metrics",
                       tmp_path / "straight.json")
    assert code == 0, err

    ck = tmp_path / "run.ckpt.npz"
    p = subprocess.Popen([sys.executable, "-m", "network", "vae", "train",
                          *map(str, KILL), "--checkpoint", str(ck)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("Epoch 1:"):  # reported after epoch 0 is on disk, before 1 is
            p.send_signal(signum)
            break
    _, err = p.communicate(timeout=120)
    assert p.returncode == status, err
    done = load_checkpoint(ck).epochs_done
    assert 1 <= done < 40, "the run ended before the signal arrived: make it longer"
    epochs = f"{done} complete epoch" + ("s" if done != 1 else "")
    assert err.strip() == (f"{what} at epoch {done}; {ck} holds {epochs}; resume with: "
                           f"python -m network vae train --resume {ck}")

    code, out, err = cli("--resume", ck, "--save", tmp_path / "resumed.npz",
                         "--metrics", tmp_path / "resumed.json")
    assert code == 0, err
    assert f"Epoch {done}:" in out and "Epoch 39:" in out
    assert same_model(vae_io.load(tmp_path / "straight.npz"), vae_io.load(tmp_path / "resumed.npz"))
    straight, resumed = (json.loads((tmp_path / f"{n}.json").read_text())
                         for n in ("straight", "resumed"))
    assert without_seconds(straight) == without_seconds(resumed)


@pytest.fixture
def checkpoint_file(tmp_path, cli):
    """A checkpoint of a 2-epoch command-line run."""
    path = tmp_path / "ok.npz"
    code, _, err = cli(*SMALL, "--epochs", 2, "--checkpoint", path)
    assert code == 0, err
    return path


def test_cli_refuses_options_that_contradict_the_checkpoint(checkpoint_file, cli):
    for option, value, setting in [("--latent-dim", 3, "latent_dim 2"),
                                   ("--optimizer", "sgd", "optimizer adam"),
                                   ("--hidden", 64, "hidden [32]"),
                                   ("--seed", 4, "seed 3")]:
        code, _, err = cli("--resume", checkpoint_file, option, value)
        assert code == 2
        assert err.strip() == (f"python -m network vae train: error: {option} {value} conflicts with "
                               f"the checkpoint {checkpoint_file}, which was trained with "
                               f"{setting}; leave the option out to resume, or start a new run "
                               f"without --resume")
    code, _, err = cli("--resume", checkpoint_file, "--epochs", 1)
    assert code == 2 and "already holds 2 epochs" in err
    # the same values again are no conflict
    code, out, err = cli("--resume", checkpoint_file, *SMALL, "--epochs", 3)
    assert code == 0, err
    assert "Epoch 2:" in out and load_checkpoint(checkpoint_file).epochs_done == 3


def test_cli_refuses_a_checkpoint_the_library_wrote_without_the_command_lines_settings(
        tmp_path, mnist, cli):
    X, _, Xt, _ = mnist
    model, opt, rng = fresh(lambda: Adam(1e-3))
    train(model, X[:600], 1, 128, opt, 1.0, rng, Xt, checkpoint=tmp_path / "api.npz",
          config={"note": "an API run"})
    code, _, err = cli("--resume", tmp_path / "api.npz")
    assert code == 2 and "not written by 'python -m network vae train'" in err
    assert len(err.strip().splitlines()) == 1


# ---- refused files ---------------------------------------------------------------------------

def refused(cli, path, message):
    """Resuming ``path`` fails with status 2 and one line naming the file and ``message``."""
    code, out, err = cli("--resume", path)
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(path) in err and message in err, err
    assert "Epoch" not in out
    return err


class Unpickled:
    """Unpickling this creates ``marker``: proof the loader ran a pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_inside_the_npz_is_refused_and_never_run(tmp_path, checkpoint_file, cli):
    marker = tmp_path / "unpickled"
    members = members_of(checkpoint_file)
    members["mu.weight"] = np.array([Unpickled(marker)] * 4, dtype=object)
    path = rewrite(tmp_path / "pickle.npz", members)
    with zipfile.ZipFile(path) as z:  # the pickle really is in the file
        assert b"unpickled" in z.read("mu.weight.npy")
    refused(cli, path, "has dtype object")
    assert not marker.exists()


def test_truncated_and_bit_flipped_checkpoints_are_refused(tmp_path, checkpoint_file, cli):
    raw = checkpoint_file.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[:len(raw) // 2])
    refused(cli, truncated, "not a readable .npz")

    with zipfile.ZipFile(checkpoint_file) as z:
        info = z.getinfo("decoder.1.weight.npy")  # (784, 32) float32: 100 kB of weights
    flipped = bytearray(raw)
    flipped[info.header_offset + info.file_size // 2] ^= 0x10
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    refused(cli, tmp_path / "flipped.npz", "Bad CRC-32")


def test_a_classifier_checkpoint_is_refused_naming_the_command_that_resumes_it(tmp_path, cli,
                                                                                capsys):
    rng = np.random.default_rng(0)
    X, y = rng.random((50, 784)), rng.integers(0, 10, 50)
    train_network(Network([784, 5, 10], seed=1), (X, y), 1, 10, 0.5,
                  checkpoint=tmp_path / "net.npz")
    refused(cli, tmp_path / "net.npz",
            "holds a Network's training, not a VAE's training; resume it with: "
            "python -m network train --resume")
    # and the other way round
    vae_ck = tmp_path / "vae.npz"
    code, _, err = cli(*SMALL, "--epochs", 1, "--checkpoint", vae_ck)
    assert code == 0, err
    assert main(["train", "--resume", str(vae_ck)]) == 2
    assert "resume it with: python -m network vae train --resume" in capsys.readouterr().err


def nan_in(name):
    def edit(m):
        m[name] = np.full_like(m[name], np.nan)
    return edit


@pytest.mark.parametrize("edit,header_edit,message", [
    (nan_in("encoder.0.weight"), None, "contains NaN"),
    (nan_in("m3"), None, "contains NaN"),
    (lambda m: m.update(v0=-m["v0"] - 1), None, "must not be negative"),
    (lambda m: m.update({"mu.bias": m["mu.bias"][:1]}), None, "has shape"),
    (lambda m: m.update({"mu.bias": m["mu.bias"].astype(np.float64)}), None, "has dtype"),
    (lambda m: m.update(extra=np.zeros(3)), None, "unknown"),
    (lambda m: m.pop("v5"), None, "missing"),
    (None, lambda h: h["vae"].update(hidden=[60000, 60000]), "more than"),
    (None, lambda h: h["vae"].update(hidden=[4000]), "implies"),
    (None, lambda h: h.update(epochs_done=1), "history"),
    (lambda m: m.update(step_kl=m["step_kl"][:-1]), None, "'step_kl' has shape"),
    (nan_in("step_reconstruction"), None, "contains NaN"),
    (None, lambda h: h["history"].pop(), "'history' should hold"),
    (None, lambda h: h["training"].update(eval_seed=-1), "eval_seed' must be a whole number >= 0"),
    (None, lambda h: h["optimizer"].update(t="15"), "'t' should be a whole number"),
    (None, lambda h: h["rng"]["state"].update(state=2**130), "'state' must be a whole number"),
    (None, lambda h: h.update(version=3), "version"),
    (None, lambda h: h.update(surprise=1), "unknown field 'surprise'"),
], ids=["nan-weight", "nan-moment", "negative-v", "shape", "dtype", "extra-member",
        "missing-member", "absurd-size", "size-beyond-file", "epochs-vs-history",
        "short-step-history", "nan-step-history", "short-history", "eval-seed", "type", "rng", "version", "key"])
def test_hostile_checkpoints_are_refused_in_one_line(tmp_path, checkpoint_file, cli, edit,
                                                     header_edit, message):
    members = members_of(checkpoint_file)
    if edit is not None:
        edit(members)
    path = rewrite(tmp_path / "bad.npz", members, header_edit)
    refused(cli, path, message)
    with pytest.raises(ModelFileError):  # the library refuses it the same way
        load_checkpoint(path)


def test_fuzzed_vae_checkpoints_are_refused_or_load_sane(tmp_path):
    """Seeded byte, header and member damage (test_fuzz_files.py's generators): each file is
    refused with a ModelFileError naming it, or -- when the damage left a valid file -- loads
    as a consistent state; never another exception, never a large allocation."""
    from test_fuzz_files import (SEED, Fuzz, check_valid, damage_bytes, damage_json,
                                 damage_members, npz_bytes)

    rng = np.random.default_rng([SEED, 7])
    data = np.random.default_rng(0).random((40, 12))
    bases = []
    for make_optimizer in (lambda: Adam(1e-2), lambda: SGD(1e-2)):
        model, opt, model_rng = (VAE(2, [5], "tanh", 12, rng=np.random.default_rng(1)),
                                 make_optimizer(), np.random.default_rng(2))
        path = tmp_path / "base.npz"
        train(model, data, 2, 16, opt, 1.0, model_rng, data[:10], checkpoint=path,
              config={"run": "fuzz"})
        bases.append((path.read_bytes(), members_of(path)))

    def sane(ck):
        params = ck.model.parameters()
        state = ck.optimizer.state_dict()
        arrays = params + (state.get("m") or []) + (state.get("v") or [])
        if not all(np.all(np.isfinite(a)) for a in arrays):
            return "non-finite arrays"
        if len(ck.history) != ck.epochs_done or len(ck.model.steps["kl"]) % max(ck.epochs_done, 1):
            return "history does not match the epochs done"
        return None if ck.epochs_done <= ck.training["epochs"] else "more epochs done than planned"

    fuzz = Fuzz(tmp_path)
    for k, (raw, _) in enumerate(bases):
        check_valid(fuzz, f"vae checkpoint {k}", {".npz": raw}, load_checkpoint, sane)
    for i in range(300):
        raw, members = bases[rng.integers(len(bases))]
        choice = rng.random()
        if choice < 0.4:
            kind, blob = damage_bytes(raw, rng)
        elif choice < 0.75:
            kind, text = damage_json(json.loads(str(members["__checkpoint__"])), rng)
            blob = npz_bytes({**members, "__checkpoint__": np.array(text)})
        else:
            kind, damaged = damage_members(members, rng)
            blob = npz_bytes(damaged)
        fuzz.check(f"vae checkpoint case {i} ({kind})", "vae.ckpt.npz", blob, load_checkpoint,
                   sane, measure=i % 10 == 0)
    fuzz.report("VAE checkpoints")
