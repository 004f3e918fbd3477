"""Optimisers: plain SGD, momentum SGD and Adam, shared by the Network and the VAE.

An optimiser holds its hyperparameters and its state (velocities, moments) and
updates a list of parameter arrays *in place* from a matching list of gradient
arrays.  The gradients already include any regularisation term; the optimiser
knows nothing about costs, layers or data.

Deliberately left out: learning-rate schedules (see ``network/base/schedules.py``),
gradient clipping, weight decay folded into the optimiser (L1/L2 live in
``network/base/regularization.py`` as gradient terms, so they work with every
optimiser).

Adam's step over a parameter array runs as one compiled pass (``_adam_pass``)
when numba is there: the same operations in the same order and precision as
the NumPy form (``Adam._numpy_pass``), so the same numbers bit for bit (a test
holds them equal), in one trip through memory instead of about ten (measured with
``python chapters/vae_benchmark.py --adam-steps 100``: 0.47 ms instead of 1.98 ms
a step for the 652,824 float32 parameters of the 784-400-20 VAE).
"""

import numpy as np

from .checks import number
from .jit import HAVE_NUMBA, jit, numba, prange, share, thread_count


def _compiled():
    """Whether the compiled passes really run compiled (numba there, its JIT not off)."""
    return HAVE_NUMBA and not numba.config.DISABLE_JIT


@jit(numpy_division=True)   # so that the loop vectorises
def _adam_pass(p, g, m, v, b1, one_minus_b1, b2, one_minus_b2, inv_c2, eps, lr_c1):
    """(ADAM) over flat arrays; every scalar comes in the arrays' dtype, and each line
    is one operation of ``Adam._numpy_pass`` in its order, so no rounding differs."""
    for i in range(p.shape[0]):
        gi = g[i]
        mi = m[i] * b1
        mi = mi + gi * one_minus_b1              # m -> b1 m + (1-b1) g
        m[i] = mi
        vi = v[i] * b2
        vi = vi + (gi * gi) * one_minus_b2       # v -> b2 v + (1-b2) g^2
        v[i] = vi
        root = np.sqrt(vi * inv_c2) + eps        # sqrt(v_hat) + eps
        p[i] = p[i] - (mi * lr_c1) / root        # w -> w - lr m_hat / (sqrt(v_hat) + eps)


@jit
def _sgd_pass(p, g, eta):
    """(SGD) p -= eta * g over flat arrays, eta in their dtype: NumPy's two roundings (the
    product, then the difference; no fused multiply-add), so the same numbers bit for bit."""
    for i in range(p.shape[0]):
        p[i] = p[i] - eta * g[i]


@jit(parallel=True)
def _sgd_pass_threads(p, g, eta, T):
    """``_sgd_pass`` with the array cut into T pieces, one per thread: each number is
    still updated alone, so the thread count changes nothing."""
    for t in prange(T):
        lo, hi = share(p.shape[0], 1, t, T)
        _sgd_pass(p[lo:hi], g[lo:hi], eta)


THREADED_SIZE = 1 << 15   # numbers from which a step is shared among the threads


class SGD:
    """Plain stochastic gradient descent.

    (SGD) w -> w - eta * g, where g is the mini-batch mean gradient
    (1/m) sum_x dC_x/dw, so this is the book's w -> w - (eta/m) sum_x dC_x/dw.

    Where numba runs on more than one thread, a large array is updated by one compiled
    pass shared among the threads (the conv net's 288,000 weights of conv1 took ~50 us
    a step in NumPy, a sixth of a two-thread step); the same numbers as NumPy's
    ``p -= eta * g``, bit for bit.  Small arrays stay with NumPy: the call costs less.
    """

    name = "sgd"

    def __init__(self, eta):
        self.eta = number("eta", eta, above=0)

    def step(self, params, grads, compiled=None):
        """One step on every parameter; ``compiled`` as in ``Adam.step``."""
        compiled = _compiled() if compiled is None else compiled
        threads = thread_count() if compiled else 1
        for p, g in zip(params, grads):
            if (threads > 1 and p.size >= THREADED_SIZE and g.dtype == p.dtype
                    and p.flags.c_contiguous and g.flags.c_contiguous):
                eta = p.dtype.type(self.eta)   # NumPy turns the Python float into p's dtype
                _sgd_pass_threads(p.reshape(-1), g.reshape(-1), eta, threads)
            else:
                p -= self.eta * g  # (SGD)

    def state_dict(self):
        return {"name": self.name, "eta": self.eta}

    def load_state_dict(self, state, params):
        self.eta = float(state["eta"])


