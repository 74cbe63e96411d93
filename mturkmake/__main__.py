"""``python -m mturkmake``."""

from __future__ import annotations

import sys

from mturkmake.cli import main

if __name__ == "__main__":
    sys.exit(main())
