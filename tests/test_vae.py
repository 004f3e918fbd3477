"""Tests for network/vae: gradients by central differences, kernels, training, model files, CLI.

Gradient checks run in float64 on a small VAE (12 pixels, hidden 7 and 5,
latent 3) with eps held fixed, comparing every parameter's analytic gradient
with central differences; the measure is ||g - g_num|| / (||g|| + ||g_num||)
per parameter array, and it must be below 1e-6. A negative control swaps in
the classic bug (exp(logvar) used as the standard deviation) and the same
check must fail.
"""

import json

import numpy as np
import pytest

from network.errors import ModelFileError, UsageError
from network.base.optimizers import SGD, Adam
from network.vae import VAE, kl_divergence, kl_grad, reparameterise
from network.vae import model as vae_model
from network.vae.io import load, save
from network.vae.train import evaluate, train

TOL = 1e-6


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def numerical_gradients(model, x, beta, eps, h=1e-6):
    grads = []
    for p in model.parameters():
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            up = model.loss(x, beta, eps)[0]
            p[i] = old - h
            down = model.loss(x, beta, eps)[0]
            p[i] = old
            g[i] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def small_problem(seed, activation="tanh", m=4):
    rng = np.random.default_rng(seed)
    model = VAE(latent_dim=3, hidden=(7, 5), activation=activation, input_dim=12, rng=rng,
                dtype=np.float64)
    x = rng.random((m, 12))  # intensities in [0, 1], as MNIST
    eps = rng.standard_normal((m, 3))
    return model, x, eps


def worst_gradient_error(model, x, beta, eps):
    _, grads = model.loss_and_gradients(x, beta, eps)
    numeric = numerical_gradients(model, x, beta, eps)
    return max(rel_error(g, n) for g, n in zip(grads, numeric))


@pytest.mark.parametrize("activation,seed,beta", [("tanh", 0, 1.0), ("silu", 1, 1.0),
                                                  ("relu", 2, 1.0), ("tanh", 3, 10.0),
                                                  ("relu", 4, 0.3)])
def test_full_loss_gradient_matches_finite_differences_for_every_parameter(activation, seed, beta):
    model, x, eps = small_problem(seed, activation)
    assert worst_gradient_error(model, x, beta, eps) < TOL


def test_gradient_check_fails_when_exp_logvar_is_treated_as_the_std(monkeypatch):
    """Negative control: the numpy-ml bug, sigma = exp(logvar) in the backward pass only."""
    model, x, eps = small_problem(5, "tanh")
    assert worst_gradient_error(model, x, 1.0, eps) < TOL  # the real code passes ...

    def wrong(delta_z, mu, logvar, eps, beta_over_m):
        delta_mu = delta_z + beta_over_m * mu
        delta_logvar = delta_z * eps * np.exp(logvar) + beta_over_m * 0.5 * (np.exp(logvar) - 1)
        return delta_mu, delta_logvar

    monkeypatch.setattr(vae_model, "reparameterise_backward", wrong)
    assert worst_gradient_error(model, x, 1.0, eps) > 1e-3  # ... and the checker catches the bug


def test_gradient_check_fails_when_the_kl_gradient_is_dropped(monkeypatch):
    model, x, eps = small_problem(6, "silu")
    original = vae_model.reparameterise_backward
    monkeypatch.setattr(vae_model, "reparameterise_backward",
                        lambda dz, mu, lv, e, b: original(dz, mu, lv, e, 0.0))
    assert worst_gradient_error(model, x, 1.0, eps) > 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    g_mu, g_lv = kl_grad(mu, logvar)
    h = 1e-6
    num_mu, num_lv = np.zeros_like(mu), np.zeros_like(logvar)
    for i in np.ndindex(mu.shape):
        for arr, num in ((mu, num_mu), (logvar, num_lv)):
            old = arr[i]
            arr[i] = old + h
            up = kl_divergence(mu, logvar).sum()
            arr[i] = old - h
            down = kl_divergence(mu, logvar).sum()
            arr[i] = old
            num[i] = (up - down) / (2 * h)
    assert rel_error(g_mu, num_mu) < TOL and rel_error(g_lv, num_lv) < TOL


