"""``python -m zoo.benchmarks NAME|DIR [options]`` or ``compare RUN_A RUN_B``: as ``zoo bench``."""

from __future__ import annotations

import sys

from zoo.benchmarks.command import main

if __name__ == "__main__":
    sys.exit(main())
