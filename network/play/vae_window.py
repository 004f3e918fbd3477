"""Latent sliders, live: a VAE's decoder redrawn as sliders move its code z.

One panel per model (two models side by side in one window, each with its own
controls, to compare a beta = 1 and a beta = 10 VAE):

- the decoded image sigmoid(decoder(z)), the Bernoulli means of (VAE-REC), redrawn
  whenever z changes;
- a map of the test set's latent means mu(x) in two chosen dimensions, coloured by
  digit, each digit's class mean (the mean of its images' mu) written as the digit,
  the current code as a black ring; a click on the map moves the code there;
- one slider per latent dimension, from -3 to +3 prior standard deviations (the
  prior is N(0, I), so a unit of z is one sigma), labelled with the dimension's
  average KL on the test set, (VAE-KL): a dimension with KL near 0 is unused
  (posterior collapse) and its slider changes nothing;
- buttons: "origin" sets z = 0; "0" ... "9" jump to that digit's class mean.

Codes stay inside the sliders' range: a class mean beyond 3 sigma (rare: the KL
keeps the means near the origin) is clipped to it, and so is a click on the map.

Everything is drawn on the figure (or subfigure) it is given, so the same code
serves a window (pyplot's figure) and a still PNG (an Agg canvas) and the tests.

Left out on purpose: latent spaces of one dimension (no plane to map: the
sliders experiment of chapters/vae_latent.py sweeps them), sampling around the
code, animation.
"""

import numpy as np
from matplotlib.widgets import Button, Slider

from ..errors import UsageError
from ..plots.render import digit_colour
from ..vae.loss import sigmoid

LIMIT = 3.0              # sliders run from -LIMIT to +LIMIT prior sigmas
SLIDER_ROWS = 10         # at most this many sliders in a column: 20 latents -> two columns
PANEL_WIDTH = 7.6        # inches, for up to two columns of sliders; 3.8 more per column after
TOP = 4.0                # inches: title, decoded image and map
ROW = 0.27               # inches per slider row
BOTTOM = 0.75            # inches: the buttons and the margins


