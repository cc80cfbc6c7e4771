"""``python -m skann.compare``: the ``skann`` command line."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import sys

from skann.compare._cli import main

if __name__ == "__main__":
    sys.exit(main())
