"""The order of the gallery: from the quick start to the comparisons."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# The order a newcomer should read them in; a file not listed goes last, by name.
ORDER = (
    "plot_quick_start.py",
    "plot_toy_function.py",
    "plot_activations_wine.py",
    "plot_batch_norm_sigmoid.py",
    "plot_unstable_rows_rescued.py",
    "plot_retrieval_wine.py",
    "plot_solvers.py",
    "plot_mlp_parity.py",
    "plot_classification_proba.py",
)


class ExampleOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = str(filename)
        rank = ORDER.index(name) if name in ORDER else len(ORDER)
        return f"{rank:03d}_{name}"
