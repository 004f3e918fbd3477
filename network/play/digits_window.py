"""A pad to draw a digit on, and the trained network's answer as you draw.

The window holds:

- the pad, 28x28 pixels, drawn on with the left mouse button (press, drag,
  release); the ink is kept finer than it is shown (ink.py);
- what the network sees: the ink made MNIST-style, its bounding box scaled into
  20x20 and its centre of mass moved to the centre of the 28x28 field
  (preprocess.py), exactly the normalisation MNIST's own digits went through;
- the ten output activations as bars, the largest (the answer) in red;
- the activations of the layer below the outputs as a picture (models.py): the
  book's hidden neurons, or a conv net's fully connected layer or feature maps;
- the closest training images by pixel distance to what the network sees
  (neighbours.py), with their labels: the digits the answer leans on;
- buttons: "clear", and "random test image" (put a test digit on the pad, to
  compare a real MNIST digit with yours).

The output bars and the hidden picture follow every movement of the pen; the
closest images, a search through 50,000, are updated when the pen is lifted.

Left out on purpose: erasing part of a drawing, undo, pen width settings,
several digits at once.
"""

import matplotlib
import numpy as np
from matplotlib.widgets import Button

from . import ink
from .neighbours import ClosestImages
from .preprocess import mnist_style

SIZE = (11.0, 6.6)     # inches


def _rect(left, top, width, height):
    """Axes rectangle from inches measured from the figure's top left."""
    w, h = SIZE
    return (left / w, 1 - (top + height) / h, width / w, height / h)


def _blank_axes(ax, title=None, fontsize=9):
    ax.set(xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=fontsize)
    return ax


