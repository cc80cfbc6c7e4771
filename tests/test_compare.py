"""Tests of skann.compare in quick mode on the shared data, never the network."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
import io
import math
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score

import skann
from skann import ANNRegressor
from skann._core.training import DIVERGENCE_FACTOR
from skann.compare import (
    ARTICLE_ROWS,
    BEYOND,
    BLOWUP_LOSS_FACTOR,
    ESTIMATOR_SPECS,
    ESTIMATORS,
    N_FOLDS,
    PARITY_PAIR,
    VALIDATION_FRACTION,
    ColorResult,
    ComparisonResult,
    FitResult,
    GridResult,
    RowResult,
    _cli,
    _output,
    _plots,
    _report_grid,
    format_report,
    main,
    make_beyond,
    parse_rows,
    run_comparison,
    split_indices,
    write_report,
)
from skann.compare._progress import FitProgressBar
from skann.compare._protocol import (
    QUICK_BOOSTING_ITER,
    QUICK_MAX_ITER,
    QUICK_TREES,
)
from skann.datasets import _wine, fetch_wine_quality
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


@pytest.fixture
def made_up_result():
    """Rows 3 and 8 on two seeds, no fitting: on white row 3, whose article
    figure is NaN, skann diverged on seed 0 and MLPRegressor on both seeds."""

    def fits(name, rmses):
        return [
            FitResult(name, seed, 0.1, diverged="epoch 2")
            if rmse is None
            else FitResult(
                name,
                seed,
                0.1,
                n_iter=3,
                rmse=rmse,
                mae=0.5,
                r2=0.3,
                loss_curve=[2.0, 1.0, 0.5],
                validation_scores=[0.1, 0.2, 0.3],
            )
            for seed, rmse in enumerate(rmses)
        ]

    rmses = {
        "red": {3: [0.70, 0.72], 8: [0.64, 0.66]},
        "white": {3: [None, 0.80], 8: [0.74, 0.76]},
    }
    colors = []
    for color, per_row in rmses.items():
        rows = []
        for number, values in per_row.items():
            by_name = {name: values for name in ESTIMATORS}
            if color == "white" and number == 3:
                by_name["MLPRegressor"] = [None, None]
            rows.append(
                RowResult(
                    number,
                    ARTICLE_ROWS[number - 1],
                    {name: fits(name, by_name[name]) for name in ESTIMATORS},
                )
            )
        colors.append(ColorResult(color, 1000, 0.8, rows, 1.0))
    return ComparisonResult(
        colors, (3, 8), (0, 1), 3, True, None, 2.0, {"skann": skann.__version__}
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


@pytest.mark.parametrize("hidden", [(10,), (50, 30, 20, 10, 5)])
@pytest.mark.parametrize("seed", [0, 4])
def test_split_replays_the_initialisations_draws(hidden, seed):
    """Non-regression (issue 14): ``split_indices`` skips ``n_init_draws``
    draws of the seed's stream, as if it had drawn MLPRegressor's Glorot
    initialisation; this fails if the draw order or count changes."""
    from sklearn.neural_network import MLPRegressor

    from skann._core.network import n_init_draws

    sizes = [11, *hidden, 1]
    skipped = np.random.RandomState(seed)
    skipped.random_sample(n_init_draws(sizes))
    for activation in ("relu", "logistic"):
        mlp = MLPRegressor(hidden, activation=activation, solver="sgd")
        mlp._random_state = np.random.RandomState(seed)
        mlp._initialize(np.zeros((1, 1)), sizes, np.float64)
        drawn, replayed = mlp._random_state.get_state(), skipped.get_state()
        # (name, key array, position, has_gauss, cached_gaussian)
        assert np.array_equal(drawn[1], replayed[1]) and drawn[2:] == replayed[2:]
    short = np.random.RandomState(seed)
    short.random_sample(n_init_draws(sizes) - 1)
    assert short.get_state()[2] != skipped.get_state()[2]


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
@pytest.mark.parametrize("hidden", [(10,), (20, 5)])
def test_split_is_the_one_both_estimators_hold_out(hidden):
    """The validation rows ``split_indices`` computes are those MLPRegressor
    and ANNRegressor hold out when fitted with the same seed: the R² on them
    is the estimator's own ``best_validation_score_``."""
    from sklearn.neural_network import MLPRegressor

    X, y = make_regression(300, 11, noise=10.0, random_state=0)
    y = y / np.std(y)
    seed = 3
    fit_rows, train_pos, val_pos, _ = split_indices(*X.shape, hidden, seed)
    X_fit, y_fit = X[fit_rows], y[fit_rows]
    params = {
        "hidden_layer_sizes": hidden,
        "solver": "sgd",
        "max_iter": 3,
        "early_stopping": True,
        "validation_fraction": VALIDATION_FRACTION,
        "random_state": seed,
    }
    for model in (
        MLPRegressor(learning_rate_init=0.01, **params),
        ANNRegressor(learning_rate=0.01, **params),
    ):
        model.fit(X_fit, y_fit)
        r2 = r2_score(y_fit[val_pos], model.predict(X_fit[val_pos]))
        assert r2 == pytest.approx(model.best_validation_score_, rel=1e-9)
        # The other rows score differently: the check can tell the splits apart.
        r2_train = r2_score(y_fit[train_pos], model.predict(X_fit[train_pos]))
        assert r2_train != pytest.approx(model.best_validation_score_, rel=1e-6)


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
    assert grids["skann"].best_cv_rmse == pytest.approx(
        grids["MLPRegressor"].best_cv_rmse, rel=1e-6
    )


