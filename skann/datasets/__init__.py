"""Data sets used by skann's examples and benchmarks, fetched and cached on demand."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from skann.datasets._wine import (
    DataFilesUnavailable,
    fetch_wine_quality,
    fetch_wine_quality_files,
    get_data_home,
)

__all__ = [
    "DataFilesUnavailable",
    "fetch_wine_quality",
    "fetch_wine_quality_files",
    "get_data_home",
]
