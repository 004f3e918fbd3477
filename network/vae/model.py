"""A variational autoencoder with MLP encoder and decoder, forward and backward by hand.

    encoder  x (m, 784) -> hidden layers -> mu (m, k), logvar (m, k)
    sample   z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)          (VAE-REPARAM)
    decoder  z (m, k) -> hidden layers (reversed) -> logits (m, 784); p = sigmoid(logits)

The loss is (VAE-ELBO): per example the Bernoulli reconstruction (VAE-REC)
plus beta times the analytic KL to N(0, I) (VAE-KL), each *summed* within the
example, then *averaged over the batch*. Every gradient is derived in
notes/vae.md and computed here by hand: the decoder by ordinary backprop
(BP1-BP4), the reparameterisation by (VAE-GRAD-MU) and (VAE-GRAD-LOGVAR), and
the KL's own gradient by (VAE-KL-GRAD).

Storage follows the book: ``weights[l]`` is (n_out, n_in), ``biases[l]`` is
(n_out, 1); data are rows, so a layer computes ``a @ w.T + b.T``. Layers are
initialised like PyTorch's nn.Linear default, w and b ~ U(-1/sqrt(n_in),
1/sqrt(n_in)), so training trajectories can be compared with a PyTorch run.

``eps`` can be passed in so a gradient check holds it fixed; otherwise it is
drawn from the ``np.random.Generator`` given. The dtype is fixed at
construction: float64 for the gradient checks, float32 for training (the fast
path: the same code, with BLAS doing the five large matrix products per batch
in single precision; see notes/vae.md, "Speed").

Left out on purpose: convolutional encoders, other likelihoods, importance-
weighted bounds, batch norm and dropout.
"""

import numpy as np

from ..base.activations import get_activation
from ..base.checks import memory
from ..errors import UsageError
from .loss import reconstruction_and_delta, sigmoid, vae_loss

MAX_DIM = 1 << 16  # no layer wider than this (a typo guard; also the file limit in io.py)


def reparameterise(mu, logvar, eps):
    """(VAE-REPARAM) z = mu + sigma * eps with sigma = exp(logvar / 2) (a standard deviation)."""
    return mu + np.exp(0.5 * logvar) * eps  # (m, k)


def reparameterise_backward(delta_z, mu, logvar, eps, beta_over_m):
    """Gradients of the batch loss with respect to mu and logvar, each (m, k).

    delta_z is dL/dz from the decoder. The KL term is added here too, with its
    factor beta/m (the loss averages over the batch):

    (VAE-GRAD-MU)     dL/dmu     = dL/dz + (beta/m) mu
    (VAE-GRAD-LOGVAR) dL/dlogvar = dL/dz * eps * sigma / 2 + (beta/m) (exp(logvar) - 1) / 2
    """
    sigma = np.exp(0.5 * logvar)  # (m, k) standard deviation
    kl_mu = mu  # (VAE-KL-GRAD) d kl / d mu
    kl_logvar = 0.5 * (sigma * sigma - 1.0)  # (VAE-KL-GRAD) d kl / d logvar = (exp(logvar) - 1)/2
    delta_mu = delta_z + beta_over_m * kl_mu  # (VAE-GRAD-MU): dz/dmu = 1
    delta_logvar = delta_z * eps * (0.5 * sigma) + beta_over_m * kl_logvar  # (VAE-GRAD-LOGVAR): dz/dlogvar = eps sigma / 2
    return delta_mu, delta_logvar


def _linear_init(rng, n_in, n_out, dtype):
    """nn.Linear's default: w, b ~ U(-1/sqrt(n_in), 1/sqrt(n_in))."""
    bound = 1.0 / np.sqrt(n_in)
    w = rng.uniform(-bound, bound, size=(n_out, n_in)).astype(dtype)
    b = rng.uniform(-bound, bound, size=(n_out, 1)).astype(dtype)
    return w, b


