"""The book's fully connected network (network.py and network2.py, chapters 1-5).

- ``network``: the ``Network`` class with the book's API;
- ``backprop``: feedforward and backpropagation over a mini-batch, in NumPy (BP1-BP4);
- ``kernels`` and ``pixels``: the same epoch compiled with numba, reading sparse pixels;
- ``data_format``: the book's list of pairs or (X, y) arrays, turned into one layout;
- ``epoch``: one epoch of mini-batch SGD, on the NumPy path or compiled (``kernels``,
  with the flat parameter array and argument tables of ``layout``);
- ``saturation``: a run that sits at chance level, and the stuck neurons behind it;
- ``io``: model files (network2's JSON); ``checkpoint`` and ``resumable``: training
  that stops and resumes bit for bit;
- ``universality``: chapter 4's networks built by hand.
"""

from .network import Network

__all__ = ["Network"]
