"""Tests of skann.compare in quick mode on the shared data, never the network."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import sys
import urllib.error

import numpy as np
import pytest

from skann.compare import (
    ARTICLE_ROWS,
    main,
    parse_rows,
    run_comparison,
    split_indices,
    write_report,
)
from skann.datasets import _wine
from skann.datasets._wine import WINE_QUALITY_FILES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that would download."""

    def refuse(url, timeout=60):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(_wine, "_fetch_bytes", refuse)


@pytest.fixture(scope="module")
def quick_red(wine_data_home):
    """Rows 2 (relu, learning rate 0.1: diverges) and 8 (10 tanh units), with grid."""
    return run_comparison(
        "red", rows="2,8", quick=True, grid=True, data_home=wine_data_home
    )


def test_parse_rows():
    assert parse_rows("1,4,7-9") == (1, 4, 7, 8, 9)
    assert parse_rows(" 9-9, 3 ,3") == (3, 9)
    assert parse_rows([15, 1]) == (1, 15)
    for bad in ["0", "16", "3-1", "two", "", "1,,2"]:
        with pytest.raises(ValueError, match=r"[Rr]ow"):
            parse_rows(bad)


def test_article_rows_are_the_seeds_table():
    assert len(ARTICLE_ROWS) == 15
    assert {row.alpha for row in ARTICLE_ROWS} == {0.1}
    assert ARTICLE_ROWS[1] == ((50, 30, 20, 10, 5), "relu", 0.1, 0.1, 0.663542, 1.02876)
    assert math.isnan(ARTICLE_ROWS[2].white)
    assert ARTICLE_ROWS[7].red == 0.592218
    assert ARTICLE_ROWS[13].activation == "logistic"


def test_split_is_70_15_15_and_a_partition():
    fit_rows, train_pos, val_pos, test_rows = split_indices(1599, 11, (10,), seed=0)
    train, val = fit_rows[train_pos], fit_rows[val_pos]
    assert (len(train), len(val), len(test_rows)) == (1119, 240, 240)
    everything = np.concatenate([train, val, test_rows])
    np.testing.assert_array_equal(np.sort(everything), np.arange(1599))
    # The test rows depend on the seed only, not on the network.
    _, _, _, other_test = split_indices(1599, 11, (50, 30, 20, 10, 5), seed=0)
    np.testing.assert_array_equal(other_test, test_rows)


def test_quick_comparison_fits_both_estimators_alike(quick_red):
    (red,) = quick_red.colors
    assert quick_red.max_iter == 30 and quick_red.seeds == (0,)
    assert [rr.number for rr in red.rows] == [2, 8]
    row8 = red.rows[1]
    (ours,), (theirs,) = row8.fits["skann"], row8.fits["MLPRegressor"]
    assert ours.diverged is None and theirs.diverged is None
    assert 0.5 < ours.rmse < 0.9
    # Same data, split, seed and mathematics: the same model, to rounding.
    assert ours.rmse == pytest.approx(theirs.rmse, rel=1e-6)
    assert ours.n_iter == theirs.n_iter == len(ours.loss_curve)
    assert ours.split_verified and theirs.split_verified


def test_quick_comparison_reports_divergence_instead_of_a_number(quick_red):
    row2 = quick_red.colors[0].rows[0]
    (ours,), (theirs,) = row2.fits["skann"], row2.fits["MLPRegressor"]
    assert ours.epoch is not None and ours.diverged.startswith(f"epoch {ours.epoch}")
    assert ours.rmse is None
    assert theirs.diverged is not None
    assert row2.finished("skann") == [] and row2.finished("MLPRegressor") == []


def test_quick_grid_search_picks_the_working_row(quick_red):
    grids = quick_red.colors[0].grid
    for name in ("skann", "MLPRegressor"):
        assert grids[name].numbers == [2, 8]
        assert grids[name].best_number == 8
        assert 0.5 < grids[name].test_rmse < 0.9
        assert grids[name].search_seconds > 0
    assert grids["skann"].n_failed == [5, 0]
    assert grids["skann"].best_cv_rmse == pytest.approx(
        grids["MLPRegressor"].best_cv_rmse, rel=1e-6
    )


def test_report_holds_the_table_the_grid_and_the_plots(quick_red, tmp_path):
    paths = write_report(quick_red, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "test_rmse.png", "loss_curves.png"]
    report = paths[0].read_text(encoding="utf-8")
    assert "`skann compare --color red --rows 2,8 --seeds 1 --grid --max-iter 30`" in (
        report
    )
    assert "| # | hidden layers | activation | lr | article | skann RMSE" in report
    row8 = next(line for line in report.splitlines() if line.startswith("| 8 |"))
    assert row8.startswith("| 8 | 10 | tanh | 0.01 | 0.592 | 0.")
    row2 = next(line for line in report.splitlines() if line.startswith("| 2 |"))
    assert row2.count("**diverged** (epoch") == 2
    assert "### Grid search, red wine" in report
    assert "| skann | 8 | 10 | tanh | 0.01 |" in report
    assert "**diverged** in 5/5 folds" in report
    assert "split check" in report.lower() and "equal in all of them" in report
    assert "![test_rmse](test_rmse.png)" in report
    for png in paths[1:]:
        content = png.read_bytes()
        assert content.startswith(PNG_SIGNATURE) and len(content) > 10_000


def test_report_without_matplotlib_says_how_to_get_plots(
    quick_red, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    paths = write_report(quick_red, tmp_path)
    assert paths == [tmp_path / "report.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
    report = paths[0].read_text(encoding="utf-8")
    assert "pip install 'skann[plot]'" in report
    assert "| 8 | 10 | tanh | 0.01 | 0.592 |" in report


def test_command_line_quick_run(tmp_path, monkeypatch, capsys, wine_data_home):
    monkeypatch.setenv("SKANN_DATA_HOME", wine_data_home)
    status = main(["compare", "--quick", "--rows", "8", "--out", str(tmp_path)])
    assert status == 0
    out, err = capsys.readouterr()
    assert out.startswith("# skann compare")
    assert "| 8 | 10 | tanh | 0.01 | 0.592 |" in out
    assert "Total time:" in out and "How the numbers were made" not in out
    assert "row 8 of 15, seed 0, skann:" in err
    assert "row 8 of 15, seed 0, MLPRegressor:" in err
    assert "How the numbers were made" in (tmp_path / "report.md").read_text("utf-8")


def test_command_line_rejects_bad_rows(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["compare", "--rows", "0-3"])
    assert excinfo.value.code == 2
    assert "between 1 and 15" in capsys.readouterr().err


def test_command_line_offline_without_data(tmp_path, monkeypatch, capsys):
    def offline(url, timeout=60):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(_wine, "_fetch_bytes", offline)
    status = main(["compare", "--quick", "--data-home", str(tmp_path)])
    assert status == 1
    err = capsys.readouterr().err
    assert WINE_QUALITY_FILES["red"].url in err
    assert str(tmp_path / "winequality-red.csv") in err


def test_run_comparison_rejects_an_unknown_color():
    with pytest.raises(ValueError, match="color"):
        run_comparison("rose")
