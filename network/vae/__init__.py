"""A variational autoencoder on MNIST in NumPy (issue 6): model, loss, training, model files.

    from network.vae import VAE                      # model.py: forward and backward by hand
    from network.vae.train import train, evaluate    # train.py: the loop and its metrics
    from network.vae.io import save, load            # io.py: validated .npz / .json files
    from network.vae.resumable import train, resume  # resumable.py: checkpoint every epoch, resume
    from network.vae.checkpoint import load_checkpoint   # checkpoint.py: the training-state file
    from network.vae.latent import kl_phases, class_mixture_moments   # latent.py: analysis

The mathematics, with every gradient derived, is in notes/vae.md.
"""

from .model import VAE, reparameterise, reparameterise_backward
from .loss import kl_divergence, kl_grad, reconstruction, reconstruction_grad, vae_loss

__all__ = ["VAE", "reparameterise", "reparameterise_backward", "kl_divergence", "kl_grad",
           "reconstruction", "reconstruction_grad", "vae_loss"]
