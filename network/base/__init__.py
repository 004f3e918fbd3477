"""The pieces every trainer shares, each a small object with a value and a derivative or
a step: activations, costs, L1/L2 regularisation, optimisers (SGD, momentum, Adam),
learning-rate schedules and early stopping, and the one switch to numba (``jit``).

Nothing here knows about files, data sets or a particular network.
"""
