"""``python -m network ...``: the command line (see network/cli/)."""

import sys

from .cli import main

sys.exit(main())
