"""``python -m workbench``: the headless audit command (see :mod:`workbench.cli`)."""

import sys

from workbench.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m workbench"))