def test_kl_is_zero_exactly_at_the_prior_and_positive_elsewhere():
    assert np.all(kl_divergence(np.zeros((2, 3)), np.zeros((2, 3))) == 0)
    rng = np.random.default_rng(0)
    assert np.all(kl_divergence(rng.standard_normal((50, 3)), rng.standard_normal((50, 3))) > 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_reparameterisation_gradient_matches_finite_differences(seed):
    """The sampling step alone: L = sum(c * z) with z = mu + exp(logvar/2) eps, beta = 0."""
    rng = np.random.default_rng(seed)
    mu, logvar, eps, c = (rng.standard_normal((3, 4)) for _ in range(4))
    d_mu, d_lv = vae_model.reparameterise_backward(c, mu, logvar, eps, 0.0)
    h = 1e-6
    for arr, analytic in ((mu, d_mu), (logvar, d_lv)):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + h
            up = np.sum(c * reparameterise(mu, logvar, eps))
            arr[i] = old - h
            down = np.sum(c * reparameterise(mu, logvar, eps))
            arr[i] = old
            num[i] = (up - down) / (2 * h)
        assert rel_error(analytic, num) < TOL


def test_reparameterisation_uses_the_standard_deviation():
    z = reparameterise(np.array([[1.0]]), np.array([[np.log(4.0)]]), np.array([[1.0]]))
    assert z[0, 0] == pytest.approx(3.0)  # 1 + sqrt(4) * 1, not 1 + 4 * 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_loss_and_delta_match_the_plain_formulas(dtype):
    from network.vae.loss import reconstruction, reconstruction_and_delta, reconstruction_grad
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((9, 50)) * 30).astype(dtype)  # includes large |logits|
    x = rng.random((9, 50)).astype(dtype)
    delta = np.empty_like(logits)
    rec = reconstruction_and_delta(logits, x, 0.25, delta)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(rec, reconstruction(logits, x), rtol=tol)
    np.testing.assert_allclose(delta, 0.25 * reconstruction_grad(logits, x), rtol=tol, atol=tol)


def test_loss_is_finite_for_extreme_logits():
    from network.vae.loss import reconstruction, reconstruction_grad
    logits = np.array([[-1000.0, 1000.0, 0.0]])
    x = np.array([[0.0, 1.0, 0.5]])
    assert np.allclose(reconstruction(logits, x), [np.log(2.0)])
    assert np.all(np.isfinite(reconstruction_grad(logits, x)))


def prototype_data(n, seed):
    """Synthetic 'digits': 5 random binary 8x8 prototypes with 10% of pixels flipped."""
    rng = np.random.default_rng(1234)
    protos = (rng.random((5, 64)) < 0.3).astype(float)
    rng = np.random.default_rng(seed)
    X = protos[rng.integers(0, 5, n)]
    flip = rng.random(X.shape) < 0.1
    return np.abs(X - flip)


def test_short_training_run_lowers_the_held_out_loss():
    X_train, X_test = prototype_data(400, 0), prototype_data(200, 1)
    rng = np.random.default_rng(0)
    model = VAE(4, (32,), "relu", 64, rng=rng, dtype=np.float32)
    before = evaluate(model, X_test, rng=np.random.default_rng(9))[0]
    history = train(model, X_train, 4, 32, Adam(1e-2), 1.0, rng, X_test=X_test)
    assert history is model.history and [r["epoch"] for r in history] == [0, 1, 2, 3]
    assert history[-1]["test_loss"] < history[0]["test_loss"] < before
    assert history[-1]["test_loss"] < 0.8 * before
    assert len(model.steps["kl"]) == 4 * 13 and history[0]["eta"] == 1e-2


