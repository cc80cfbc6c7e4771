"""The benchmark of skann against scikit-learn's MLP estimators, one job a module."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# workloads (fixed-seed data, the fit and predict workloads), libraries (what
# a run alternates between), timing (interleaved fits and predict calls,
# memory), baseline (another tree's skann in this process), variants (skann
# with extra parameters), machine (CPU, BLAS, versions, load), report
# (markdown) and cli (options and the run). benchmarks/bench_fit.py runs cli.
