"""Look and play: interactive windows on trained models (``python -m network play``).

- ``vae_window``: latent sliders, live: a VAE's decoded image as its code moves,
  the code's place among the test set's latent means, jumps to class means;
- ``digits_window``: a pad to draw a digit on, the network's outputs and hidden
  activations as you draw, and the closest training images;
- ``preprocess``: MNIST's normalisation of a digit (20x20 box, centre of mass centred);
- ``ink``: the pad's pen; ``neighbours``: the closest training images;
  ``models``: the Network or conv net behind the pad, read layer by layer;
- ``show``: whether a window can open here, and the figures the windows are drawn on.

Every window is drawn on a figure it is given: pyplot's, in a window, or one on its
own Agg canvas (``--save`` and the tests), so nothing here imports pyplot except
``show``, and that only when a window is really opened.  Importing this package
imports no window module and no widget.

Left out on purpose: notebooks' widget toolkits, a web interface, animation export.
"""