def test_report_holds_the_table_the_grid_and_the_plots(quick_red, tmp_path):
    paths = write_report(quick_red, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "test_rmse.png", "loss_curves.png"]
    report = paths[0].read_text(encoding="utf-8")
    assert (
        "`skann compare --color red --rows 2,8 --seeds 1 --grid --max-iter 30 "
        f"--out {tmp_path / 'out'}`"
    ) in report
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
    # The articles are cited (issue 19), the table's own third.
    sources = report[report.index("## Sources") :]
    assert "3. An untitled article deriving the L-layer network" in sources
    assert "by Daniel Warfield" in sources and "Cortez" in sources
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
    home = tmp_path / "empty"
    argv = ["compare", "--quick", "--color", "both", "--data-home", str(home)]
    status = main(argv)
    assert status == 1
    err = capsys.readouterr().err
    # Every missing file is named, not only the first one.
    for color in ("red", "white"):
        assert WINE_QUALITY_FILES[color].url in err
        assert str(home / f"winequality-{color}.csv") in err
    # The advice names the command's option, not the Python argument.
    assert "--data-home" in err and "data_home" not in err
    # Nothing is created on failure.
    assert not home.exists()


def test_run_comparison_rejects_an_unknown_color():
    with pytest.raises(ValueError, match="color"):
        run_comparison("rose")


def test_command_line_version(capsys):
    """Non-regression: ``skann --version`` failed with the top-level usage."""
    with pytest.raises(SystemExit) as excinfo:
        main(["--version"])
    assert excinfo.value.code == 0
    assert capsys.readouterr().out == f"skann {skann.__version__}\n"


def test_python_m_skann_compare_runs_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "skann.compare", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"skann {skann.__version__}\n"