class VAE:
    """Encoder 784 -> hidden -> (mu, logvar); decoder latent -> reversed hidden -> 784 logits.

    Parameters
    ----------
    latent_dim : size k of z.
    hidden : widths of the encoder's hidden layers, e.g. (400,) or (512, 256);
        the decoder uses them in reverse order.
    activation : "relu", "silu" or "tanh" for every hidden layer.
    input_dim : pixels per image (784 for MNIST).
    rng : np.random.Generator used for the initial weights.
    dtype : np.float32 (fast) or np.float64 (gradient checks).
    """

    def __init__(self, latent_dim=20, hidden=(400,), activation="relu", input_dim=784,
                 rng=None, dtype=np.float32):
        hidden = tuple(int(h) for h in hidden)
        for name, v in (("latent_dim", latent_dim), ("input_dim", input_dim)) + tuple(
                ("hidden width", h) for h in hidden):
            if not 1 <= int(v) <= MAX_DIM:
                raise UsageError(f"{name} must be between 1 and {MAX_DIM}, got {v!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise UsageError(f"dtype must be float32 or float64, got {self.dtype}")
        self.latent_dim, self.hidden, self.input_dim = int(latent_dim), hidden, int(input_dim)
        self.activation = get_activation(activation)
        if self.activation.name not in ("relu", "silu", "tanh"):
            raise UsageError(f"the VAE's activation must be relu, silu or tanh, not {self.activation.name!r}")
        rng = np.random.default_rng() if rng is None else rng
        enc, dec = [self.input_dim, *hidden], [self.latent_dim, *reversed(hidden), self.input_dim]
        n_params = sum((a + 1) * b for a, b in zip(enc[:-1], enc[1:])) + \
            2 * (enc[-1] + 1) * self.latent_dim + sum((a + 1) * b for a, b in zip(dec[:-1], dec[1:]))
        # drawn in float64, kept in dtype, plus Adam's two moments and a gradient of each
        memory(n_params * (8 + 4 * self.dtype.itemsize),
               f"a VAE {'-'.join(map(str, enc))}-{self.latent_dim} ({n_params:,} parameters)",
               "use smaller layers")

        enc_sizes = [self.input_dim, *hidden]
        dec_sizes = [self.latent_dim, *reversed(hidden), self.input_dim]
        self.encoder_weights, self.encoder_biases = [], []
        for n_in, n_out in zip(enc_sizes[:-1], enc_sizes[1:]):
            w, b = _linear_init(rng, n_in, n_out, self.dtype)
            self.encoder_weights.append(w)
            self.encoder_biases.append(b)
        self.mu_weight, self.mu_bias = _linear_init(rng, enc_sizes[-1], self.latent_dim, self.dtype)
        self.logvar_weight, self.logvar_bias = _linear_init(rng, enc_sizes[-1], self.latent_dim, self.dtype)
        self.decoder_weights, self.decoder_biases = [], []
        for n_in, n_out in zip(dec_sizes[:-1], dec_sizes[1:]):
            w, b = _linear_init(rng, n_in, n_out, self.dtype)
            self.decoder_weights.append(w)
            self.decoder_biases.append(b)
        self.history = []                             # one record per trained epoch (train.py)
        self.steps = {"reconstruction": [], "kl": []}  # batch means, one per optimiser step

    # ---- parameters as one ordered list (what the optimiser and the model file see) ----

    def parameter_names(self):
        names = []
        for l in range(len(self.encoder_weights)):
            names += [f"encoder.{l}.weight", f"encoder.{l}.bias"]
        names += ["mu.weight", "mu.bias", "logvar.weight", "logvar.bias"]
        for l in range(len(self.decoder_weights)):
            names += [f"decoder.{l}.weight", f"decoder.{l}.bias"]
        return names

    def parameters(self):
        """The parameter arrays themselves (not copies), in parameter_names() order."""
        ps = []
        for w, b in zip(self.encoder_weights, self.encoder_biases):
            ps += [w, b]
        ps += [self.mu_weight, self.mu_bias, self.logvar_weight, self.logvar_bias]
        for w, b in zip(self.decoder_weights, self.decoder_biases):
            ps += [w, b]
        return ps

    def _set_parameters(self, arrays):
        it = iter(arrays)
        n_enc, n_dec = len(self.encoder_weights), len(self.decoder_weights)
        self.encoder_weights, self.encoder_biases = [], []
        for _ in range(n_enc):
            self.encoder_weights.append(next(it))
            self.encoder_biases.append(next(it))
        self.mu_weight, self.mu_bias, self.logvar_weight, self.logvar_bias = (next(it) for _ in range(4))
        self.decoder_weights, self.decoder_biases = [], []
        for _ in range(n_dec):
            self.decoder_weights.append(next(it))
            self.decoder_biases.append(next(it))

    # ---- forward ----

    def encode(self, x):
        """Encoder: x (m, n) -> (mu, logvar), each (m, k). Also returns the cache for backward."""
        a = np.asarray(x, dtype=self.dtype)
        activations, zs = [a], []
        for w, b in zip(self.encoder_weights, self.encoder_biases):
            z = a @ w.T + b.T  # (FF) (m, n_in) @ (n_in, n_out) -> (m, n_out)
            a = self.activation.fn(z)
            zs.append(z)
            activations.append(a)
        mu = a @ self.mu_weight.T + self.mu_bias.T  # (m, h) @ (h, k) -> (m, k)
        logvar = a @ self.logvar_weight.T + self.logvar_bias.T  # (m, h) @ (h, k) -> (m, k)
        return mu, logvar, (activations, zs)

    def decode(self, z):
        """Decoder: z (m, k) -> logits (m, n); the pixel probabilities are sigmoid(logits)."""
        logits, _ = self._decode(np.asarray(z, dtype=self.dtype))
        return logits

    def _decode(self, z):
        a = z
        activations, zs = [a], []
        last = len(self.decoder_weights) - 1
        for l, (w, b) in enumerate(zip(self.decoder_weights, self.decoder_biases)):
            pre = a @ w.T + b.T  # (FF) (m, n_in) @ (n_in, n_out) -> (m, n_out)
            if l == last:
                return pre, (activations, zs)  # logits: the sigmoid lives in the loss
            a = self.activation.fn(pre)
            zs.append(pre)
            activations.append(a)

    def sample_eps(self, m, rng):
        """eps ~ N(0, I), shape (m, k), in the model's dtype."""
        return rng.standard_normal((m, self.latent_dim), dtype=self.dtype)

    def reconstruct(self, x):
        """Pixel probabilities of the decoder at z = mu (no sampling): (m, n)."""
        mu, _, _ = self.encode(x)
        return sigmoid(self.decode(mu))

    # ---- loss and gradients ----

    def loss(self, x, beta=1.0, eps=None, rng=None):
        """(VAE-ELBO) batch loss without gradients: (loss, reconstruction, kl), batch means."""
        x = np.asarray(x, dtype=self.dtype)
        mu, logvar, _ = self.encode(x)
        if eps is None:
            eps = self.sample_eps(x.shape[0], rng)
        logits = self.decode(reparameterise(mu, logvar, eps))
        return vae_loss(logits, x, mu, logvar, beta)

    def loss_and_gradients(self, x, beta=1.0, eps=None, rng=None):
        """Forward and backward over a mini-batch x (m, n).

        Returns ((loss, reconstruction, kl), grads): the batch means of the loss and
        its two terms as floats, and the gradients of the *batch-mean* loss for every
        parameter, in parameters() order. eps (m, k) is drawn from rng unless given.
        """
        x = np.asarray(x, dtype=self.dtype)
        m = x.shape[0]
        f = self.activation
        mu, logvar, (enc_as, enc_zs) = self.encode(x)
        if eps is None:
            eps = self.sample_eps(m, rng)
        z = reparameterise(mu, logvar, eps)  # (VAE-REPARAM) (m, k)
        logits, (dec_as, dec_zs) = self._decode(z)

        # (VAE-REC) and its output error, fused: delta = (sigmoid(logits) - x) / m,
        # the (XENT) output error a - y, divided by m because the loss is a batch mean.
        delta = np.empty_like(logits)  # (m, n)
        rec = reconstruction_and_delta(logits, x, 1.0 / m, delta)  # (m,)
        kl = -0.5 * np.sum(1.0 + logvar - mu * mu - np.exp(logvar), axis=1)  # (VAE-KL) (m,)

        # Decoder: ordinary backprop from the logits down to z.
        n_dec = len(self.decoder_weights)
        nabla_dec_w, nabla_dec_b = [None] * n_dec, [None] * n_dec
        for l in range(n_dec - 1, -1, -1):
            nabla_dec_w[l] = delta.T @ dec_as[l]  # (BP4) (n_out, m) @ (m, n_in) -> (n_out, n_in)
            nabla_dec_b[l] = delta.sum(axis=0)[:, None]  # (BP3) (n_out, 1)
            delta = delta @ self.decoder_weights[l]  # (m, n_out) @ (n_out, n_in) -> (m, n_in)
            if l > 0:
                delta *= f.prime(dec_zs[l - 1])  # (BP2)
        delta_z = delta  # dL/dz, (m, k): z enters the decoder with no activation

        # Through the sample to mu and logvar, adding the KL's own gradient.
        beta_over_m = beta / m
        delta_mu, delta_logvar = reparameterise_backward(delta_z, mu, logvar, eps, beta_over_m)
        h = enc_as[-1]  # (m, hidden) the encoder's last hidden activation (x if no hidden layer)
        nabla_mu_w = delta_mu.T @ h  # (BP4) (k, m) @ (m, h) -> (k, h)
        nabla_mu_b = delta_mu.sum(axis=0)[:, None]  # (BP3) (k, 1)
        nabla_lv_w = delta_logvar.T @ h  # (BP4) (k, m) @ (m, h) -> (k, h)
        nabla_lv_b = delta_logvar.sum(axis=0)[:, None]  # (BP3) (k, 1)

        # Encoder: both heads send their error back into the last hidden layer.
        n_enc = len(self.encoder_weights)
        nabla_enc_w, nabla_enc_b = [None] * n_enc, [None] * n_enc
        if n_enc:
            delta = delta_mu @ self.mu_weight + delta_logvar @ self.logvar_weight  # (m, k) @ (k, h) -> (m, h)
            delta *= f.prime(enc_zs[-1])  # (BP2)
            for l in range(n_enc - 1, -1, -1):
                nabla_enc_w[l] = delta.T @ enc_as[l]  # (BP4) (n_out, m) @ (m, n_in) -> (n_out, n_in)
                nabla_enc_b[l] = delta.sum(axis=0)[:, None]  # (BP3) (n_out, 1)
                if l > 0:  # the error at the input image is never needed
                    delta = (delta @ self.encoder_weights[l]) * f.prime(enc_zs[l - 1])  # (BP2) (m, n_in)

        grads = []
        for gw, gb in zip(nabla_enc_w, nabla_enc_b):
            grads += [gw, gb]
        grads += [nabla_mu_w, nabla_mu_b, nabla_lv_w, nabla_lv_b]
        for gw, gb in zip(nabla_dec_w, nabla_dec_b):
            grads += [gw, gb]
        rec_mean, kl_mean = float(np.mean(rec)), float(np.mean(kl))
        return (rec_mean + beta * kl_mean, rec_mean, kl_mean), grads  # (VAE-ELBO)
