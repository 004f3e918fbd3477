"""The optimisers against their textbook update rules, written out independently here."""

import numpy as np
import pytest

from network.errors import UsageError
from network.base import optimizers
from network.base.optimizers import SGD, Adam, Momentum


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((5, 4)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(7)]
    return params, grads


def test_adam_follows_the_papers_bias_corrected_update():
    params, grads = _problem()
    ours = [p.copy() for p in params]
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    opt = Adam(lr, b1, b2, eps)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, g in enumerate(grads, start=1):
        opt.step(ours, g)
        for p, gi, mi, vi in zip(params, g, m, v):
            mi[:] = b1 * mi + (1 - b1) * gi
            vi[:] = b2 * vi + (1 - b2) * gi ** 2
            p -= lr * (mi / (1 - b1 ** t)) / (np.sqrt(vi / (1 - b2 ** t)) + eps)
    for a, b in zip(ours, params):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_adam_in_float32_stays_float32_and_close_to_float64():
    params, grads = _problem(1)
    p64 = [p.copy() for p in params]
    p32 = [p.astype(np.float32) for p in params]
    a64, a32 = Adam(1e-2), Adam(1e-2)
    for g in grads:
        a64.step(p64, g)
        a32.step(p32, [x.astype(np.float32) for x in g])
    assert all(p.dtype == np.float32 for p in p32)
    for a, b in zip(p32, p64):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adams_compiled_pass_gives_the_numpy_numbers_bit_for_bit(dtype):
    # Without numba, _adam_pass is the same function run as Python: it must agree too.
    rng = np.random.default_rng(5)
    shapes = [(30, 17), (17,), (3, 4)]
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    runs = {}
    for compiled in (True, False):
        params, opt = [p.copy() for p in start], Adam(3e-3)
        gen = np.random.default_rng(6)
        for _ in range(25):
            grads = [(gen.standard_normal(s) * 10.0 ** gen.integers(-6, 2)).astype(dtype)
                     for s in shapes]
            opt.step(params, grads, compiled=compiled)
        runs[compiled] = params + opt.m + opt.v
    for a, b in zip(runs[True], runs[False]):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgds_compiled_pass_gives_the_numpy_numbers_bit_for_bit_on_any_thread_count(dtype):
    """p -= eta * g, compiled (the large array shared among threads) or NumPy's."""
    from network.base.jit import max_threads, threads
    rng = np.random.default_rng(8)
    shapes = [(300, 290), (17,), (3, 4)]                  # 87,000 numbers: threaded
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [(rng.standard_normal(s) * 10.0 ** rng.integers(-6, 2)).astype(dtype) for s in shapes]
    runs = []
    for compiled, n in [(False, 1)] + [(True, n) for n in range(1, min(max_threads(), 2) + 1)]:
        params = [p.copy() for p in start]
        with threads(n):
            for eta in (0.1, 3.0, 1e-3):
                SGD(eta).step(params, grads, compiled=compiled)
        runs.append(params)
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)


def test_adam_uses_the_compiled_pass_only_where_it_can(monkeypatch):
    calls = []
    monkeypatch.setattr(optimizers, "_adam_pass", lambda p, *rest: calls.append(p.shape))
    params = [np.zeros((4, 3)), np.zeros(3), np.zeros((3, 4))]
    grads = [np.ones((4, 3)), np.ones(3), np.ones((4, 3)).T]   # the last not C-contiguous
    Adam().step(params, grads, compiled=True)
    assert calls == [(12,), (3,)]                              # flat views; the third by NumPy
    assert np.all(params[2] < 0) and np.all(params[0] == 0)    # NumPy moved it, the spy did not
    Adam().step(params, grads, compiled=False)
    assert len(calls) == 2


def test_adam_takes_arrays_the_compiled_pass_cannot_through_numpy():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 8))
    grads = [rng.standard_normal((8, 6)).T, rng.standard_normal(6).astype(np.float32)]
    results = []
    for compiled in (True, False):
        params = [base.copy(), np.zeros(6)]
        opt = Adam(1e-2)
        opt.step(params, grads, compiled=compiled)    # a transposed gradient, a float32 one
        opt.step(params, grads, compiled=compiled)
        results.append(params)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(results[0][0], base)


def test_momentum_and_sgd_follow_their_rules():
    params, grads = _problem(2)
    sgd, mom = [p.copy() for p in params], [p.copy() for p in params]
    ref_sgd, ref_mom = [p.copy() for p in params], [p.copy() for p in params]
    vel = [np.zeros_like(p) for p in params]
    o_sgd, o_mom = SGD(0.1), Momentum(0.1, 0.8)
    for g in grads:
        o_sgd.step(sgd, g)
        o_mom.step(mom, g)
        for p, q, v, gi in zip(ref_sgd, ref_mom, vel, g):
            p -= 0.1 * gi
            v[:] = 0.8 * v - 0.1 * gi
            q += v
    for a, b in zip(sgd + mom, ref_sgd + ref_mom):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: SGD(-1.0), lambda: SGD("0.1"), lambda: Adam(0.0),
                                  lambda: Adam(1e-3, beta1=1.0), lambda: Momentum(0.1, float("nan")),
                                  lambda: Momentum(0.1, 10**400)])
def test_bad_hyperparameters_are_refused(make):
    with pytest.raises(UsageError):
        make()