def test_command_line_misspelt_option_is_named_by_compare(capsys):
    """Non-regression: ``skann compare --qiuck`` showed the top-level usage and
    suggested nothing."""
    with pytest.raises(SystemExit) as excinfo:
        main(["compare", "--qiuck"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: skann compare ")
    assert (
        "skann compare: error: unrecognized arguments: --qiuck (did you mean --quick?)"
    ) in err


def _refuse_to_fit(*args, **kwargs):
    raise AssertionError("a fit started before --out was checked")


@pytest.mark.parametrize("where", ["a file", "below a file", "read-only"])
def test_command_line_bad_out_fails_before_the_first_fit(
    where, tmp_path, monkeypatch, capsys
):
    """Non-regression: an ``--out`` that was a file, or could not be created or
    written, lost a whole run's plots to a traceback at its end."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("", encoding="utf-8")
    out = {"a file": a_file, "below a file": a_file / "plots"}.get(where, tmp_path)
    if where == "read-only":
        # Permission bits do not bind every user (root); fail the probe itself.
        def read_only(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(_output, "NamedTemporaryFile", read_only)
    monkeypatch.setattr(_cli, "run_comparison", _refuse_to_fit)
    status = main(["compare", "--quick", "--out", str(out)])
    assert status == 2
    stdout, err = capsys.readouterr()
    assert stdout == ""
    assert err.startswith(f"skann compare: error: argument --out: {out}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_command_line_creates_out_before_the_first_fit(tmp_path, monkeypatch):
    out = tmp_path / "new" / "compare-out"

    def stop_at_the_first_fit(*args, **kwargs):
        assert out.is_dir()
        raise OSError("no data")

    monkeypatch.setattr(_cli, "run_comparison", stop_at_the_first_fit)
    assert main(["compare", "--quick", "--out", str(out)]) == 1


def test_run_again_command_keeps_out_and_jobs(quick_red):
    """Non-regression: the report's "Run again" line dropped ``--out``."""
    report = format_report(
        dataclasses.replace(quick_red, n_jobs=2), out_dir="compare out"
    )
    assert (
        "Run again with `skann compare --color red --rows 2,8 --seeds 1 --grid "
        "--jobs 2 --max-iter 30 --out 'compare out'`."
    ) in report


def test_grid_search_applies_one_divergence_rule_to_every_estimator(quick_red):
    """Non-regression: the grid table set skann's "diverged in 5/5 folds" (its
    fits stopped) beside MLPRegressor's "blown up in 1/5" (a fold RMSE test)."""
    grids = quick_red.colors[0].grid
    for name in PARITY_PAIR:
        assert grids[name].n_diverged == [5, 0]
        assert math.isnan(grids[name].cv_rmse[0])
    # The stabilisers (target scaling, clipping) rescue the row.
    assert grids["skann-stabilised"].n_diverged == [0, 0]
    assert np.isfinite(grids["skann-stabilised"].cv_rmse[0])
    report = format_report(quick_red, details=False)
    assert "blown up" not in report
    assert (
        "| 2 | 50,30,20,10,5 | relu | 0.1 | **diverged** in 5/5 folds "
        "| **diverged** in 5/5 folds | "
    ) in report
    assert (
        "A fold's fit counts as diverged, for every estimator alike, when its "
        "training loss became non-finite or passed 10^6 times the loss of "
        "predicting zero"
    ) in report


def test_grid_cell_of_a_partly_diverged_candidate():
    grid = GridResult(
        "MLPRegressor", [1], [np.nan], [1], [0.7184], 1, np.nan, None, None, 1, 1
    )
    assert _report_grid._cv_cell(grid, 0) == (
        f"**diverged** in 1/{N_FOLDS} folds; 0.718 on the others"
    )


def test_loss_factor_is_skanns_own():
    """The comparison's divergence rule is skann's stopping rule, not a copy."""
    assert BLOWUP_LOSS_FACTOR is DIVERGENCE_FACTOR


def test_report_explains_the_articles_nan(made_up_result):
    """Non-regression: the article's NaN (its fit diverged) was unexplained."""
    report = format_report(made_up_result)
    assert "| 3 | 50,30,20,10,5 | tanh | 0.1 | diverged (NaN) |" in report
    assert "| 3 | 50,30,20,10,5 | tanh | 0.1 | 0.664 |" in report


def _finite_ydata(ax):
    values = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
    return np.concatenate([v[np.isfinite(v)] for v in values])


def test_rmse_plot_keeps_diverged_fits_off_the_rmse_axis(made_up_result, tmp_path):
    """Non-regression: diverged fits were X marks at fixed heights of the RMSE
    axis, which read as values, and the article's NaN was unexplained."""
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    fig = _plots.plot_test_rmse(made_up_result, Figure, tmp_path / "rmse.png")
    bands = [ax for ax in fig.axes if ax.get_ylabel() == "diverged"]
    panels = [ax for ax in fig.axes if ax.get_ylabel() == "test RMSE"]
    assert len(bands) == len(panels) == 2
    for ax in panels:
        marked = [line for line in ax.lines if len(line.get_xdata())]
        assert not [line for line in marked if line.get_marker() in ("x", "X")]
        # Only values on this axis: the RMSEs, their spreads and the article's.
        assert _finite_ydata(ax).max() < 0.9
        for container in ax.containers:
            colour = ESTIMATOR_SPECS[container.get_label()].color
            assert container.lines[0].get_color() == colour
    red, white = bands
    labels = [tick.get_text() for tick in white.get_yticklabels()]
    assert labels == [*ESTIMATORS, "article"]
    texts = [text.get_text() for text in white.texts]
    # skann and skann-stabilised share the made-up fits: 1 of 2 diverged.
    assert sorted(texts) == ["1/2", "1/2", "2/2", "diverged (NaN)"]
    crosses = {
        (line.get_color(), float(line.get_ydata()[0]))
        for line in white.lines
        if line.get_marker() == "X"
    }
    skann_colour, mlp_colour, stab_colour = (
        ESTIMATOR_SPECS[n].color for n in ESTIMATORS
    )
    assert crosses == {
        (skann_colour, 0.0),
        (mlp_colour, 1.0),
        (stab_colour, 2.0),
        ("black", 3.0),
    }
    assert [text.get_text() for text in red.texts] == ["no fit diverged"]
    assert to_rgba(skann_colour) != to_rgba(mlp_colour)


def test_loss_curve_plot_says_what_best_means_and_colours_estimators(
    made_up_result, tmp_path
):
    """Non-regression: line colours meant "best row", "second best", so changed
    meaning between the red and white panels, and "3 best rows" did not say by
    what."""
    from matplotlib.figure import Figure

    fig = _plots.plot_loss_curves(made_up_result, Figure, tmp_path / "loss.png")
    assert "lowest mean test RMSE of skann" in fig.get_suptitle()
    # Three rows of panels (losses on the target, on the standardised target,
    # validation R²), one column per colour.
    red_val, white_val = fig.axes[4], fig.axes[5]
    for ax in fig.axes:
        for line in ax.lines:
            _, _, name = line.get_label().partition(", ")
            if name:
                assert line.get_color() == ESTIMATOR_SPECS[name].color
    assert [
        line.get_label() for line in red_val.lines if "row" in line.get_label()
    ] == [f"row {number}, {name}" for number in (8, 3) for name in ESTIMATORS]
    # White row 3 diverged on seed 0, the seed drawn.
    assert [
        line.get_label() for line in white_val.lines if "row" in line.get_label()
    ] == [f"row 8, {name}" for name in ESTIMATORS]


def _loss_names(ax):
    return {line.get_label().partition(", ")[2] for line in ax.lines}


def test_loss_curve_plot_keeps_the_standardised_loss_on_its_own_axis(
    made_up_result, tmp_path
):
    """Non-regression (issue 19): the stabilised model's loss, on the
    standardised target, shared the others' axis and looked worse than it is."""
    from matplotlib.figure import Figure

    fig = _plots.plot_loss_curves(made_up_result, Figure, tmp_path / "loss.png")
    red_loss, white_loss, red_scaled, white_scaled = fig.axes[:4]
    for ax in (red_loss, white_loss):
        assert _loss_names(ax) == {"skann", "MLPRegressor"}
        assert "standardised" not in ax.get_title()
    for ax in (red_scaled, white_scaled):
        assert _loss_names(ax) == {"skann-stabilised"}
        assert "standardised target" in ax.get_title()
        assert ax.get_ylabel().startswith("½ MSE of quality / 0.80")


def test_rmse_plot_draws_the_mean_predictor(made_up_result, tmp_path):
    """Non-regression (issue 19): nothing showed the level of a network that
    collapsed to the mean."""
    from matplotlib.figure import Figure

    result = dataclasses.replace(made_up_result)
    result.colors = [
        dataclasses.replace(made_up_result.colors[0], mean_rmse=0.777),
        made_up_result.colors[1],
    ]
    fig = _plots.plot_test_rmse(result, Figure, tmp_path / "rmse.png")
    panels = [ax for ax in fig.axes if ax.get_ylabel() == "test RMSE"]
    means = [
        [line for line in ax.lines if line.get_label().startswith("predicting")]
        for ax in panels
    ]
    assert [len(lines) for lines in means] == [1, 1]
    # The run's own figure, else the target's spread (made_up_result has none).
    assert list(means[0][0].get_ydata()) == [0.777, 0.777]
    assert list(means[1][0].get_ydata()) == [0.8, 0.8]
    assert "test RMSE 0.777" in means[0][0].get_label()
    low, high = panels[0].get_ylim()
    assert low < 0.777 < high


def test_run_records_the_mean_predictor(quick_red):
    (red,) = quick_red.colors
    # About the spread of the quality scores; the networks do better.
    assert 0.7 < red.mean_rmse < 0.9
    assert red.rows[1].rmse_mean_std("skann")[0] < red.mean_rmse
    report = format_report(quick_red)
    assert f"test RMSE of {red.mean_rmse:.3f}: a network near that" in report


class _Clock:
    """A clock that moves only when told to."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_off_a_terminal_is_a_line_every_ten_percent():
    stream, clock = io.StringIO(), _Clock()
    progress = FitProgressBar(stream, interactive=False, clock=clock)
    progress.start("red", 20, "10 rows x 1 seed x 2 estimators")
    for i in range(20):
        clock.now += 1
        progress.advance(f"fit {i + 1}")
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "[red] 20 fits: 10 rows x 1 seed x 2 estimators"
    assert lines[1] == "[red] 2/20 fits (10%), 0:02: fit 2"
    assert lines[-1] == "[red] 20/20 fits (100%), 0:20: fit 20"
    assert len(lines) == 1 + 10


def test_progress_off_a_terminal_writes_after_line_seconds_too():
    stream, clock = io.StringIO(), _Clock()
    progress = FitProgressBar(stream, interactive=False, line_seconds=30, clock=clock)
    progress.start("white", 1000)
    for seconds in (10, 20, 31, 40, 62):
        clock.now = seconds
        progress.advance("a slow fit")
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [
        "[white] 3/1000 fits (0%)",
        "[white] 5/1000 fits (0%)",
    ]
    progress.finish()
    assert stream.getvalue().splitlines()[1:] == lines[1:]


def test_progress_on_a_terminal_redraws_one_line():
    stream, clock = io.StringIO(), _Clock()
    progress = FitProgressBar(stream, interactive=True, clock=clock)
    progress.start("red", 4)
    for i in range(4):
        clock.now += 1
        progress.advance(f"fit {i + 1}")
        if i == 1:
            progress.message("[red] grid search, skann: 1.0 s, best row 8")
    progress.finish()
    text = stream.getvalue()
    # Only the message and the end of the bar start new lines.
    lines = text.split("\n")
    assert len(lines) == 3 and lines[-1] == ""
    assert lines[0].endswith("[red] grid search, skann: 1.0 s, best row 8")
    last = lines[1].split("\r")[-1]
    assert last.startswith("red [########################] 4/4 100% 0:04  fit 4")


def test_progress_counts_the_fits_joblib_completes(capsys):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    stream = io.StringIO()
    progress = FitProgressBar(stream, interactive=False, line_percent=1)
    progress.start("red", 1 + 3 * 2)
    progress.advance("a row fit")
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    with progress.counting_joblib("grid search"):
        print("a line of someone else's", file=sys.stderr)
        GridSearchCV(Ridge(), {"alpha": [0.1, 1, 10]}, cv=2, n_jobs=1).fit(X, y)
    assert progress.done == 7
    assert stream.getvalue().splitlines()[-1].startswith("[red] 7/7 fits (100%)")
    err = capsys.readouterr().err
    assert err == "a line of someone else's\n"


def test_terminal_table_is_narrow(quick_red):
    """Non-regression (issue 19): the terminal showed the report's 21 columns."""
    narrow = format_report(quick_red, details=False)
    wide = format_report(quick_red)
    header = next(line for line in narrow.splitlines() if line.startswith("| # |"))
    assert header == (
        "| # | hidden layers | activation | lr | article | skann RMSE | MLP RMSE "
        "| stab RMSE | speed ratio |"
    )
    for text, n_columns in ((narrow, 9), (wide, 5 + 5 * len(ESTIMATORS) + 1)):
        # The first such line is the table of the rows; the grid's come later.
        row = next(line for line in text.splitlines() if line.startswith("| 8 |"))
        assert row.count("|") == n_columns + 1
    assert "report.md (written with --out DIR) adds the MAE" in narrow
    assert "skann MAE" in wide and "skann MAE" not in narrow


def test_command_line_bad_scheduler_is_one_line(
    wine_sample_data_home, monkeypatch, capsys
):
    """Non-regression (issue 19): ``--scheduler notanaddress`` printed a
    30-line traceback from distributed."""
    pytest.importorskip("distributed")
    dask = pytest.importorskip("dask")
    from skann.compare import _run

    monkeypatch.setattr(_run, "_run_rows", _refuse_to_fit)
    argv = ["compare", "--quick", "--grid", "--quiet", "--scheduler", "notanaddress"]
    before = dask.config.get("scheduler", None)
    status = main([*argv, "--data-home", str(wine_sample_data_home)])
    assert status == 1
    # The Client that failed to connect left dask's scheduler option as it
    # was, without waiting for the garbage collector.
    assert dask.config.get("scheduler", None) == before
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(
        "skann compare: error: 'notanaddress' is not a Dask scheduler address"
    )
    assert "tcp://10.0.0.5:8786" in err
    # The client distributed half started is closed: Dask computes as before.
    import dask
    from distributed import Client

    assert dask.config.get("scheduler", None) is None
    with pytest.raises(ValueError, match="No clients found"):
        Client.current(allow_global=True)


def test_command_line_rejects_an_empty_scheduler(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["compare", "--grid", "--scheduler", ""])
    assert excinfo.value.code == 2
    assert "expected a scheduler address" in capsys.readouterr().err


def test_command_line_quiet_shows_no_progress(wine_sample_data_home, capsys):
    argv = ["compare", "--quick", "--rows", "8", "--quiet"]
    assert main([*argv, "--data-home", str(wine_sample_data_home)]) == 0
    out, err = capsys.readouterr()
    assert "| 8 | 10 | tanh | 0.01 | 0.592 |" in out
    assert err == "Add --out DIR to also write report.md and plots.\n"


def test_command_line_dask_without_dask_installed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setattr(_cli, "run_comparison", _refuse_to_fit)
    for option in (["--dask"], ["--scheduler", "tcp://10.0.0.5:8786"]):
        assert main(["compare", "--grid", *option]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"skann compare: error: argument {option[0]}: needs ")
        assert err.endswith("pip install 'skann[dask]'\n") and err.count("\n") == 1


def test_command_line_dask_needs_grid(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["compare", "--dask"])
    assert excinfo.value.code == 2
    assert "argument --dask: runs the grid searches; add --grid" in (
        capsys.readouterr().err
    )
    with pytest.raises(ValueError, match="grid=True"):
        run_comparison("red", dask=True)


def test_run_again_command_keeps_dask_options(quick_red):
    from skann.compare._dask import DaskInfo

    on_local = dataclasses.replace(quick_red, dask=DaskInfo(None, 2, 2), n_jobs=2)
    assert "--grid --dask --jobs 2 --max-iter 30" in format_report(on_local)
    address = "tcp://10.0.0.5:8786"
    remote = dataclasses.replace(quick_red, dask=DaskInfo(address, 8, 32))
    report = format_report(remote)
    assert f"--grid --scheduler {address} --max-iter 30" in report
    assert f"run on Dask, the scheduler at {address} of 8 workers (32 threads)" in (
        report.replace("\n  ", " ")
    )


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_quick_run_fits_the_models_beyond_the_table_on_the_same_splits(
    wine_sample_data_home,
):
    result = run_comparison(
        "red", rows="8", quick=True, data_home=wine_sample_data_home
    )
    (red,) = result.colors
    assert list(red.beyond) == list(BEYOND)
    for fits in red.beyond.values():
        (fit,) = fits
        assert fit.seed == 0 and fit.diverged is None and fit.seconds > 0
        assert 0.4 < fit.rmse < 1.2
    assert 1 <= red.beyond["recipe"][0].n_iter <= QUICK_MAX_ITER
    assert red.beyond["RandomForestRegressor"][0].n_iter is None
    # The table's test rows, and the rows given to fit, unscaled.
    X, y = (
        np.asarray(a, dtype=float)
        for a in fetch_wine_quality(
            "red", data_home=wine_sample_data_home, return_X_y=True
        )
    )
    fit_rows, _, _, test_rows = split_indices(len(y), X.shape[1], (10,), 0)
    knn = make_beyond("KNeighborsRegressor", seed=0).fit(X[fit_rows], y[fit_rows])
    error = knn.predict(X[test_rows]) - y[test_rows]
    assert red.beyond["KNeighborsRegressor"][0].rmse == pytest.approx(
        np.sqrt(np.mean(error**2)), rel=1e-12
    )
    assert red.beyond_seconds > 0


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_beyond_section_in_the_report_and_on_the_terminal(
    wine_sample_data_home, monkeypatch
):
    monkeypatch.setenv("SKANN_DATA_HOME", str(wine_sample_data_home))
    result = run_comparison("red", rows="8", quick=True)
    (red,) = result.colors
    report, narrow = format_report(result), format_report(result, details=False)
    for text in (report, narrow):
        assert "## Beyond the article's table" in text
        assert "### Red wine, beyond the table" in text
        assert "- Lowest mean test RMSE: " in text
        assert "beyond the table " in text.split("Total time:")[1]
    assert "| model | settings | test RMSE | MAE | R² | epochs | s per fit |" in report
    assert "| model | test RMSE | s per fit |" in narrow
    ours = red.rows[0].fits["skann"][0]
    assert f"| skann, row 8 | {ours.rmse:.3f} | {ours.seconds:.2f} |" in narrow
    forest = red.beyond["RandomForestRegressor"][0]
    assert (
        f"| RandomForestRegressor | {QUICK_TREES} trees | {forest.rmse:.3f} | "
        f"{forest.mae:.3f} | {forest.r2:.3f} | - | {forest.seconds:.2f} |"
    ) in report
    assert f"| predicting the mean | {red.mean_rmse:.3f} | - |" in narrow
    # The method names what a quick run changes.
    assert "- **recipe**: `make_tabular_regressor()`" in report
    assert f"at most {QUICK_MAX_ITER} epochs." in report


def test_beyond_table_takes_each_estimators_best_row_without_divergence(
    made_up_result,
):
    """A row where a seed diverged does not compete, however low its others."""
    white = made_up_result.colors[1]
    row3 = white.rows[0]
    row3.fits["skann"][1].rmse = 0.60

    def fits(name, rmses):
        return [
            FitResult(name, seed, 1.0, rmse=rmse, mae=0.4, r2=0.5)
            for seed, rmse in enumerate(rmses)
        ]

    white.beyond = {
        "recipe": fits("recipe", [0.70, 0.72]),
        "RandomForestRegressor": fits("RandomForestRegressor", [0.62, 0.60]),
        "HistGradientBoostingRegressor": fits("HGB", [0.66, 0.64]),
        "KNeighborsRegressor": fits("KNeighborsRegressor", [0.71, 0.73]),
    }
    report = format_report(made_up_result, details=False)
    section = report[report.index("### White wine, beyond the table") :]
    assert "| skann, row 8 | 0.750 ± 0.010 | 0.10 |" in section
    assert "| MLPRegressor, row 8 |" in section and "row 3" not in section
    assert "| RandomForestRegressor | 0.610 ± 0.010 | 1.00 |" in section
    assert (
        "- Lowest mean test RMSE: RandomForestRegressor (0.610); the recipe: "
        "0.710; the table's best network: skann, row 8 (0.750); the better tree "
        "ensemble: RandomForestRegressor (0.610)."
    ) in section
    # The red colour fitted nothing beyond the table: no section.
    assert "### Red wine, beyond the table" not in report


def test_models_beyond_the_table_take_a_smaller_budget_in_a_quick_run():
    forest = make_beyond("RandomForestRegressor", seed=2)
    assert forest.n_estimators == 300 and forest.random_state == 2
    assert make_beyond("RandomForestRegressor", seed=2, quick=True).n_estimators == (
        QUICK_TREES
    )
    assert make_beyond("HistGradientBoostingRegressor", seed=0).max_iter == 100
    boosting = make_beyond("HistGradientBoostingRegressor", seed=0, quick=True)
    assert boosting.max_iter == QUICK_BOOSTING_ITER
    recipe = make_beyond("recipe", seed=1).estimator
    assert recipe[-1].n_neighbors == 16 and recipe[-1].max_iter == 300
    quick = make_beyond("recipe", seed=1, quick=True).estimator
    assert quick[-1].max_iter == QUICK_MAX_ITER
    assert recipe[-1].random_state == 1
