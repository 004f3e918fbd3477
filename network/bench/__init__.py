"""The speed benchmarks: ``mlp`` (the book's networks four ways, issue 3), ``conv`` (the
chapter-6 conv nets on 1 and 2 threads against PyTorch, issue 16) and ``peak`` (the
machine's multiply-add peak, the yardstick for a fraction of it).

The names of ``mlp`` are re-exported here, where they lived before the conv benchmark
joined them (``from network import bench; bench.run(...)``).
"""

from .mlp import (CONFIGS, LABELS, METHODS, book_training_data, compile_seconds, config_name,
                  format_table, per_example_epoch, per_example_vs_matrix, peak_rss_mb, run,
                  time_methods, torch_epoch, torch_version)

__all__ = ["CONFIGS", "LABELS", "METHODS", "book_training_data", "compile_seconds",
           "config_name", "format_table", "per_example_epoch", "per_example_vs_matrix",
           "peak_rss_mb", "run", "time_methods", "torch_epoch", "torch_version"]
