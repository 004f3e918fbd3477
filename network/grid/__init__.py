"""Hyper-parameter search (chapter 3, "How to choose a neural network's hyper-parameters?").

- ``search``: the grid or random search itself (``run_grid``), the run list, the
  table, the test set scored once for the chosen configuration;
- ``executor``: where one run executes (``run_config``) and the executors that
  carry runs (a local process pool by default);
- ``cluster``: runs on a Dask cluster (``--scheduler``), the data sent once;
- ``results``: the results file, JSON Lines that survive a kill and resume, safe
  with several writers (a Hydra sweep's jobs, network/sweep.py);
- ``strategy``: chapter 3's broad strategy as a few small grids in a row.

The figures of a search are drawn by ``network.plots.grid`` from the saved results.
"""

from .executor import (THREAD_VARIABLES, DatasetRef, InlineExecutor, data_fingerprint,
                       default_threads, local_executor, run_config, run_key, thread_settings)
from .search import (OPTIONS, RESULTS_NAME, SELECTION_NAME, GridResult, as_grid_spec,
                     format_table, grid_spec, load_grid, run_configs, run_grid, score_test_set,
                     sort_rows, varying_options)
from .strategy import broad_strategy

__all__ = ["run_grid", "grid_spec", "run_configs", "GridResult", "format_table", "load_grid",
           "as_grid_spec", "score_test_set", "sort_rows", "varying_options", "broad_strategy",
           "run_config", "run_key", "local_executor", "InlineExecutor", "DatasetRef",
           "data_fingerprint", "default_threads", "thread_settings", "THREAD_VARIABLES",
           "OPTIONS", "RESULTS_NAME", "SELECTION_NAME"]