def slider_grid(latent_dim):
    """(rows, columns) of the sliders: one column up to 10, then as few as fit (20 -> 10 x 2)."""
    columns = -(-latent_dim // SLIDER_ROWS)
    return -(-latent_dim // columns), columns


def panel_size(latent_dim):
    """(width, height) in inches of one model's panel."""
    rows, columns = slider_grid(latent_dim)
    return max(PANEL_WIDTH, PANEL_WIDTH / 2 * columns), TOP + ROW * rows + BOTTOM


def latent_statistics(model, X, labels):
    """(means (n, k), class means (10, k), KL per dimension (k,)) over the images X (n, 784)."""
    mu, logvar, _ = model.encode(X)                                         # (n, k) each
    kl = (-0.5 * (1 + logvar - mu * mu - np.exp(logvar))).mean(axis=0)    # (VAE-KL) per dimension
    class_means = np.stack([mu[labels == d].mean(axis=0) if np.any(labels == d)
                            else np.zeros(mu.shape[1]) for d in range(10)])
    return mu.astype(np.float64), class_means.astype(np.float64), kl.astype(np.float64)


class LatentSliders:
    """One VAE's panel on ``panel`` (a Figure or SubFigure of ``size`` inches).

    ``X`` (n, 784) and ``labels`` (n,): the images whose latent means are mapped (the
    test set); ``pair``: the two dimensions (0-based) of the map; ``title``: the
    panel's heading.  ``code`` is the current z; ``set_code``, ``reset`` and
    ``go_to_class`` move it; ``decoded()`` is the image shown.
    """

    def __init__(self, panel, size, model, X, labels, pair=(0, 1), title=""):
        k = model.latent_dim
        if k < 2:
            raise UsageError("a 1-D latent space has no plane to map; the sliders window needs a "
                             "VAE with 2 or more latent dimensions")
        if len(set(pair)) != 2 or not all(0 <= i < k for i in pair):
            raise UsageError(f"--pair {pair[0] + 1} {pair[1] + 1}: give two different dimensions "
                             f"from 1 to {k} (this model has {k} latent dimensions)")
        self.panel, self.model, self.pair = panel, model, tuple(pair)
        self.width, self.height = size
        self.means, self.class_means, self.kl = latent_statistics(model, X, labels)
        self.code = np.zeros(k)
        self._quiet = False
        panel.suptitle(title, fontsize=10)
        self._draw_image()
        self._draw_map(labels)
        self.sliders = self._make_sliders()
        self.buttons = self._make_buttons()
        panel.canvas.mpl_connect("button_press_event", self._clicked)
        self._redraw()

    # ---- layout: rectangles in inches from the panel's top left -------------------------

    def _rect(self, left, top, width, height):
        return (left / self.width, 1 - (top + height) / self.height,
                width / self.width, height / self.height)

    def _draw_image(self):
        self.image_ax = self.panel.add_axes(self._rect(0.3, 0.55, 3.0, 3.0))
        self.image = self.image_ax.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0, vmax=1)
        self.image_ax.set(xticks=[], yticks=[])
        self.image_ax.set_title("decoded: sigmoid(decoder(z))", fontsize=9)

    def _draw_map(self, labels):
        i, j = self.pair
        ax = self.map_ax = self.panel.add_axes(self._rect(4.1, 0.55, 3.1, 3.0))
        colours = np.array([digit_colour(d) for d in labels])
        ax.scatter(self.means[:, i], self.means[:, j], s=3, c=colours, alpha=0.45, lw=0)
        for d, centre in enumerate(self.class_means):
            ax.text(centre[i], centre[j], str(d), color=digit_colour(d), ha="center",
                    va="center", fontsize=11, weight="bold",
                    bbox={"facecolor": "white", "alpha": 0.7, "pad": 0.5, "lw": 0})
        self.marker, = ax.plot([0], [0], "o", ms=11, mfc="none", mec="black", mew=2)
        reach = max(LIMIT, float(np.percentile(np.abs(self.means[:, [i, j]]), 99.5))) + 0.3
        ax.set(xlim=(-reach, reach), ylim=(-reach, reach), xlabel=f"z{i + 1}", ylabel=f"z{j + 1}")
        ax.set_title("test-set latent means by digit (click to move)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_aspect("equal")

    def _make_sliders(self):
        k = len(self.code)
        rows, columns = slider_grid(k)
        column_width = (self.width - 0.4) / columns
        sliders = []
        for d in range(k):
            c, r = divmod(d, rows)
            ax = self.panel.add_axes(self._rect(0.2 + c * column_width + 1.25, TOP + r * ROW,
                                                column_width - 1.95, ROW * 0.7))
            slider = Slider(ax, f"z{d + 1} (KL {self.kl[d]:.1f})", -LIMIT, LIMIT, valinit=0.0,
                            valfmt="%+.2f")
            slider.label.set_fontsize(8)
            slider.valtext.set_fontsize(8)
            slider.on_changed(lambda value, d=d: self._moved(d, value))
            sliders.append(slider)
        return sliders

    def _make_buttons(self):
        top = self.height - BOTTOM + 0.2
        origin = Button(self.panel.add_axes(self._rect(0.3, top, 0.8, 0.32)), "origin")
        origin.on_clicked(lambda event: self.reset())
        self.panel.text(*self._rect(1.3, top + 0.22, 0, 0)[:2], "class mean of", fontsize=8)
        buttons = [origin]
        for d in range(10):
            b = Button(self.panel.add_axes(self._rect(2.25 + 0.5 * d, top, 0.42, 0.32)), str(d),
                       color=(*digit_colour(d)[:3], 0.35))
            b.on_clicked(lambda event, d=d: self.go_to_class(d))
            buttons.append(b)
        return buttons

    # ---- moving the code ------------------------------------------------------------------

    def _moved(self, d, value):
        self.code[d] = value
        if not self._quiet:
            self._redraw()

    def set_code(self, z):
        """Move every slider (clipped to +-3 sigma), then redraw once."""
        self._quiet = True
        try:
            for slider, value in zip(self.sliders, np.clip(z, -LIMIT, LIMIT)):
                slider.set_val(float(value))
        finally:
            self._quiet = False
        self._redraw()

    def reset(self):
        self.set_code(np.zeros(len(self.code)))

    def go_to_class(self, d):
        self.set_code(self.class_means[d])

    def _clicked(self, event):
        toolbar = getattr(self.panel.canvas, "toolbar", None)
        if event.inaxes is not self.map_ax or event.button != 1 or getattr(toolbar, "mode", ""):
            return
        z = self.code.copy()
        z[list(self.pair)] = event.xdata, event.ydata
        self.set_code(z)

    def decoded(self):
        """The image of the current code, (28, 28) in [0, 1]."""
        logits = self.model.decode(self.code[None, :])       # (1, k) -> (1, 784)
        return sigmoid(logits)[0].reshape(28, 28)             # pixel probabilities

    def _redraw(self):
        self.image.set_data(self.decoded())
        i, j = self.pair
        self.marker.set_data([self.code[i]], [self.code[j]])
        self.panel.canvas.draw_idle()


def vae_window(new_figure, models, X, labels, pair=(0, 1), titles=None):
    """One panel per model, side by side, on ``new_figure((width, height))``;
    returns (figure, [LatentSliders, ...])."""
    titles = titles or [""] * len(models)
    sizes = [panel_size(m.latent_dim) for m in models]
    height = max(h for _, h in sizes)
    fig = new_figure((sum(w for w, _ in sizes), height))
    areas = [fig] if len(models) == 1 else fig.subfigures(1, len(models),
                                                          width_ratios=[w for w, _ in sizes])
    panels = [LatentSliders(area, (w, height), model, X, labels, pair, title)
              for area, (w, _), model, title in zip(areas, sizes, models, titles)]
    return fig, panels
