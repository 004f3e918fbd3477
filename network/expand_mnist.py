"""``python -m network.data.expansion``: build the expanded-MNIST cache (network/data/expansion.py)."""

import sys

from .data.expansion import main

if __name__ == "__main__":
    sys.exit(main())
