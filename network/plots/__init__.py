"""Every figure of the project, drawn from saved results (never while training).

- ``render``: a Figure on its own Agg canvas, written atomically (PNG, GIF); no pyplot,
  so drawing never changes the backend of a notebook or a program with a window;
- ``curves``: accuracy and cost per epoch, overfitting diagnostics, bars, gradient norms;
- ``images``: weights as 28x28 pictures, filters, mosaics of digits;
- ``latent``: the 3-unit latent space and the VAE's codes;
- ``functions``: chapter 4's approximations;
- ``grid``: a hyper-parameter search (imported on its own: ``network.plots.grid``).

The chapter scripts use ``from network import plots`` and call ``plots.line_plot(...)``.
"""

from .curves import (accuracy_curves, bar_plot, gradient_norms, interval_width, line_plot,
                     overfitting, panels)
from .functions import function_fits, surfaces
from .images import filters, image_grid, image_row_gif, weight_gif, weight_grid
from .latent import (accuracy_table_plot, kl_phase_curves, latent_scatter, latent_scatter_gif,
                     mixture_density_gif, rotating_scatter3d_gif, scatter3d, tour_gif)
from .render import save_gif

__all__ = ["accuracy_curves", "bar_plot", "gradient_norms", "interval_width", "line_plot",
           "overfitting", "panels",
           "function_fits", "surfaces", "filters", "image_grid", "image_row_gif",
           "weight_gif", "weight_grid", "accuracy_table_plot", "kl_phase_curves",
           "latent_scatter", "latent_scatter_gif", "mixture_density_gif",
           "rotating_scatter3d_gif", "scatter3d", "tour_gif", "save_gif"]
