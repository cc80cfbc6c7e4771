"""Time and measure ``fit`` and ``predict`` of skann against scikit-learn's MLPs."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# Run from the repository root:
#
#     python benchmarks/bench_fit.py [--quick] [--workloads W1,W3,P10k] [--repeats N]
#         [--dtype float64,float32] [--epochs W3=500] [--out benchmarks/RESULTS.md]
#         [--baseline ../skann-before] [--variants "dropout=dropout=0.1"]
#
# Each fit workload fits ANNRegressor/ANNClassifier and MLPRegressor/
# MLPClassifier on the same fixed-seed data with the same hyperparameters,
# batch size, epoch count and random_state; each predict workload times
# predict calls of such models. Runs alternate between the libraries (skann,
# scikit-learn, skann, scikit-learn, ...). The code is the package bench/
# beside this file; benchmarks/README.md says what is measured and how to
# read the report.

from bench.cli import main

if __name__ == "__main__":
    main()
