"""A variational autoencoder on MNIST in NumPy (issue 6): model, loss, training, model files.

    from network.vae import VAE, train, save, load
"""

from .model import VAE, reparameterise, reparameterise_backward
from .loss import kl_divergence, kl_grad, reconstruction, reconstruction_grad, vae_loss

__all__ = ["VAE", "reparameterise", "reparameterise_backward", "kl_divergence", "kl_grad",
           "reconstruction", "reconstruction_grad", "vae_loss"]
