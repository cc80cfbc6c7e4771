"""Small pieces of the report's markdown: tables, cells, durations, rules."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np

from skann.compare._protocol import (
    BLOWUP_LOSS_FACTOR,
    BLOWUP_RMSE_FACTOR,
    ESTIMATORS,
)


def duration(seconds):
    """``"12.3 s"`` under a minute, else ``"4 min 5 s"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


def markdown_table(header, lines):
    """A markdown table of ``header`` and one row per item of ``lines``."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(cell) for cell in line) + " |" for line in lines]
    return "\n".join(out)


def _mean_std(values, digits=3):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def fits_cells(fits):
    """Test RMSE, MAE, R², epochs and seconds of one model's fits (its seeds)."""
    finished = [fit for fit in fits if fit.diverged is None]
    diverged = [fit for fit in fits if fit.diverged is not None]
    if not finished:
        epochs = sorted({f.epoch for f in diverged if f.epoch is not None})
        where = "epoch " + ", ".join(map(str, epochs)) if epochs else "see below"
        seconds = np.mean([f.seconds for f in fits])
        return [f"**diverged** ({where})", "-", "-", "-", f"{seconds:.2f}"]
    rmse = _mean_std([f.rmse for f in finished])
    if diverged:
        rmse += f" ({len(diverged)} of {len(fits)} diverged)"
    # Forests and neighbours have no epochs.
    n_iter = [f.n_iter for f in finished if f.n_iter is not None]
    return [
        rmse,
        f"{np.mean([f.mae for f in finished]):.3f}",
        f"{np.mean([f.r2 for f in finished]):.3f}",
        f"{np.mean(n_iter):.0f}" if n_iter else "-",
        f"{np.mean([f.seconds for f in finished]):.2f}",
    ]


def every_estimator():
    """``"both estimators"`` or ``"every estimator"``, as there are two or more."""
    return "both estimators" if len(ESTIMATORS) == 2 else "every estimator"


def _power_of_ten(value):
    return f"10^{round(math.log10(value))}"


def divergence_rule():
    """When a fit or a grid-search fold counts as diverged, whatever the estimator."""
    return (
        "its training loss became non-finite or passed "
        f"{_power_of_ten(BLOWUP_LOSS_FACTOR)} times the loss of predicting zero, "
        "its predictions are non-finite, or their RMSE passes "
        f"{BLOWUP_RMSE_FACTOR} times the target's standard deviation"
    )
