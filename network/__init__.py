"""nndl: the networks of Nielsen's *Neural Networks and Deep Learning* in NumPy and numba.

The names a reader of the book expects are here: ``Network``, ``load``, the
cost classes and the activations.  Submodules hold one idea each; see the
README for the map.
"""

from .base.activations import Identity, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .base.costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from .errors import DataError, ModelFileError, NNDLError, TrainingDiverged, UsageError
from .mlp.network import Network, load

sigmoid = Sigmoid.fn
sigmoid_prime = Sigmoid.prime

__all__ = [
    "Network", "load", "QuadraticCost", "CrossEntropyCost", "LogLikelihoodCost",
    "Sigmoid", "Tanh", "ReLU", "Identity", "SiLU", "Softmax", "sigmoid", "sigmoid_prime",
    "NNDLError", "DataError", "ModelFileError", "UsageError", "TrainingDiverged",
]
