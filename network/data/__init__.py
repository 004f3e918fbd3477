"""Data sets on disk: the IDX file format (idx.py) and finding/fetching data sets (datasets.py).

This package knows nothing of networks; it turns files into uint8 arrays.
"""
