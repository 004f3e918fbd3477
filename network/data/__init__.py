"""Data sets on disk: the IDX file format (idx.py) and finding/fetching data sets (datasets.py).

This package knows nothing of networks; it turns verified files into uint8
arrays. The book-shaped views of MNIST live in ``network.data.mnist``.
"""

from network.data.datasets import find_dataset, load_dataset
from network.data.idx import read_idx, read_idx_header, write_idx

__all__ = ["find_dataset", "load_dataset", "read_idx", "read_idx_header", "write_idx"]
