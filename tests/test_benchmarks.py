"""The benchmark script runs and its options select fit and predict workloads."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PREDICT = ["P1", "P100", "P1k", "P10k", "P100k", "P1M"]


@pytest.fixture
def cli(monkeypatch):
    """benchmarks/bench/cli.py, imported as ``python benchmarks/bench_fit.py`` does."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from bench import cli

    return cli


def test_workloads_option_selects_fit_and_predict_workloads(cli):
    args = cli.parse_args([])
    assert args.workloads == ["W1", "W1s", "W2", "W3", "W4", "W5", "W5t", *PREDICT]
    # Variants run by default on every workload run, fit and predict.
    assert args.variant_workloads == args.workloads
    assert cli.parse_args(["--workloads", "P1,W2"]).workloads == ["P1", "W2"]


def test_variants_run_on_predict_workloads(cli):
    args = cli.parse_args(
        ["--workloads", "W2,P1,P100", "--variants", "ens=ensemble_size=2",
         "--variant-workloads", "P1,W2"]
    )  # fmt: skip
    assert args.variants == {"ens": {"ensemble_size": 2}}
    assert args.variant_workloads == ["P1", "W2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workloads", "P2"], "unknown workload(s): P2"),
        (
            ["--workloads", "W2", "--variants", "bn=batch_norm=True",
             "--variant-workloads", "P1"],
            "--variant-workloads must be among the --workloads run",
        ),
        (["--epochs", "P1=3"], "bad --epochs entry"),
    ],
)  # fmt: skip
def test_bad_options_are_named(cli, capsys, argv, message):
    with pytest.raises(SystemExit) as excinfo:
        cli.parse_args(argv)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_predict_workloads_sizes(cli):
    from bench.workloads import PREDICT_WORKLOADS

    sizes = {name: w.n_rows for name, w in PREDICT_WORKLOADS.items()}
    assert sizes == {
        "P1": 1,
        "P100": 100,
        "P1k": 1_000,
        "P10k": 10_000,
        "P100k": 100_000,
        "P1M": 1_000_000,
    }
    # Quick mode keeps P1M short.
    assert PREDICT_WORKLOADS["P1M"].scaled(True).n_rows == 100_000


def test_predict_workloads_time_predict_proba_and_variants(cli):
    """Variants and predict_proba join the alternation of a predict workload."""
    from bench.libraries import SKANN, SKLEARN
    from bench.timing import FittedModels, run_predict_workload
    from bench.variants import make_variants
    from bench.workloads import PredictWorkload

    variants = make_variants({"ens2": {"ensemble_size": 2}, "bad": {"no_such": 1}})
    messages = []
    models = FittedModels(True, messages.append)
    libraries = [SKANN, *variants, SKLEARN]
    results = [
        run_predict_workload(
            PredictWorkload(name, n_rows, 2), kind, "float64", 2, models,
            messages.append, libraries,
        )
        for name, n_rows in (("P1", 1), ("P3", 3))
        for kind in ("regressor", "classifier")
    ]  # fmt: skip
    for r in results:
        assert r.methods == (
            ("predict", "predict_proba") if r.kind == "classifier" else ("predict",)
        )
        for method in r.methods:
            # Two repeats of every library that can run, in the same runs.
            assert list(r.seconds[method]) == ["skann", "ens2", "sklearn"]
            assert all(len(runs) == 2 for runs in r.seconds[method].values())
        assert r.unsupported["bad"].startswith("TypeError")
        compared = "predict_proba" if r.kind == "classifier" else "predict"
        assert list(r.max_abs_diff) == [compared]
        assert r.max_abs_diff[compared] < 1e-6
    # Each library's model is fitted once per kind and dtype, then reused.
    fits = [m for m in messages if m.strip().startswith("fitted the")]
    assert len(fits) == 2 * len(libraries)
    assert len(set(fits)) == len(fits)


