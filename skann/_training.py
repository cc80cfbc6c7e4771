"""How a fit trains: the progress it continues, the solvers, early stopping."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skann._core.averaging import AVERAGERS
from skann._core.monitors import PlateauRule, ValidationMonitor, print_epoch
from skann._core.optimizers import OPTIMIZERS
from skann._core.schedules import Schedule
from skann._core.training import Progress, history_records, train_lbfgs, train_minibatch
from skann._params import AVERAGING_PARAMS, OPTIMIZER_PARAMS

# Restarts after a divergence that on_divergence='restart' allows in one fit.
_MAX_RESTARTS = 3


class TrainingMixin:
    """The training half of BaseANN: from checked data to a progress record.

    ``_progress`` builds the record a fit starts from (or continues);
    ``_train_minibatch`` and ``_train_lbfgs`` run the solvers with their
    epoch-end hooks (the validation monitor of early stopping, verbose
    printing, the callbacks, the plateau rule) and return the result, the
    monitor and the rule, from which the store writes the fitted attributes.
    """

    def _progress(self, theta, incremental, continuing, rate_factors=None):
        """A fresh record of training, or the one a continued fit goes on from.

        ``rate_factors`` (per entry of ``theta``, or None) multiply the
        optimizer's learning rate.
        """
        if not self._is_stochastic():
            return Progress()
        size, dtype = theta.size, theta.dtype
        optimizer = OPTIMIZERS[self.solver](
            size,
            dtype,
            *(getattr(self, p) for p in OPTIMIZER_PARAMS[self.solver]),
            rate_factors=rate_factors,
        )
        schedule = Schedule(
            self.learning_rate_schedule, self.learning_rate, power_t=self.power_t,
            max_iter=self.max_iter, lr_decay=self.lr_decay, lr_step=self.lr_step,
            min_learning_rate=self.min_learning_rate,
            warmup_epochs=self.warmup_epochs, lr_cycles=self.lr_cycles,
        )  # fmt: skip
        averager = None
        if self.weight_averaging is not None:
            averager = AVERAGERS[self.weight_averaging](
                size, dtype, getattr(self, AVERAGING_PARAMS[self.weight_averaging])
            )
        progress = Progress(optimizer, schedule, averager)
        saved = getattr(self, "_training_state", None) if continuing else None
        if saved is None:
            return progress
        progress.history = history_records(self._history)
        progress.n_seen = self.t_
        progress.reference_loss = saved["reference_loss"]
        if incremental:
            # partial_fit goes on with the optimizer; a warm start restarts
            # it, as scikit-learn's does.
            progress.n_restarts = saved["n_restarts"]
            for name in ("optimizer", "schedule", "averager"):
                obj, state = getattr(progress, name), saved[name]
                if obj is not None and state is not None:
                    obj.load_state_dict(state)
            if saved["live_theta"] is not None:
                # The optimizer goes on from its own weights, not their average.
                theta[...] = saved["live_theta"]
        return progress

    def _train_lbfgs(
        self, objective, theta, X, y, Y, sample_weight, progress, callback_hooks
    ):
        (sample_weight,) = self._with_class_weight(y, [(y, sample_weight)], X.dtype)
        hooks = [print_epoch] if self.verbose else []
        hooks += callback_hooks
        result = train_lbfgs(
            objective, theta, X, Y, sample_weight, progress=progress,
            max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol, hooks=hooks,
        )  # fmt: skip
        return result, None, None

    def _train_minibatch(
        self, objective, theta, X, y, Y, sample_weight, rng, progress, incremental,
        continuing, callback_hooks,
    ):  # fmt: skip
        """Run sgd or adam, with early stopping on a held-out share if asked."""
        saved = getattr(self, "_training_state", None) if continuing else None
        hooks, monitor = [], None
        if self.early_stopping:
            X, Y, sample_weight, validation = self._split_validation(
                X, y, Y, sample_weight, rng
            )
            if saved is not None and self.best_validation_score_ is not None:
                best = {
                    "best_score": self.best_validation_score_,
                    "best_loss": saved["best_validation_loss"],
                }
            else:
                best = {}
            monitor = ValidationMonitor(
                objective, *validation, metric=self.early_stopping_metric,
                theta=theta, state=objective.state, **best,
            )  # fmt: skip
            hooks.append(monitor)
        else:
            (sample_weight,) = self._with_class_weight(y, [(y, sample_weight)], X.dtype)
        if self.verbose:
            hooks.append(print_epoch)
        hooks += callback_hooks
        rule = self._plateau_rule(progress, monitor, saved)
        hooks.append(rule)
        batch_size = min(
            200 if self.batch_size == "auto" else self.batch_size, X.shape[0]
        )
        result = train_minibatch(
            objective, theta, X, Y, sample_weight, progress=progress,
            batch_size=batch_size, max_iter=self.max_iter, shuffle=self.shuffle,
            rng=rng, hooks=hooks, incremental=incremental,
            max_grad_norm=self.max_grad_norm,
            max_restarts=_MAX_RESTARTS if self.on_divergence == "restart" else 0,
            warn=_warn_restart,
        )  # fmt: skip
        return result, monitor, rule

    def _plateau_rule(self, progress, monitor, saved):
        """The stopping rule, counting on from a continued fit's count."""
        best, count = None, 0
        if monitor is not None:
            key = monitor.key
            best = (
                monitor.best_score if key == "validation_score" else monitor.best_loss
            )
        elif saved is not None:
            best = self.best_loss_
            if best is None:
                # The fit before monitored validation: judge the loss afresh.
                best = min(progress.loss_curve, default=np.inf)
        if saved is not None:
            count = saved["no_improvement_count"]
        return PlateauRule(
            progress, self.tol, self.n_iter_no_change,
            monitor="loss" if monitor is None else monitor.key,
            log=print if self.verbose else None, best=best, count=count,
        )  # fmt: skip

    def _split_validation(self, X, y, Y, sample_weight, rng):
        """Hold out the early-stopping share: training parts and validation ones.

        Returns ``X``, ``Y`` and sample weights (class weights applied) of the
        training share, and ``(X, Y, sample_weight, score)`` of the held-out
        share, ``score(raw)`` being the estimator's score of raw output there.
        """
        stratify = Y if is_classifier(self) and Y.shape[1] == 1 else None
        arrays = [X, Y, y] + ([] if sample_weight is None else [sample_weight])
        split = train_test_split(
            *arrays,
            random_state=rng,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        X_train, X_val, Y_train, Y_val, y_train, y_val = split[:6]
        sw_train, sw_val = split[6:] if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        if sw_train is not None and not np.any(sw_train):
            raise ValueError(
                "Every sample of the training share has weight 0 after "
                "early stopping held out validation_fraction of the data; "
                "give more samples a positive weight or set "
                "early_stopping=False."
            )
        if sw_val is not None and not np.any(sw_val):
            raise ValueError(
                "Every sample of the early-stopping validation share has "
                "weight 0, so it cannot be scored; give more samples a "
                "positive weight, change validation_fraction, or set "
                "early_stopping=False."
            )
        sw_train, sw_val = self._with_class_weight(
            y_train, [(y_train, sw_train), (y_val, sw_val)], X.dtype
        )

        def score(raw):
            with np.errstate(over="ignore"):
                prediction = self._decode(raw)
            if prediction.dtype.kind in "fc" and not np.isfinite(prediction).all():
                return np.nan
            return self._score_function(y_val, prediction, sample_weight=sw_val)

        return X_train, Y_train, sw_train, (X_val, Y_val, sw_val, score)

    def _with_class_weight(self, y_fit, parts, dtype):
        """Sample weights of each ``(y, sample_weight)`` part times class weights.

        Class weights apply to classifiers only; ``'balanced'`` ones are
        computed from ``y_fit``, the targets training sees.
        """
        return [sample_weight for _, sample_weight in parts]


def _warn_restart(message):
    warnings.warn(message, ConvergenceWarning, stacklevel=2)
