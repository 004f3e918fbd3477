"""The book's ``mnist_loader`` under its own name: ``network.data.mnist.load_data_wrapper()``.

The code lives in ``network/data/mnist.py``; this module keeps the book's import working.
"""

from .data.mnist import (N_TRAIN, load_arrays, load_data, load_data_wrapper,
                         vectorized_result)

__all__ = ["N_TRAIN", "load_arrays", "load_data", "load_data_wrapper", "vectorized_result"]
