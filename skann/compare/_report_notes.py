"""The report's fixed text: how the numbers were made, and the sources."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import textwrap

from skann.compare._article import ARTICLES
from skann.compare._protocol import BEYOND_SPECS, ESTIMATOR_SPECS, N_FOLDS
from skann.compare._report_cells import divergence_rule


def _own_options():
    """One line per estimator that has settings of its own, naming them all."""
    lines = []
    for spec in ESTIMATOR_SPECS.values():
        if spec.params:
            options = ", ".join(f"`{k}={v!r}`" for k, v in spec.params.items())
            lines.append(
                f"- **{spec.name}** ({spec.short} columns): {spec.estimator.__name__} "
                f"with the same settings plus {options}.\n"
            )
    return "".join(lines)


def _beyond_method(quick):
    """The method bullet of the models beyond the table, one line per model."""
    models = "".join(
        f"  - **{name}**: {spec.describe(quick)}.\n"
        for name, spec in BEYOND_SPECS.items()
    )
    return (
        "- **Beyond the table**, on every seed's split: each model below is given\n"
        "  the same 85% of the rows as `fit` above, unscaled (the recipe and the\n"
        "  neighbours scale inside their own pipelines), and scored on the same\n"
        "  test rows; s per fit is the wall time of `fit`, BLAS at one thread and\n"
        "  the forest on one core. The recipe holds out 15% of its rows for its\n"
        "  own early stopping; the other settings are scikit-learn's defaults.\n"
        "  Beside them, each estimator's row with the lowest mean test RMSE among\n"
        "  the rows where none of its fits diverged.\n" + models
    )


def _grid_jobs(result):
    """Where the grid searches' fits ran, for the method section."""
    if result.dask is None:
        return f"`n_jobs={result.n_jobs}`"
    return (
        f"run on Dask, {result.dask.describe()}, through joblib's Dask backend "
        "with one BLAS thread per fit"
    )


def method_section(result):
    """The "How the numbers were made" section of ``report.md``."""
    seeds = ", ".join(map(str, result.seeds))
    beyond = _beyond_method(result.quick)
    divergence = textwrap.fill(
        "- **Divergence**, one rule for every estimator, in the tables and in "
        f"the grid search: a fit diverged when {divergence_rule()} on the test "
        "rows (on the held-out fold in the grid search). skann applies the loss "
        "test itself, against its initial loss, and stops with an error naming "
        "the epoch; its cell shows that epoch. MLPRegressor trains on, so the "
        "comparison reads its `loss_curve_`; predicting zero is about where it "
        "starts. Diverged fits are listed under the table, never averaged in; "
        "in the grid search a diverged fold leaves its candidate without a mean "
        "CV RMSE, so it ranks last.",
        width=78,
        subsequent_indent="  ",
    )
    return f"""\
## How the numbers were made

- **Data**: UCI Wine Quality (Cortez et al., 2009; CC BY 4.0), all 11 inputs,
  `quality` as a number (regression); duplicate rows kept, as in the files.
- **Split, 70/15/15 per seed** (seeds {seeds}): 15% test rows drawn with
  `train_test_split(random_state=seed)`, the same for every row of the table
  and both estimators. The other 85% goes to `fit` with `early_stopping=True`,
  `validation_fraction=0.15/0.85` (15% of all rows) and `random_state=seed`.
  Both estimators draw from that stream in the same order (initial weights,
  then the validation split), so they hold out the same validation rows; as
  the number of weights varies, the train/validation division varies between
  rows of the table, never between the estimators. The comparison computes
  that split beforehand, fits the `StandardScaler` on the 70% training rows
  only, and checks after each fit that the R² it recomputes on its validation
  rows equals the estimator's `best_validation_score_` ("split check" below
  each table).
- **Hyperparameters**, identical for all: `solver="sgd"` (momentum 0.9,
  Nesterov, constant step), the row's `hidden_layer_sizes` and activation (the
  articles' sigmoid is `"logistic"`), the row's learning rate (`learning_rate`
  in skann, `learning_rate_init` in MLPRegressor), `alpha=0.1`,
  `batch_size="auto"` (200), at most {result.max_iter} epochs, early stopping
  on validation R² with `n_iter_no_change=10`, `tol=1e-4`, best weights
  restored. The target is not standardised, except by the estimators below
  that are given options of their own.
{_own_options()}- **Columns**: test RMSE (mean ± standard deviation over the seeds), MAE
  and R² on the test rows; epochs = `n_iter_`; s = seconds of `fit` alone, with
  BLAS limited to one thread for both; speed ratio = skann's fit seconds over
  MLPRegressor's on the seeds where both finished (below 1: skann is faster).
{divergence}
{beyond}- **The article's figure** is its "test error" for the row; the article does
  not say which measure it is (its level matches a test RMSE); "diverged
  (NaN)" is where it printed NaN, its own fit having diverged. Its set-up
  differs in ways that matter: its loss has no ½ (so its steps are twice as
  long at the same learning rate), its λ penalises the mean loss (alpha = λ
  times the batch size in scikit-learn's terms), and its split and seeds are
  unknown. Expect agreement in level, not digit for digit.
- **Grid search**: `GridSearchCV` with `KFold({N_FOLDS}, shuffle=True,
  random_state=0)` on seed 0's 85% train + validation, a
  `Pipeline(StandardScaler(), estimator)` with the same settings, one
  candidate per row of the table, scored by minus the RMSE on the held-out
  fold, or NaN for a fold that diverged (`error_score=nan` for a fit that
  stopped with an error), {_grid_jobs(result)}. The best candidate is
  refitted on the whole 85% and scored on seed 0's test rows; "search s" is
  the wall time of the cross-validation, "refit s" that of the refit.
"""


def sources_section():
    """The articles the table comes from, and the data."""

    def fill(text, indent=""):
        return textwrap.fill(
            text, width=78, subsequent_indent=indent, break_on_hyphens=False
        )

    return "\n".join(
        [
            "## Sources",
            "",
            fill(
                "The table and the article's figures come from the third of "
                "the four articles, in Chinese, that skann grew from; together "
                "they derive a feed-forward network trained by backpropagation "
                "and implement it in NumPy:"
            ),
            "",
            *(fill(f"{i}. {text}", "   ") for i, text in enumerate(ARTICLES, 1)),
            "",
            fill(
                "The data: P. Cortez, A. Cerdeira, F. Almeida, T. Matos and "
                "J. Reis (2009). Wine Quality. UCI Machine Learning Repository, "
                "CC BY 4.0."
            ),
        ]
    )