def test_predict_report_shows_variants_and_predict_proba(cli):
    from bench.report import render_predict
    from bench.timing import PredictResult
    from bench.variants import make_variants
    from bench.workloads import PREDICT_WORKLOADS

    variants = make_variants({"ens2": {"ensemble_size": 2}, "bad": {"no_such": 1}})
    r = PredictResult(
        PREDICT_WORKLOADS["P100"], "classifier", "float64", ("predict", "predict_proba")
    )
    r.seconds = {
        "predict": {"skann": [1e-3], "ens2": [3e-3], "sklearn": [2e-3]},
        "predict_proba": {"skann": [2e-3], "ens2": [4e-3], "sklearn": [4e-3]},
    }
    r.unsupported = {"bad": "TypeError: unexpected"}
    r.max_abs_diff = {"predict_proba": 1e-16}
    report = "\n".join(render_predict([r], None, variants, quick=False))
    # One row per method; the labels' row has no max abs diff.
    assert "| P100 | classifier | predict | float64 | 100 | 500 | 1.000 ms " in report
    assert "| 2.000 ms | 0.500 | - |" in report
    assert (
        "| P100 | classifier | predict_proba | float64 | 100 | 500 | 2.000 ms "
        in report
    )
    assert "| 4.000 ms | 0.500 | 1e-16 |" in report
    # Each variant's time with its ratios to scikit-learn and to plain skann.
    assert "## Opt-in features: time per predict call" in report
    assert (
        "| P100 | classifier | predict | float64 | ens2 | ensemble_size=2 "
        "| 1.000 ms | 3.000 ms | 1.500 | 3.000 |"
    ) in report
    assert (
        "| P100 | classifier | predict_proba | float64 | ens2 | ensemble_size=2 "
        "| 2.000 ms | 4.000 ms | 1.000 | 2.000 |"
    ) in report
    assert (
        "| bad | no_such=1 | 1.000 ms | not supported (TypeError: unexpected) | - | - |"
    ) in report
    # Every run, with the variant's run-by-run ratio to skann.
    assert (
        "| P100 | classifier | predict | float64 | ens2 | 0.003 | 1.500 | 3.000 |"
        in (report)
    )
    # Variants that did not run on predict workloads get no section.
    del r.unsupported["bad"]
    for seconds in r.seconds.values():
        del seconds["ens2"]
    report = "\n".join(render_predict([r], None, variants, quick=False))
    assert "Opt-in features" not in report


def test_bench_fit_script_quick_predict_run(tmp_path):
    """``python benchmarks/bench_fit.py`` runs a predict workload end to end."""
    out = tmp_path / "report.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [
        "--quick", "--workloads", "P1", "--dtype", "float64", "--no-memory",
        "--variants", "ens2=ensemble_size=2",
    ]  # fmt: skip
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_fit.py"), *argv, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = out.read_text(encoding="utf-8")
    # The title and the mode line say what was timed: predict calls only.
    assert report.startswith("# skann predict benchmark")
    assert "times are medians of a run's seconds / its calls" in report
    assert "n_iter_" not in report.split("## ")[0]
    assert "## Time per predict call" in report
    for kind, method in (
        ("regressor", "predict"),
        ("classifier", "predict"),
        ("classifier", "predict_proba"),
    ):
        assert f"| P1 | {kind} | {method} | float64 | 1 | 100 |" in report
        # The variant, on the predict workload by default.
        assert f"| P1 | {kind} | {method} | float64 | ens2 | ensemble_size=2 |" in (
            report
        )
    # No fit workload was run: no fit tables.
    assert "## Time per epoch" not in report
    assert "cost per epoch" not in report


def test_fit_report_leaves_out_variants_that_ran_on_predict_only(cli):
    from bench.report import render_fit
    from bench.timing import Result
    from bench.variants import make_variants
    from bench.workloads import WORKLOADS

    r = Result(WORKLOADS["W2"], "float64")
    r.seconds = {"skann": [1.0], "sklearn": [2.0]}
    r.loss = {"skann": 1.0, "sklearn": 1.0}
    variants = make_variants({"ens2": {"ensemble_size": 2}})
    report = "\n".join(render_fit([r], True, None, variants))
    assert "Opt-in features" not in report
    assert "Every timing run of the baseline and variants" not in report
    r.seconds["ens2"], r.loss["ens2"] = [1.5], 1.0
    report = "\n".join(render_fit([r], True, None, variants))
    assert "| W2 | float64 | 200 | ens2 | ensemble_size=2 |" in report
