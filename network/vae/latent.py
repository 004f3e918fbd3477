"""Analysis of a trained VAE's latent space: class mixtures, phases, sliders, tours.

Pure computation on arrays (no drawing, no files): chapters/vae_latent.py
calls these, saves the results, and plots from the saved results.

* class_mixture_moments / mixture_density: a class's latent distribution is
  the mixture (1/N) sum_i N(mu_i, diag(sigma_i^2)) of its images' posteriors
  (VAE-MIX); its mean and covariance, and its density on a grid.
* kl_phases: where the per-step KL curve changes regime, found from the data.
* slider_codes: latent codes sweeping one dimension at a time.
* shortest_tour: the shortest open path through a few points (Held-Karp).

Left out on purpose: t-SNE/UMAP, full-covariance posteriors, anything that
needs the decoder's Jacobian.
"""

import itertools

import numpy as np


def class_mixture_moments(mu, logvar):
    """(VAE-MIX) mean and covariance of the mixture (1/N) sum_i N(mu_i, diag(exp(logvar_i))).

    mean = (1/N) sum_i mu_i;
    cov  = (1/N) sum_i [diag(sigma_i^2) + mu_i mu_i^T] - mean mean^T
         = average posterior covariance + covariance of the means (law of total variance).
    mu, logvar: (N, k). Returns mean (k,), cov (k, k).
    """
    mean = mu.mean(axis=0)  # (k,)
    avg_sigma = np.diag(np.exp(logvar).mean(axis=0))  # (k, k) average Sigma_i (diagonal)
    avg_outer = mu.T @ mu / mu.shape[0]  # (k, N) @ (N, k) -> (k, k) average mu_i mu_i^T
    return mean, avg_sigma + avg_outer - np.outer(mean, mean)  # (VAE-MIX)


def mixture_density(grid_points, mu, logvar, chunk=256):
    """(VAE-MIX) density of (1/N) sum_i N(mu_i, diag(exp(logvar_i))) at grid_points (G, k) -> (G,)."""
    var = np.exp(logvar)  # (N, k)
    log_norm = -0.5 * np.sum(np.log(2 * np.pi * var), axis=1)  # (N,)
    out = np.zeros(grid_points.shape[0])
    for start in range(0, mu.shape[0], chunk):  # chunks keep the (G, chunk, k) block small
        d = grid_points[:, None, :] - mu[None, start:start + chunk, :]  # (G, c, k)
        log_p = log_norm[start:start + chunk] - 0.5 * np.sum(d * d / var[start:start + chunk], axis=2)
        out += np.exp(log_p).sum(axis=1)  # (G,)
    return out / mu.shape[0]


def log_time_smooth(values, fraction=0.2, max_half=50):
    """Centred moving average whose half-width grows with the step: min(fraction * t, max_half).

    The KL phases happen on a logarithmic time scale (the surge within ~20 steps, the
    creep over thousands), so a fixed window either blurs the start or leaves the
    end noisy; a window proportional to t does neither.
    """
    values = np.asarray(values, dtype=float)
    c = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(len(values))
    half = np.minimum((fraction * idx).astype(int), max_half)
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, len(values))
    return (c[hi] - c[lo]) / (hi - lo)


def kl_phases(step_kl, rise_nats=2.0, early_steps=200, creep_fraction=0.2):
    """Find the four KL phases in a per-step KL curve, from the data (steps count from 1).

    On the curve smoothed by log_time_smooth (window proportional to the step):
      1. *initial surge*: from step 1 up to the peak, the maximum over the first
         ``early_steps`` steps;
      2. *collapse*: from the peak down to the trough, the running minimum after the
         peak at the moment the curve first climbs ``rise_nats`` above it;
      3. *sharp rise*: from the trough past the steepest climb until the slope falls
         below ``creep_fraction`` of that steepest slope;
      4. *creep*: the rest.
    If the curve never climbs ``rise_nats`` above its minimum after the peak (small
    latent spaces), there is no rise: the trough is that minimum and phases 3 and 4
    are reported as None. Returns a dict of boundary steps and smoothed KL values.
    """
    kl = log_time_smooth(step_kl)
    n = len(kl)
    peak = int(np.argmax(kl[:max(1, min(early_steps, n))]))
    trough, rising = peak, None
    for t in range(peak, n):
        if kl[t] < kl[trough]:
            trough = t
        elif kl[t] > kl[trough] + rise_nats:
            rising = t
            break
    out = {"smoothing": "log_time_smooth(fraction=0.2, max_half=50)", "initial_kl": float(kl[0]),
           "peak_step": peak + 1, "peak_kl": float(kl[peak]),
           "trough_step": trough + 1, "trough_kl": float(kl[trough]),
           "steepest_rise_step": None, "steepest_slope_per_step": None,
           "rise_end_step": None, "rise_end_kl": None, "final_kl": float(kl[-1])}
    if rising is None:
        return out
    slope = np.gradient(log_time_smooth(kl))  # smoothed twice: a slope amplifies noise
    steep = trough + int(np.argmax(slope[trough:]))
    below = np.nonzero(slope[steep:] < creep_fraction * slope[steep])[0]
    end = steep + int(below[0]) if len(below) else n - 1
    out.update(steepest_rise_step=steep + 1, steepest_slope_per_step=float(slope[steep]),
               rise_end_step=end + 1, rise_end_kl=float(kl[end]))
    return out


def slider_codes(latent_dim, values):
    """Codes (latent_dim, len(values), latent_dim): row d sweeps dimension d over values, others 0."""
    values = np.asarray(values, dtype=float)
    codes = np.zeros((latent_dim, len(values), latent_dim))
    for d in range(latent_dim):
        codes[d, :, d] = values
    return codes


def shortest_tour(points):
    """Order of the shortest open path visiting every point once (Held-Karp, exact).

    points (n, k), n <= 12 (the DP holds 2^n * n states). Returns (order, length).
    """
    n = len(points)
    if n > 12:
        raise ValueError(f"shortest_tour is exact and exponential; {n} points is too many (max 12)")
    dist = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)  # (n, n)
    best = {(1 << i, i): (0.0, None) for i in range(n)}  # (visited set, last) -> (length, previous)
    for size in range(2, n + 1):
        for subset in itertools.combinations(range(n), size):
            mask = sum(1 << i for i in subset)
            for last in subset:
                prev_mask = mask ^ (1 << last)
                best[(mask, last)] = min(
                    (best[(prev_mask, p)][0] + dist[p, last], p) for p in subset if p != last)
    full = (1 << n) - 1
    length, last = min((best[(full, i)][0], i) for i in range(n))
    order, mask = [], full
    while last is not None:
        order.append(last)
        _, prev = best[(mask, last)]
        mask ^= 1 << last
        last = prev
    return order[::-1], float(length)