class Momentum:
    """Momentum-based gradient descent (problem 3.26).

    (MOMENTUM) v -> mu v - eta g,  w -> w + v.
    mu = 0 is plain SGD; 0 < mu < 1 is the useful range; mu > 1 makes the
    velocity grow geometrically, mu < 0 makes consecutive steps alternate.
    """

    name = "momentum"

    def __init__(self, eta, mu):
        self.eta = number("eta", eta, above=0)
        self.mu = number("momentum mu", mu)
        self.velocities = None

    def step(self, params, grads):
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocities):
            v *= self.mu
            v -= self.eta * g  # (MOMENTUM) v -> mu v - eta grad C
            p += v             # (MOMENTUM) w -> w + v

    def state_dict(self):
        return {"name": self.name, "eta": self.eta, "mu": self.mu,
                "velocities": self.velocities}

    def load_state_dict(self, state, params):
        self.eta, self.mu = float(state["eta"]), float(state["mu"])
        vs = state.get("velocities")
        self.velocities = None if vs is None else [
            np.array(v, dtype=p.dtype).reshape(p.shape) for v, p in zip(vs, params)]


class Adam:
    """Adam (Kingma and Ba, 2015), with the bias correction of the paper.

    (ADAM) m -> b1 m + (1-b1) g;  v -> b2 v + (1-b2) g^2;
           w -> w - lr * m_hat / (sqrt(v_hat) + eps),
           m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).
    """

    name = "adam"

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr = number("lr", lr, above=0)
        self.beta1 = number("Adam beta1", beta1, low=0, below=1)
        self.beta2 = number("Adam beta2", beta2, low=0, below=1)
        self.eps = number("eps", eps, above=0)
        self.t = 0
        self.m = None
        self.v = None
        self._scratch = None

    @property
    def eta(self):  # the book's name for the step size, so schedules work with every optimiser
        return self.lr

    @eta.setter
    def eta(self, value):
        self.lr = float(value)

    def step(self, params, grads, compiled=None):
        """One step on every parameter.  ``compiled`` (default: when numba runs) picks the
        compiled pass; arrays it cannot take in place (not contiguous, a gradient of
        another dtype) always go through NumPy.  Both give the same numbers."""
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        if self._scratch is None:
            self._scratch = [None] * len(params)
        compiled = _compiled() if compiled is None else compiled
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t   # bias corrections
        c2 = 1.0 - self.beta2 ** self.t
        for i, (p, g, m, v) in enumerate(zip(params, grads, self.m, self.v)):
            g = np.asarray(g)
            if compiled and g.dtype == p.dtype and all(
                    a.flags.c_contiguous for a in (p, g, m, v)):
                # NumPy turns a Python float into the array's dtype before it multiplies
                # (NEP 50): so do the scalars here.
                T = p.dtype.type
                _adam_pass(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                           T(self.beta1), T(1.0 - self.beta1), T(self.beta2),
                           T(1.0 - self.beta2), T(1.0 / c2), T(self.eps), T(self.lr / c1))
            else:
                if self._scratch[i] is None:
                    self._scratch[i] = (np.empty_like(p), np.empty_like(p))
                self._numpy_pass(p, g, m, v, c1, c2, *self._scratch[i])

    def _numpy_pass(self, p, g, m, v, c1, c2, a, b):
        """(ADAM) on one parameter array with NumPy, in place.  ``a`` and ``b`` are work
        arrays reused every step: the plain expressions would allocate about eight
        temporaries the size of all the weights per step."""
        b1, b2 = self.beta1, self.beta2
        m *= b1
        np.multiply(g, 1.0 - b1, out=a)
        m += a                               # (ADAM) m -> b1 m + (1-b1) g
        v *= b2
        np.multiply(g, g, out=a)
        a *= 1.0 - b2
        v += a                               # (ADAM) v -> b2 v + (1-b2) g^2
        np.multiply(v, 1.0 / c2, out=a)
        np.sqrt(a, out=a)
        a += self.eps                        # sqrt(v_hat) + eps
        np.multiply(m, self.lr / c1, out=b)  # lr m_hat
        b /= a
        p -= b                               # (ADAM) bias-corrected step

    def state_dict(self):
        return {"name": self.name, "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, state, params):
        self.lr, self.beta1, self.beta2, self.eps = (
            float(state[k]) for k in ("lr", "beta1", "beta2", "eps"))
        self.t = int(state["t"])
        if state.get("m") is None:
            self.m = self.v = None
        else:
            self.m = [np.array(a, dtype=p.dtype).reshape(p.shape) for a, p in zip(state["m"], params)]
            self.v = [np.array(a, dtype=p.dtype).reshape(p.shape) for a, p in zip(state["v"], params)]
