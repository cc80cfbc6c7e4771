"""`skann compare --color red --rows 4,7-9 --seeds 2 --out compare-out` from Python."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from skann.compare import PARITY_PAIR, format_report, run_comparison, write_report

# The first run downloads the UCI files into ~/skann_data (or $SKANN_DATA_HOME).
result = run_comparison("red", rows="4,7-9", seeds=2, verbose=True)
print(format_report(result, details=False, out_dir="compare-out"))

for row in result.colors[0].rows:
    # PARITY_PAIR is ("skann", "MLPRegressor"): the same mathematics, timed.
    ours, theirs = (row.finished(name) for name in PARITY_PAIR)
    seconds = sum(f.seconds for f in ours) / max(sum(f.seconds for f in theirs), 1e-9)
    print(f"row {row.number}: skann needed {seconds:.2f} x MLPRegressor's fit time")

for path in write_report(result, "compare-out"):
    print("wrote", path)
