"""The articles' wine-quality table, the rows the comparison refits."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
from typing import NamedTuple


class Row(NamedTuple):
    """One row of the articles' table: a network and the test errors it got."""

    hidden_layer_sizes: tuple
    activation: str
    learning_rate: float
    alpha: float
    red: float
    white: float


# The four articles skann grew from, as they were published (titles, and
# authors where an article names one); the third holds the table below.
ARTICLES = (
    (
        '"ANN 人工神经网络数学推导及 Python 实现" (ANN: the mathematics and a '
        "Python implementation): a 2-3-1 sigmoid network trained by gradient "
        "descent."
    ),
    (
        '"Python实现简单的神经网络(三)" (a simple neural network in Python, '
        "part 3), on CSDN: a 2-2-1 sigmoid network trained by per-sample SGD."
    ),
    (
        "An untitled article deriving the L-layer network, with the "
        "wine-quality experiment and its 15-row table: the table this "
        "comparison refits."
    ),
    (
        "朱先忠's translation, on 51CTO, of \"Neural Networks \N{EN DASH} "
        'Intuitively and Exhaustively Explained" by Daniel Warfield: a '
        "[2, 64, 64, 64, 1] ReLU network on a 2-D toy function."
    ),
)

# The third article's table, row by row, with its test errors on the red and
# the white wines; its sigmoid is scikit-learn's "logistic". NaN is the
# article's own figure: that fit diverged.
ARTICLE_ROWS = (
    Row((50, 30, 20, 10, 5), "logistic", 0.1, 0.1, 0.789623, 0.724354),
    Row((50, 30, 20, 10, 5), "relu", 0.1, 0.1, 0.663542, 1.028760),
    Row((50, 30, 20, 10, 5), "tanh", 0.1, 0.1, 0.663542, math.nan),
    Row((50, 30, 20, 10, 5), "tanh", 0.01, 0.1, 0.603452, 0.830197),
    Row((50, 30, 10, 5), "tanh", 0.01, 0.1, 0.667059, 0.812876),
    Row((50, 10, 5), "relu", 0.01, 0.1, 0.691021, 0.823464),
    Row((10,), "relu", 0.01, 0.1, 0.681109, 0.808402),
    Row((10,), "tanh", 0.01, 0.1, 0.592218, 0.754554),
    Row((10,), "logistic", 0.01, 0.1, 0.613808, 0.757545),
    Row((50, 100, 60, 30, 20, 10), "tanh", 0.01, 0.1, 0.723089, 0.753538),
    Row((50, 100, 60, 30, 20, 10), "relu", 0.01, 0.1, 0.682197, 0.748096),
    Row((50, 100, 60, 30, 20, 10), "logistic", 0.01, 0.1, 0.633969, 0.771930),
    Row((10, 30, 5), "relu", 0.001, 0.1, 0.656096, 0.839657),
    Row((10, 30, 5), "logistic", 0.001, 0.1, 0.792913, 0.840292),
    Row((10, 30, 5), "tanh", 0.001, 0.1, 0.630493, 0.805885),
)

COLORS = ("red", "white")


def parse_rows(spec):
    """Parse row numbers such as ``"1,4,7-9"`` (1-based, as in the table).

    Parameters
    ----------
    spec : str or iterable of int
        Comma-separated numbers and inclusive ranges, or the numbers themselves.

    Returns
    -------
    numbers : tuple of int
        The row numbers, sorted, without repeats.
    """
    n_rows = len(ARTICLE_ROWS)
    if isinstance(spec, str):
        numbers = []
        for part in spec.split(","):
            low, sep, high = part.strip().partition("-")
            try:
                low = int(low)
                high = int(high) if sep else low
            except ValueError:
                raise ValueError(
                    f"Invalid row selection {spec!r}: use numbers and ranges "
                    "such as '1,4,7-9'."
                ) from None
            if low > high:
                raise ValueError(f"Invalid row range {part.strip()!r} in {spec!r}.")
            numbers.extend(range(low, high + 1))
    else:
        numbers = [int(number) for number in spec]
    bad = [number for number in numbers if not 1 <= number <= n_rows]
    if bad or not numbers:
        raise ValueError(f"Row numbers must be between 1 and {n_rows}, got {spec!r}.")
    return tuple(sorted(set(numbers)))


def format_ranges(numbers):
    """``(1, 4, 7, 8, 9)`` as ``"1,4,7-9"``, the inverse of :func:`parse_rows`."""
    parts, start = [], None
    for i, number in enumerate(numbers):
        if start is None:
            start = number
        if i + 1 == len(numbers) or numbers[i + 1] != number + 1:
            parts.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ",".join(parts)


def format_hidden(row, wrap=None):
    """The row's hidden layer sizes as ``"50,30,20"``, a line per ``wrap`` sizes."""
    sizes = [str(n) for n in row.hidden_layer_sizes]
    if wrap is None:
        return ",".join(sizes)
    chunks = [",".join(sizes[i : i + wrap]) for i in range(0, len(sizes), wrap)]
    return ",\n".join(chunks)
