"""Benchmark: the NumPy VAE against the same VAE in PyTorch (CPU), side by side.

    python chapters/vae_benchmark.py [--epochs N] [--threads T] [--repeats R] [--seed S] [--out PATH]
    python chapters/vae_benchmark.py --adam-steps N     # Adam's step alone, compiled vs NumPy

Same architecture (784-400-20, ReLU), same loss (per-example Bernoulli
reconstruction summed over pixels plus KL summed over latent dims, averaged over
the batch), Adam 1e-3, batch 128, all 60,000 training images, float32, nn.Linear's
initialisation in both. Prints per-epoch training loss, test loss and seconds for
each implementation, and the median seconds per epoch over all timed epochs.

PyTorch is *not* a dependency: without it only the NumPy side runs. The thread
count is fixed before NumPy (OpenBLAS) or PyTorch load, so both get the same.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def threads_from_argv():
    """--threads, read before numpy is imported (its thread pools read the environment once)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--threads", default="1")
    return p.parse_known_args()[0].threads


for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = threads_from_argv()  # before numpy/torch load their thread pools

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from network.cli import options  # noqa: E402

from network.storage.atomic import atomic_write_text  # noqa: E402
from network.data.mnist import load_arrays  # noqa: E402
from network.base.optimizers import Adam  # noqa: E402
from network.vae import VAE  # noqa: E402
from network.vae.train import train  # noqa: E402


def parse():
    p = options.Parser(prog="chapters/vae_benchmark.py", description=__doc__.split("\n")[0])
    options.add(p, "epochs", default=3)
    p.add_argument("--threads", type=options.positive_int, default=1,
                   help="BLAS / PyTorch threads")
    p.add_argument("--repeats", type=options.positive_int, default=1,
                   help="repeat each run this many times")
    options.add(p, "seed", default=0)
    p.add_argument("--out", type=Path, default=None, help="write the numbers here as JSON")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--adam-steps", type=options.non_negative_int, default=0, metavar="N",
                   help="only time N Adam steps on this VAE's parameters, compiled pass vs NumPy")
    return p.parse_args()


ARGS = parse()


def data():
    (Xtr, _), (Xva, _), (Xte, _) = load_arrays("mnist", dtype=np.float32)
    return np.concatenate([Xtr, Xva]), Xte


def run_numpy(X, X_test, epochs, seed):
    rng = np.random.default_rng(seed)
    model = VAE(20, (400,), "relu", rng=rng, dtype=np.float32)
    history = train(model, X, epochs, 128, Adam(1e-3), 1.0, rng, X_test=X_test,
                    callbacks=[lambda m, r: print(
                        f"  numpy   epoch {r['epoch']}: train {r['train_loss']:.2f} "
                        f"test {r['test_loss']:.2f} {r['seconds']:.2f} s", flush=True)])
    return [{k: r[k] for k in ("train_loss", "test_loss", "seconds")} for r in history]


def run_torch(X, X_test, epochs, seed):
    import torch  # optional: only here
    from torch import nn
    from torch.nn import functional as F

    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(seed)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc_mu, self.fc_lv = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x):
            h = F.relu(self.fc1(x))
            mu, lv = self.fc_mu(h), self.fc_lv(h)
            z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
            return self.fc4(F.relu(self.fc3(z))), mu, lv

    def loss_fn(logits, x, mu, lv):
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + lv - mu.pow(2) - lv.exp())
        return (rec + kl) / x.shape[0]

    model = TorchVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt, Xv = torch.from_numpy(X), torch.from_numpy(X_test)
    out = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(Xt))
        total = 0.0
        model.train()
        for i in range(0, len(Xt), 128):
            xb = Xt[perm[i:i + 128]]
            opt.zero_grad()
            logits, mu, lv = model(xb)
            loss = loss_fn(logits, xb, mu, lv)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        seconds = time.perf_counter() - t0
        test = 0.0
        with torch.no_grad():
            for i in range(0, len(Xv), 1000):
                xb = Xv[i:i + 1000]
                logits, mu, lv = model(xb)
                test += loss_fn(logits, xb, mu, lv).item() * len(xb)
        test /= len(Xv)
        out.append({"train_loss": total / len(Xt), "test_loss": test, "seconds": seconds})
        print(f"  pytorch epoch {len(out) - 1}: train {total / len(Xt):.2f} test {test:.2f} {seconds:.2f} s",
              flush=True)
    return out


def time_adam(steps, seed):
    """Milliseconds per Adam step over the 784-400-20 VAE's parameters (float32), with the
    compiled pass and with NumPy, best of five rounds of ``steps`` steps, after checking
    that both paths give the same parameters bit for bit."""
    rng = np.random.default_rng(seed)
    model = VAE(20, (400,), "relu", rng=rng, dtype=np.float32)
    grads = [(rng.standard_normal(p.shape) * 1e-2).astype(np.float32) for p in model.parameters()]
    out = {}
    for compiled in (True, False):
        params, opt = [p.copy() for p in model.parameters()], Adam(1e-3)
        opt.step(params, grads, compiled=compiled)          # compile, allocate
        rounds = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(steps):
                opt.step(params, grads, compiled=compiled)
            rounds.append((time.perf_counter() - t0) / steps)
        out[compiled] = (min(rounds), params)
    same = all(np.array_equal(a, b) for a, b in zip(out[True][1], out[False][1]))
    n = sum(p.size for p in model.parameters())
    print(f"Adam, {n} float32 parameters: compiled pass {1e3 * out[True][0]:.2f} ms a step, "
          f"NumPy {1e3 * out[False][0]:.2f} ms; same parameters bit for bit: {same}")


def main():
    if ARGS.adam_steps:
        return time_adam(ARGS.adam_steps, ARGS.seed)
    X, X_test = data()
    results = {"threads": ARGS.threads, "epochs": ARGS.epochs, "numpy": [], "torch": []}
    try:
        if ARGS.no_torch:
            raise ImportError
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch not installed: timing the NumPy VAE only")
    for r in range(ARGS.repeats):
        results["numpy"].append(run_numpy(X, X_test, ARGS.epochs, ARGS.seed + r))
        if have_torch:
            results["torch"].append(run_torch(X, X_test, ARGS.epochs, ARGS.seed + r))
    print(f"threads {ARGS.threads}; per epoch: train loss / test loss / seconds (repeat 1)")
    print(f"{'epoch':>5}  {'numpy':>26}  {'pytorch':>26}")
    for e in range(ARGS.epochs):
        a = results["numpy"][0][e]
        row = f"{e:5d}  {a['train_loss']:8.2f} {a['test_loss']:8.2f} {a['seconds']:7.2f} s"
        if have_torch:
            b = results["torch"][0][e]
            row += f"  {b['train_loss']:8.2f} {b['test_loss']:8.2f} {b['seconds']:7.2f} s"
        print(row)
    for name in ("numpy", "torch"):
        secs = [e["seconds"] for rep in results[name] for e in rep]
        if secs:
            results[f"{name}_median_seconds"] = statistics.median(secs)
            print(f"{name}: median {statistics.median(secs):.2f} s per epoch over {len(secs)} epochs "
                  f"(min {min(secs):.2f}, max {max(secs):.2f})")
    if ARGS.out:
        atomic_write_text(ARGS.out, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
