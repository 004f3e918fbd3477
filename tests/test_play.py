"""Look and play (network/play, python -m network play): the windows driven headless.

The windows are drawn on their own Agg canvas (network/play/show.py's still_figure),
as ``--save`` draws them, so no display and no pyplot are needed: sliders are set
with ``set_val``, buttons and the pen get synthetic mouse events through the
canvas's callback registry, exactly what a GUI backend delivers.  The models are
small and trained here: a [784, 30, 10] Network for 2 epochs on 10,000 shipped
images (over 90% on the test set) and a 2-D VAE for one epoch on 10,000.

Every test is stopped after LIMIT seconds (SIGALRM) rather than left to hang, as a
window waiting for a click would.
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent

from network import Network
from network.base.optimizers import Adam
from network.cli import main
from network.conv import ConvNetwork, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from network.data.mnist import load_arrays
from network.errors import ModelFileError, UsageError
from network.play import ink
from network.play.digits_window import SIZE, DigitPad
from network.play.models import Classifier, load_classifier
from network.play.neighbours import ClosestImages
from network.play.preprocess import bounding_box, centre_of_mass, mnist_style
from network.play.show import still_figure
from network.play.vae_window import LIMIT as SIGMAS
from network.play.vae_window import vae_window
from network.vae import io as vae_io
from network.vae.loss import sigmoid
from network.vae.model import VAE
from network.vae.train import train as train_vae

LIMIT = 60  # seconds per test


@pytest.fixture(autouse=True)
def time_limit():
    if not hasattr(signal, "SIGALRM"):                 # Windows: no alarm clock; run unbounded
        yield
        return

    def expired(signum, frame):
        raise TimeoutError(f"test ran longer than {LIMIT} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def mnist():
    return load_arrays("mnist", dtype=np.uint8)


@pytest.fixture(scope="module")
def net(mnist):
    (X, y), _, test = mnist
    net = Network([784, 30, 10], seed=1, backend="numpy")
    net.SGD((X[:10000], y[:10000]), 2, 10, 0.5, verbose=False)
    assert net.accuracy(test) > 9000
    return net


@pytest.fixture(scope="module")
def vae(mnist):
    _, _, (X, _) = mnist
    model = VAE(2, (64,), rng=np.random.default_rng(0))
    train_vae(model, X[:10000] / np.float32(255), 1, 100, Adam(1e-3), rng=np.random.default_rng(0))
    return model


def click(fig, ax, name, x, y, button=1):
    """Deliver a mouse event at data point (x, y) of ``ax``, as a GUI backend would."""
    px, py = ax.transData.transform((x, y))
    fig.canvas.callbacks.process(name, MouseEvent(name, fig.canvas, px, py, button=button))


def press_button(fig, widget):
    for name in ("button_press_event", "button_release_event"):
        click(fig, widget.ax, name, 0.5, 0.5)


# ---- the VAE's latent sliders -----------------------------------------------------------------

def test_moving_a_slider_changes_the_decoded_image(mnist, vae):
    _, _, (X, y) = mnist
    fig, (panel,) = vae_window(still_figure, [vae], X[:2000] / 255.0, y[:2000])
    origin = panel.image.get_array().copy()
    assert np.allclose(origin, sigmoid(vae.decode(np.zeros((1, 2))))[0].reshape(28, 28))
    panel.sliders[0].set_val(2.5)
    moved = panel.image.get_array()
    assert panel.code.tolist() == [2.5, 0.0]
    assert np.abs(moved - origin).max() > 0.1
    assert np.allclose(moved, sigmoid(vae.decode(np.array([[2.5, 0.0]])))[0].reshape(28, 28))
    assert panel.marker.get_data()[0][0] == 2.5
    panel.sliders[1].set_val(-1.0)
    assert np.abs(panel.image.get_array() - moved).max() > 0.01


def test_buttons_go_to_the_origin_and_to_a_class_mean_and_the_map_takes_clicks(mnist, vae):
    _, _, (X, y) = mnist
    fig, (panel,) = vae_window(still_figure, [vae], X[:2000] / 255.0, y[:2000])
    press_button(fig, panel.buttons[1 + 7])                        # "7"
    mean7 = vae.encode(X[:2000][y[:2000] == 7] / 255.0)[0].mean(axis=0)
    assert np.allclose(panel.code, np.clip(mean7, -SIGMAS, SIGMAS), atol=1e-5)
    assert [s.val for s in panel.sliders] == panel.code.tolist()
    press_button(fig, panel.buttons[0])                            # "origin"
    assert panel.code.tolist() == [0.0, 0.0]
    click(fig, panel.map_ax, "button_press_event", 1.5, -0.5)
    assert np.allclose(panel.code, [1.5, -0.5])
    click(fig, panel.map_ax, "button_press_event", 3.2, 0.0)       # beyond 3 sigma: clipped
    assert np.allclose(panel.code, [SIGMAS, 0.0])


def test_two_models_share_a_window_but_not_their_codes(mnist, vae):
    _, _, (X, y) = mnist
    other = VAE(20, (32,), rng=np.random.default_rng(1))
    fig, (a, b) = vae_window(still_figure, [vae, other], X[:1000] / 255.0, y[:1000], pair=(0, 1))
    assert len(a.sliders) == 2 and len(b.sliders) == 20
    before = b.image.get_array().copy()
    a.sliders[0].set_val(-2.0)
    assert np.array_equal(b.image.get_array(), before) and not b.code.any()
    columns = {round(s.ax.get_position().x0, 3) for s in b.sliders}
    assert len(columns) == 2                                       # 20 sliders: two columns of 10
    with pytest.raises(UsageError, match="--pair 1 3"):
        vae_window(still_figure, [vae], X[:100] / 255.0, y[:100], pair=(0, 2))


# ---- the drawing pad --------------------------------------------------------------------------

def test_drawing_a_vertical_stroke_makes_the_trained_network_answer_1(mnist, net):
    train, _, test = mnist
    pad = DigitPad(still_figure(SIZE), Classifier(net), train, test, closest=4)
    click(pad.fig, pad.pad_ax, "button_press_event", 14, 4)
    for y in (9, 14, 19, 24):
        click(pad.fig, pad.pad_ax, "motion_notify_event", 14.5, y)
    click(pad.fig, pad.pad_ax, "button_release_event", 14.5, 24)
    assert pad.answer == 1 and pad.outputs[1] > 0.5
    top, bottom, left, right = bounding_box(pad.seen.reshape(28, 28) > 0)
    assert bottom - top == 20 and right - left < 8                 # scaled into the 20x20 box
    labels = train[1][pad.closest[0]]
    assert (labels == 1).sum() >= 3 and np.all(np.diff(pad.closest[1]) >= 0)
    assert pad.hidden_image.get_array().shape == (5, 6)            # the 30 hidden neurons


def test_the_pen_draws_only_with_the_left_button_on_the_pad(mnist, net):
    train, _, test = mnist
    pad = DigitPad(still_figure(SIZE), Classifier(net), train, test, closest=2)
    click(pad.fig, pad.pad_ax, "button_press_event", 14, 14, button=3)
    click(pad.fig, pad.bars_ax, "button_press_event", 5, 0.5)
    click(pad.fig, pad.pad_ax, "motion_notify_event", 20, 20)
    assert not pad.ink.any()


def test_clear_and_random_test_image_buttons(mnist, net):
    train, _, test = mnist
    pad = DigitPad(still_figure(SIZE), Classifier(net), train, test, closest=2,
                   rng=np.random.default_rng(3))
    clear, random = pad.buttons
    press_button(pad.fig, random)
    assert pad.caption.startswith("test image ") and pad.ink.any()
    index = int(pad.caption.split()[2])
    assert pad.caption.endswith(f"(label {test[1][index]})")
    press_button(pad.fig, clear)
    assert not pad.ink.any() and not pad.seen.any()
    assert pad.bars_ax.get_title() == "(an empty pad)"
    pad.show_test_image(0)                                         # MNIST in, the same digit seen
    assert np.abs(pad.seen - test[0][0] / 255.0).max() < 1e-12 and pad.answer == test[1][0]


def test_the_pad_reads_a_conv_net_through_its_last_hidden_layer(tmp_path):
    conv = ConvPoolLayer((4, 1, 5, 5), (1, 28, 28))
    fc_net = ConvNetwork([conv, FullyConnectedLayer(4 * 12 * 12, 20), SoftmaxLayer(20, 10)],
                         seed=0, kernels="numpy")
    outputs, hidden = Classifier(fc_net).read(np.random.default_rng(0).random(784))
    assert outputs.shape == (10,) and abs(outputs.sum() - 1) < 1e-5 and hidden.shape == (4, 5)
    maps_net = ConvNetwork([ConvPoolLayer((4, 1, 5, 5), (1, 28, 28)),
                            SoftmaxLayer(4 * 12 * 12, 10)], seed=0, kernels="numpy")
    _, maps = Classifier(maps_net).read(np.zeros(784))
    assert maps.shape == (2 * 13 - 1, 2 * 13 - 1)                  # four 12x12 maps, 2 x 2
    for suffix in (".npz", ".json"):
        fc_net.save(tmp_path / f"conv{suffix}")
        assert isinstance(load_classifier(tmp_path / f"conv{suffix}"), ConvNetwork)
    Network([784, 10], seed=0).save(tmp_path / "net.json")
    assert isinstance(load_classifier(tmp_path / "net.json"), Network)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ModelFileError, match="bad.json: .*the pad takes the book's Network"):
        load_classifier(tmp_path / "bad.json")
    with pytest.raises(UsageError, match="784 inputs .* and 10 outputs"):
        Classifier(Network([784, 30, 5], seed=0))


# ---- MNIST's preprocessing and the closest images ----------------------------------------------

def test_preprocessing_a_shifted_digit_gives_the_centred_mnist_digit(mnist):
    (X, _), _, _ = mnist
    rng = np.random.default_rng(0)
    for row in X[:40] / 255.0:
        digit = row.reshape(28, 28)
        field = np.zeros((48, 48))
        r, c = rng.integers(0, 21, size=2)
        field[r:r + 28, c:c + 28] = digit                          # anywhere on a larger field
        assert np.abs(mnist_style(field) - row).max() < 1e-12
        big = np.zeros((150, 150))
        r, c = rng.integers(0, 39, size=2)
        big[r:r + 112, c:c + 112] = ink.from_image(row)            # and four times larger
        assert np.abs(mnist_style(big) - row).max() < 1e-9
    shifted = np.roll(X[0].reshape(28, 28) / 255.0, 3, axis=1)     # negative control: not centred
    assert np.abs(shifted.ravel() - X[0] / 255.0).max() > 0.5


def test_a_small_drawing_is_scaled_into_the_20x20_box_and_centred():
    small = ink.blank()
    ink.paint_segment(small, (10, 10), (13, 16))                   # a short slanted stroke
    seen = mnist_style(small).reshape(28, 28)
    top, bottom, left, right = bounding_box(seen)
    assert max(bottom - top, right - left) == 20
    assert np.allclose(centre_of_mass(seen), (14, 14), atol=0.5)
    assert not mnist_style(ink.blank()).any()


def test_closest_images_match_a_brute_force_search(mnist):
    (X, _), _, (T, _) = mnist
    search = ClosestImages(X[:3000])
    for x in T[:5] / 255.0:
        found, distances = search.closest(x, 5)
        brute = np.sqrt(((X[:3000] / 255.0 - x) ** 2).sum(axis=1))
        assert found.tolist() == np.argsort(brute, kind="stable")[:5].tolist()
        assert np.allclose(distances, np.sort(brute)[:5], atol=1e-3)


# ---- the command ------------------------------------------------------------------------------

def test_save_writes_a_png_of_each_window(tmp_path, net, vae, capsys):
    net.save(tmp_path / "net.json")
    vae_io.save(vae, tmp_path / "vae.npz")
    assert main(["play", "digits", str(tmp_path / "net.json"), "--test-image", "3",
                 "--save", str(tmp_path / "pics" / "digits.png")]) == 0
    assert main(["play", "vae", str(tmp_path / "vae.npz"), str(tmp_path / "vae.npz"),
                 "--digit", "4", "--save", str(tmp_path / "vae.png")]) == 0
    for name in ("pics/digits.png", "vae.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert main(["play", "vae", str(tmp_path / "vae.npz"), "--save", str(tmp_path / "v.jpg")]) == 2
    assert main(["play", "vae", *[str(tmp_path / "vae.npz")] * 3, "--save",
                 str(tmp_path / "v.png")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert "must end in .png" in errors[0] and "one or two" in errors[1]


def test_without_a_display_the_command_says_so_in_one_line(tmp_path, net):
    net.save(tmp_path / "net.json")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for window in ("digits", "vae"):
        out = subprocess.run([sys.executable, "-m", "network", "play", window,
                              str(tmp_path / "net.json")],
                             capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr
        assert "no display" in out.stderr and "--save" in out.stderr
    assert "chapters/vae_latent.py" in out.stderr
