"""Tests for network/vae/latent.py: class mixtures (VAE-MIX), KL phases, sliders, tour."""

import itertools

import numpy as np
import pytest

from network.vae.latent import (class_mixture_moments, kl_phases, log_time_smooth,
                                mixture_density, shortest_tour, slider_codes)


@pytest.mark.parametrize("seed", [0, 1])
def test_mixture_moments_match_samples_from_the_mixture(seed):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.standard_normal((6, 2)), rng.standard_normal((6, 2)) - 1
    mean, cov = class_mixture_moments(mu, logvar)
    which = rng.integers(0, 6, 400_000)
    z = mu[which] + np.exp(0.5 * logvar[which]) * rng.standard_normal((400_000, 2))
    np.testing.assert_allclose(mean, z.mean(axis=0), atol=0.01)
    np.testing.assert_allclose(cov, np.cov(z.T), atol=0.02)


def test_mixture_moments_are_not_just_the_spread_of_the_means():
    """Negative control: dropping the average Sigma_i term gives a visibly wrong covariance."""
    mu, logvar = np.array([[0.0, 0.0], [2.0, 0.0]]), np.zeros((2, 2))
    _, cov = class_mixture_moments(mu, logvar)
    np.testing.assert_allclose(cov, [[2.0, 0.0], [0.0, 1.0]])  # 1 (within) + 1 (between) on axis 1
    assert not np.allclose(cov, np.cov(mu.T, bias=True))


def test_mixture_density_integrates_to_one_on_a_wide_grid():
    rng = np.random.default_rng(0)
    mu, logvar = rng.standard_normal((5, 2)), rng.standard_normal((5, 2)) * 0.3 - 1
    axis = np.linspace(-7, 7, 281)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    cell = (axis[1] - axis[0]) ** 2
    assert mixture_density(grid, mu, logvar, chunk=2).sum() * cell == pytest.approx(1.0, abs=1e-3)


def test_shortest_tour_matches_brute_force():
    points = np.random.default_rng(3).random((7, 4))
    order, length = shortest_tour(points)

    def path_length(p):
        return sum(np.linalg.norm(points[a] - points[b]) for a, b in zip(p, p[1:]))

    best = min(path_length(p) for p in itertools.permutations(range(7)))
    assert sorted(order) == list(range(7))
    assert length == pytest.approx(best) and path_length(order) == pytest.approx(best)


def test_slider_codes_sweep_one_dimension_at_a_time():
    codes = slider_codes(3, [-3, 0, 3])
    assert codes.shape == (3, 3, 3)
    assert np.array_equal(codes[1, :, 1], [-3, 0, 3]) and np.count_nonzero(codes[1][:, [0, 2]]) == 0


def synthetic_kl_curve():
    """Surge to ~30 by step 15, collapse to ~6 by step 60, rise to ~15 by step 200, creep."""
    t = np.arange(1, 3001, dtype=float)
    surge = 30 * np.exp(-((np.log(t) - np.log(15)) ** 2) / 0.3)
    base = 6 + 9 / (1 + np.exp(-(t - 120) / 20)) + 0.002 * t
    noise = np.random.default_rng(0).normal(0, 0.3, t.size)
    return np.where(t < 15, surge, np.maximum(surge, base)) + noise  # starts near 0, as measured


def test_kl_phases_are_found_from_the_curve():
    ph = kl_phases(synthetic_kl_curve())
    assert 10 <= ph["peak_step"] <= 20 and ph["peak_kl"] > 25
    assert 30 <= ph["trough_step"] <= 90 and ph["trough_kl"] < 8
    assert 90 <= ph["steepest_rise_step"] <= 150
    assert 150 <= ph["rise_end_step"] <= 400


def test_kl_phases_report_no_rise_when_the_kl_never_climbs_back():
    t = np.arange(1, 2001, dtype=float)
    kl = 20 * np.exp(-((np.log(t) - np.log(15)) ** 2) / 0.3) + 5.5
    ph = kl_phases(kl)
    assert ph["rise_end_step"] is None and ph["steepest_rise_step"] is None


def test_log_time_smoothing_keeps_the_start_sharp():
    x = np.r_[np.zeros(10), np.ones(990)]
    s = log_time_smooth(x)
    assert s[0] == 0 and s[5] == 0 and s[500] == 1  # a fixed 25-step window would blur the start