class DigitPad:
    """The drawing pad on ``fig`` (a Figure of SIZE inches).

    ``classifier``: a models.Classifier; ``train`` and ``test``: (X, y) with X (n, 784)
    uint8 pixels (or floats in [0, 1]); ``closest``: how many training images to show;
    ``rng``: the generator behind "random test image".
    """

    def __init__(self, fig, classifier, train, test, closest=6, rng=None):
        self.fig, self.classifier = fig, classifier
        self.train_y = np.asarray(train[1])
        self.test_X, self.test_y = np.asarray(test[0]), np.asarray(test[1])
        self.search = ClosestImages(train[0])
        self.rng = rng if rng is not None else np.random.default_rng()
        self.ink = ink.blank()
        self.seen = np.zeros(784)           # what the network sees: mnist_style(ink)
        self._pen = None                    # the pen's last point while a stroke is drawn
        self.caption = "draw a digit"
        self._build_pad()
        self._build_readouts()
        self._build_closest(closest)
        self.buttons = self._build_buttons()
        for name, handler in (("button_press_event", self._press),
                              ("motion_notify_event", self._drag),
                              ("button_release_event", self._release)):
            fig.canvas.mpl_connect(name, handler)
        self.update(search=True)

    # ---- layout ---------------------------------------------------------------------------

    def _build_pad(self):
        ax = self.pad_ax = self.fig.add_axes(_rect(0.3, 0.5, 4.6, 4.6))
        self.pad = ax.imshow(self.ink, cmap="gray_r", vmin=0, vmax=1, extent=(0, 28, 28, 0),
                             interpolation="nearest")
        _blank_axes(ax)
        self.fig.text(*_rect(0.3, 5.3, 0, 0)[:2], "left button: draw", fontsize=8, color="0.4")

    def _build_readouts(self):
        self.seen_ax = _blank_axes(self.fig.add_axes(_rect(5.3, 0.5, 1.9, 1.9)),
                                   "what the network sees\n(MNIST-style: 20x20 box, centred)", 8)
        self.seen_image = self.seen_ax.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0, vmax=1)
        self.hidden_ax = _blank_axes(self.fig.add_axes(_rect(5.3, 2.95, 1.9, 1.9)))
        name = self.classifier.hidden_name
        self.hidden_ax.set_title(_wrap(name) if name else "no hidden layer", fontsize=8)
        unused_white = matplotlib.colormaps["viridis"].with_extremes(bad="white")  # grid padding
        self.hidden_image = self.hidden_ax.imshow(np.full((1, 1), np.nan), cmap=unused_white)
        ax = self.bars_ax = self.fig.add_axes(_rect(7.75, 0.5, 3.0, 4.35))
        self.bars = ax.bar(range(10), np.zeros(10), color="tab:blue")
        ax.set(xticks=range(10), ylim=(0, 1), xlabel="digit")
        ax.set_ylabel(self.classifier.outputs_name, fontsize=8)
        ax.tick_params(labelsize=8)

    def _build_closest(self, k):
        self.fig.text(*_rect(5.3, 5.22, 0, 0)[:2], "closest training images (pixel distance)",
                      fontsize=8)
        width = min(0.78, 5.4 / k - 0.12)
        self.closest_axes = [_blank_axes(self.fig.add_axes(_rect(5.3 + i * (width + 0.12), 5.55,
                                                                 width, width))) for i in range(k)]
        self.closest_images = [ax.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0, vmax=1)
                               for ax in self.closest_axes]

    def _build_buttons(self):
        clear = Button(self.fig.add_axes(_rect(0.3, 5.75, 1.2, 0.4)), "clear")
        clear.on_clicked(lambda event: self.clear())
        random = Button(self.fig.add_axes(_rect(1.7, 5.75, 1.9, 0.4)), "random test image")
        random.on_clicked(lambda event: self.show_test_image())
        return [clear, random]

    # ---- the pen ----------------------------------------------------------------------------

    def _on_pad(self, event):
        toolbar = getattr(self.fig.canvas, "toolbar", None)   # pan/zoom mode: not drawing
        return event.inaxes is self.pad_ax and not getattr(toolbar, "mode", "")

    def _press(self, event):
        if event.button == 1 and self._on_pad(event):
            self._pen = (event.xdata, event.ydata)
            self.caption = "your digit"
            ink.paint_segment(self.ink, self._pen, self._pen)
            self.update()

    def _drag(self, event):
        if self._pen is not None and self._on_pad(event):
            point = (event.xdata, event.ydata)
            ink.paint_segment(self.ink, self._pen, point)
            self._pen = point
            self.update()

    def _release(self, event):
        if self._pen is not None:
            self._pen = None
            self.update(search=True)

    # ---- the buttons ----------------------------------------------------------------------

    def clear(self):
        self.ink = ink.blank()
        self.caption = "draw a digit"
        self.update(search=True)

    def show_test_image(self, index=None):
        """Put test image ``index`` (random if None) on the pad."""
        index = int(self.rng.integers(len(self.test_X))) if index is None else index
        row = self.test_X[index]
        self.ink = ink.from_image(row / 255.0 if row.dtype == np.uint8 else row)
        self.caption = f"test image {index} (label {self.test_y[index]})"
        self.update(search=True)

    # ---- what the network says ------------------------------------------------------------

    def update(self, search=False):
        """Preprocess the ink, run the network, redraw; ``search``: the closest images too."""
        self.seen = mnist_style(self.ink)                       # (784,)
        self.outputs, hidden = self.classifier.read(self.seen)
        self.answer = int(np.argmax(self.outputs))
        empty = not self.seen.any()
        self.pad.set_data(self.ink)
        self.pad_ax.set_title(self.caption, fontsize=10)
        self.seen_image.set_data(self.seen.reshape(28, 28))
        self.bars_ax.set_ylim(min(0.0, self.outputs.min()), max(1.0, self.outputs.max()))
        for d, bar in enumerate(self.bars):
            bar.set_height(self.outputs[d])
            bar.set_color("tab:red" if d == self.answer and not empty else "tab:blue")
        self.bars_ax.set_title("(an empty pad)" if empty else f"answer: {self.answer}",
                               fontsize=14 if not empty else 10)
        if hidden is not None:
            self.hidden_image.set_data(hidden)
            self.hidden_image.set_extent((-0.5, hidden.shape[1] - 0.5, hidden.shape[0] - 0.5, -0.5))
            low, high = self.classifier.hidden_bounds or (np.nanmin(hidden),
                                                          np.nanmax(hidden) + 1e-9)
            self.hidden_image.set_clim(low, high)
        if search:
            self._show_closest(empty)
        self.fig.canvas.draw_idle()

    def _show_closest(self, empty):
        k = len(self.closest_axes)
        if empty:
            for image, ax in zip(self.closest_images, self.closest_axes):
                image.set_data(np.zeros((28, 28)))
                ax.set_title("", fontsize=8)
            self.closest = (np.zeros(0, int), np.zeros(0))
            return
        self.closest = self.search.closest(self.seen, k)
        for image, ax, i, dist in zip(self.closest_images, self.closest_axes, *self.closest):
            row = self.search.X[i]
            image.set_data((row / 255.0 if row.dtype == np.uint8 else row).reshape(28, 28))
            ax.set_title(f"{self.train_y[i]}  ({dist:.1f})", fontsize=8)


def _wrap(text, width=28):
    """Break a title at the space nearest the middle when it is too long for its axes."""
    if len(text) <= width or " " not in text:
        return text
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return text[:cut] + "\n" + text[cut + 1:]
