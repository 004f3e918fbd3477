"""``python -m network play vae|digits MODEL ...``: windows to look at and play with trained models.

    python -m network play vae MODEL.npz [MODEL2.npz] [--pair I J] [--digit D] [--save PATH.png]
    python -m network play digits MODEL.json [--test-image N] [--closest K] [--seed S]
                                             [--save PATH.png]

``vae``: one slider per latent dimension (-3 to +3 sigma) and the decoded image,
the code's place among the test set's latent means (dimensions I and J, default
1 and 2), buttons to the origin and to each digit's class mean (network/play/
vae_window.py).  Two models open side by side in one window, each with its own
controls (a beta = 1 and a beta = 10 VAE, say); for more, run the command again:
every run is its own window.  ``digits``: a pad to draw on, the network's ten
outputs and hidden activations, the closest training images; a model saved by
``python -m network train --save`` (the book's Network) or a chapter-6 conv net
(``python chapters/chap6.py conv1`` writes out/chap6/conv1.model.npz)
(network/play/digits_window.py).  Both use the shipped MNIST.

``--save PATH.png`` draws the window's first view into a PNG without opening a
window or needing a display (for notes and the README): ``--digit`` and
``--test-image`` choose that view.  Without ``--save`` and without a display,
or without an interactive matplotlib backend, the command says so in one line
and exits with status 2.
"""

import numpy as np

from ..errors import UsageError
from .common import output_file
from . import options
from .options import non_negative_int, positive_int

STILL_FIGURES = {"vae": "the still figures of 'python chapters/vae_latent.py sliders tour'",
                 "digits": "'python -m network evaluate MODEL.json' for the accuracy"}


def add_parser(subparsers):
    p = subparsers.add_parser("play", help="windows to look and play: VAE latent sliders, a pad "
                                           "to draw digits on",
                              description="Interactive windows on trained models (matplotlib).")
    sub = p.add_subparsers(dest="play_command", metavar="WINDOW", parser_class=type(p))
    sub.required = True
    v = sub.add_parser("vae", help="latent sliders on a VAE (one or two models)",
                       description="Move a VAE's latent code with sliders and watch the decoded "
                                   "image; see where the code lies among the test set's latent "
                                   "means; jump to the origin or to a digit's class mean.")
    v.add_argument("models", metavar="MODEL", nargs="+",
                   help="a VAE saved by 'python -m network vae train --save' (.npz or .json); "
                        "give two to compare them side by side")
    v.add_argument("--pair", type=positive_int, nargs=2, metavar=("I", "J"), default=[1, 2],
                   help="the latent dimensions of the map, counted from 1 (default 1 2)")
    v.add_argument("--digit", type=int, choices=range(10), metavar="D",
                   help="start at digit D's class mean instead of the origin")
    _add_save(v)
    v.set_defaults(run=run_vae)
    d = sub.add_parser("digits", help="a pad to draw a digit for a trained network",
                       description="Draw a digit with the mouse; see it preprocessed as MNIST, the "
                                   "network's outputs and hidden activations, and the closest "
                                   "training images.")
    d.add_argument("model", metavar="MODEL",
                   help="a Network saved by 'python -m network train --save' (.json) or a "
                        "chapter-6 conv net (.npz or .json)")
    d.add_argument("--test-image", type=non_negative_int, metavar="N",
                   help="start with test image N on the pad (0 to 9999)")
    d.add_argument("--closest", type=positive_int, default=6, metavar="K",
                   help="how many closest training images to show (default 6, at most 12)")
    options.add(d, "seed", default=None, help="seed of the 'random test image' button")
    _add_save(d)
    d.set_defaults(run=run_digits)
    return p


def _add_save(parser):
    parser.add_argument("--save", metavar="PATH.png", type=output_file,
                        help="write the window's first view to this PNG and exit (no display "
                             "needed)")


def _start(args, title):
    """How to make the figure to draw on: an Agg canvas for --save, else a window called
    ``title``, if one can open here."""
    from ..play import show

    if args.save:
        if not args.save.lower().endswith(".png"):
            raise UsageError(f"--save {args.save}: the file name must end in .png")
        return show.still_figure
    reason = show.why_no_window()
    if reason:
        raise UsageError(f"cannot open a window: {reason}; use --save PATH.png to draw the "
                         f"window into a file, or see {STILL_FIGURES[args.play_command]}")
    return lambda size: show.window_figure(size, title)


def _finish(args, fig):
    from ..play import show
    from ..plots.render import save

    if args.save:
        save(fig, args.save, dpi=72)
        print(f"Wrote {args.save}")
    else:
        show.show()
    return 0


def run_vae(args):
    from ..data.mnist import load_arrays
    from ..play.vae_window import vae_window
    from ..vae.io import load

    if len(args.models) > 2:
        raise UsageError(f"{len(args.models)} models given; one window holds one or two (run the "
                         f"command again for more windows)")
    new_figure = _start(args, "nndl: VAE latent sliders")
    models = [load(path) for path in args.models]
    _, _, (X, y) = load_arrays("mnist", dtype=np.float32)
    titles = [f"{path}: {m.latent_dim}-D latent, hidden {', '.join(map(str, m.hidden))}"
              for path, m in zip(args.models, models)]
    fig, panels = vae_window(new_figure, models, X, y, tuple(i - 1 for i in args.pair), titles)
    if args.digit is not None:
        for panel in panels:
            panel.go_to_class(args.digit)
    return _finish(args, fig)


def run_digits(args):
    from ..data.mnist import load_arrays
    from ..play.digits_window import SIZE, DigitPad
    from ..play.models import Classifier, load_classifier

    if args.closest > 12:
        raise UsageError(f"--closest {args.closest}: the window has room for at most 12")
    new_figure = _start(args, "nndl: draw a digit")
    classifier = Classifier(load_classifier(args.model))
    train, _, test = load_arrays("mnist", dtype=np.uint8)
    if args.test_image is not None and args.test_image >= len(test[0]):
        raise UsageError(f"--test-image {args.test_image}: there are {len(test[0])} test images, "
                         f"numbered 0 to {len(test[0]) - 1}")
    pad = DigitPad(new_figure(SIZE), classifier, train, test, args.closest,
                   np.random.default_rng(args.seed))
    if args.test_image is not None:
        pad.show_test_image(args.test_image)
    return _finish(args, pad.fig)
