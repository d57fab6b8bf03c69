"""``python -m zoo.benchmarks NAME|DIR [options]``: same as ``zoo bench``."""

from __future__ import annotations

import sys

from zoo.benchmarks.command import main

if __name__ == "__main__":
    sys.exit(main())