@pytest.mark.parametrize("optimizer", [lambda: Adam(1e-3), lambda: SGD(0.05)])
def test_same_seed_gives_the_same_result(optimizer):
    X = prototype_data(200, 0)

    def run():
        rng = np.random.default_rng(42)
        model = VAE(3, (16,), "silu", 64, rng=rng, dtype=np.float64)
        h = train(model, X, 2, 50, optimizer(), 1.0, rng, X_test=X[:50])
        return model, h

    (m1, h1), (m2, h2) = run(), run()
    assert m1.steps == m2.steps
    assert [r["test_loss"] for r in h1] == [r["test_loss"] for r in h2]
    assert all(np.array_equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_saved_vae_loads_identically(tmp_path, suffix):
    model = VAE(5, (30, 20), "silu", 64, rng=np.random.default_rng(0))
    back = load(save(model, tmp_path / f"m{suffix}"))
    assert (back.latent_dim, back.hidden, back.activation.name, back.dtype) == (5, (30, 20), "silu", model.dtype)
    assert all(np.array_equal(a, b) for a, b in zip(model.parameters(), back.parameters()))
    x = prototype_data(3, 0)
    np.testing.assert_array_equal(back.reconstruct(x), model.reconstruct(x))


def _json_model(tmp_path):
    path = save(VAE(2, (6,), "tanh", 10, rng=np.random.default_rng(0)), tmp_path / "m.json")
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("corrupt,fault", [
    (lambda d: d.update(format="nndl-network"), "format"),
    (lambda d: d.update(activation="sigmoid"), "activation"),
    (lambda d: d.update(latent_dim=0), "latent_dim"),
    (lambda d: d.update(hidden=[10**9]), "hidden"),
    (lambda d: d.update(hidden=[60000, 60000]), "parameters"),
    (lambda d: d["parameters"].pop("mu.bias"), "missing"),
    (lambda d: d["parameters"].update(extra=[1.0]), "unknown"),
    (lambda d: d["parameters"]["mu.weight"].pop(), "shape"),
    (lambda d: d["parameters"]["mu.bias"].__setitem__(0, ["x"]), "rectangular"),
    (lambda d: d.update(surprise=1), "unknown.*surprise"),
])
def test_corrupt_json_vae_file_is_refused_naming_file_and_fault(tmp_path, corrupt, fault):
    path, doc = _json_model(tmp_path)
    corrupt(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=fault) as info:
        load(path)
    assert str(path) in str(info.value)


def test_non_finite_and_truncated_files_are_refused(tmp_path):
    path, doc = _json_model(tmp_path)
    path.write_text(json.dumps(doc).replace("0.", "NaN, 0.", 1))
    with pytest.raises(ModelFileError, match="m.json"):
        load(path)
    npz = save(VAE(2, (6,), "tanh", 10, rng=np.random.default_rng(0)), tmp_path / "m.npz")
    npz.write_bytes(npz.read_bytes()[:300])
    with pytest.raises(ModelFileError, match="m.npz"):
        load(npz)


def test_npz_with_pickled_object_or_nan_is_refused(tmp_path):
    model = VAE(2, (6,), "tanh", 10, rng=np.random.default_rng(0))
    arrays = dict(zip(model.parameter_names(), model.parameters()))
    meta = np.load(save(model, tmp_path / "ok.npz"))["__meta__"]
    evil = dict(arrays)
    evil["mu.bias"] = np.array([[object()]] * 2, dtype=object)
    np.savez(tmp_path / "evil.npz", __meta__=meta, **evil)
    with pytest.raises(ModelFileError, match="evil.npz"):
        load(tmp_path / "evil.npz")
    bad = dict(arrays)
    bad["decoder.0.weight"] = np.full_like(bad["decoder.0.weight"], np.inf)
    np.savez(tmp_path / "inf.npz", __meta__=meta, **bad)
    with pytest.raises(ModelFileError, match="decoder.0.weight.*infinite"):
        load(tmp_path / "inf.npz")


def test_save_refuses_an_unknown_suffix(tmp_path):
    with pytest.raises(UsageError, match="npz"):
        save(VAE(2, (6,), rng=np.random.default_rng(0)), tmp_path / "m.pkl")


def test_cli_vae_train_writes_metrics_and_model(tmp_path, monkeypatch, capsys):
    import argparse

    from network.cli import vae as cli_vae
    X = prototype_data(300, 0)
    monkeypatch.setattr(cli_vae, "load_vae_data",
                        lambda *a, **k: (X[:200], np.zeros(200, int), X[200:], np.zeros(100, int)))
    parser = argparse.ArgumentParser()
    cli_vae.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["vae", "train", "--latent-dim", "2", "--hidden", "16", "--epochs", "2",
                              "--mini-batch-size", "50", "--seed", "3", "--metrics", str(tmp_path / "m.json"),
                              "--save", str(tmp_path / "vae.npz")])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "Epoch 0: train loss" in out and "Epoch 1: train loss" in out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(metrics) == {"config", "epochs", "steps", "summary"}   # every trainer's layout
    assert [r["epoch"] for r in metrics["epochs"]] == [0, 1]
    for key in ("train_loss", "test_loss", "kl", "reconstruction", "seconds", "eta"):
        assert all(isinstance(r[key], float) for r in metrics["epochs"])
    assert len(metrics["steps"]["kl"]) == 8 and metrics["config"]["seed"] == 3
    assert metrics["summary"]["epochs"] == 2
    assert load(tmp_path / "vae.npz").latent_dim == 2


def test_cli_vae_train_refuses_a_model_file_name_it_cannot_write(monkeypatch):
    import argparse

    from network.cli import vae as cli_vae
    parser = argparse.ArgumentParser()
    cli_vae.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["vae", "train", "--save", "model.pkl"])
    with pytest.raises(UsageError, match="model.pkl"):
        args.run(args)


@pytest.mark.parametrize("hidden,activation", [((), "tanh"), ((6, 5, 4), "silu")])
def test_gradient_check_holds_for_no_and_for_three_hidden_layers(hidden, activation):
    rng = np.random.default_rng(7)
    model = VAE(2, hidden, activation, 12, rng=rng, dtype=np.float64)
    x, eps = rng.random((4, 12)), rng.standard_normal((4, 2))
    assert worst_gradient_error(model, x, 2.0, eps) < TOL


def test_npz_member_whose_header_declares_a_huge_array_is_refused_before_reading(tmp_path):
    import zipfile
    path = save(VAE(2, (5,), "relu", 6, rng=np.random.default_rng(0)), tmp_path / "m.npz")
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = ("{'descr': '<f8', 'fortran_order': False, 'shape': (2000000000000000,), }".ljust(118)
              + "\n").encode()
    members["encoder.0.weight.npy"] = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ModelFileError, match=r"m.npz: array 'encoder.0.weight' has shape \(2000000000000000,\)"):
        load(path)
