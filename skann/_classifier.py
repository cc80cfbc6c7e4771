"""ANNClassifier: label encoding, logistic or softmax output, probabilities."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import column_or_1d

from skann._base import BaseANN, _is_stochastic
from skann._core._math import log1pexp, logsumexp
from skann._core.losses import LOSSES


class ANNClassifier(ClassifierMixin, BaseANN):
    """Multi-layer perceptron classifier trained by backpropagation.

    Binary and multilabel targets get a logistic output with binary
    cross-entropy, multiclass targets a softmax output with cross-entropy,
    both computed on the logits. Without ``class_weight`` the objective is
    that of :class:`~sklearn.neural_network.MLPClassifier`, so results, grids
    and seeds carry over. Training runs on skann's NumPy core.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Number of neurons in each hidden layer; an int means one hidden layer.
        An empty tuple gives a network without hidden layers.

    activation : str or list of str, default='relu'
        Activation of the hidden layers: one name for all of them, or a list
        with one name per hidden layer (as long as ``hidden_layer_sizes``).

        - ``'identity'``: ``z``.
        - ``'relu'``: ``max(z, 0)``.
        - ``'tanh'``: the hyperbolic tangent.
        - ``'logistic'``, or its alias ``'sigmoid'`` (the name the original
          articles use): ``1 / (1 + exp(-z))``.
        - ``'leaky_relu'``: ``z`` for ``z > 0``, ``0.01 z`` otherwise.
        - ``'elu'``: ``z`` for ``z > 0``, ``exp(z) - 1`` otherwise.
        - ``'softplus'``: ``log(1 + exp(z))``.
        - ``'gelu'``: ``z Phi(z)`` in the tanh approximation,
          ``0.5 z (1 + tanh(sqrt(2 / pi) (z + 0.044715 z^3)))``.
        - ``'silu'``, or its alias ``'swish'``: ``z / (1 + exp(-z))``.

        Each layer's initial weights are drawn with the Glorot gain of the
        activation it feeds (2 for the logistic function, 6 otherwise, as
        scikit-learn chooses); the output layer takes the last hidden layer's.

    solver : {'adam', 'sgd', 'lbfgs'}, default='adam'
        How the weights are optimised.

        - ``'sgd'``: stochastic gradient descent with momentum (optionally
          Nesterov's). ``batch_size=1`` gives per-sample SGD and
          ``batch_size >= n_samples`` full-batch gradient descent.
        - ``'adam'``: the Adam optimizer of Kingma and Ba.
        - ``'lbfgs'``: scipy's L-BFGS-B on the full-batch objective; often the
          best choice for small data sets.

    alpha : float, default=1e-4
        Strength of the L2 penalty ``(alpha / 2) * sum ||W||^2``, divided by the
        number of samples (the sum of sample weights) of each batch, as in
        :class:`~sklearn.neural_network.MLPRegressor`. Biases are not penalised.

    batch_size : int or 'auto', default='auto'
        Size of the minibatches of the stochastic solvers; ``'auto'`` means
        ``min(200, n_samples)``. Values above the number of samples mean
        full-batch gradient descent. Not used by ``'lbfgs'``.

    learning_rate : float, default=1e-3
        The initial step size of ``'sgd'`` and ``'adam'``
        (``learning_rate_init`` in scikit-learn's MLP estimators).

    learning_rate_schedule : {'constant', 'invscaling', 'adaptive', 'cosine', \
            'step', 'exponential', 'coslog'}, default='constant'
        How ``'sgd'`` and ``'adam'`` change the step size from epoch to epoch
        (scikit-learn's MLP estimators apply a schedule to ``'sgd'`` only).

        - ``'constant'``: keep ``learning_rate``.
        - ``'invscaling'``: after each epoch use
          ``learning_rate / (t + 1) ** power_t``, with ``t`` the number of
          samples seen so far.
        - ``'adaptive'``: keep ``learning_rate`` while training improves;
          each time ``n_iter_no_change`` epochs in a row fail to improve by
          ``tol``, divide the step by 5, and stop once it is below 1e-6.
        - ``'cosine'``: half a cosine from ``learning_rate`` down to
          ``min_learning_rate`` over the ``max_iter`` epochs.
        - ``'step'``: multiply the step by ``lr_decay`` every ``lr_step``
          epochs.
        - ``'exponential'``: the same decay spread evenly over the epochs,
          ``learning_rate * lr_decay ** (epoch / lr_step)``.
        - ``'coslog'``: RealMLP's schedule, ``lr_cycles`` cosine cycles from
          ``min_learning_rate`` up to ``learning_rate`` and back over the
          ``max_iter`` epochs, each cycle twice as long as the one before:
          ``min_learning_rate`` plus
          ``0.5 * (1 - cos(2 pi log2(1 + (2^lr_cycles - 1) t)))`` times
          ``learning_rate - min_learning_rate``, where
          ``t = (epoch + 0.5) / max_iter`` is the share of training done at
          the middle of the epoch.

        With ``warmup_epochs``, any schedule starts after a linear warm-up.

    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.

    max_iter : int, default=200
        Maximum number of epochs of the stochastic solvers (passes over the
        data), or of iterations of ``'lbfgs'``.

    shuffle : bool, default=True
        Whether to shuffle the samples before each epoch (stochastic solvers).

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the early-stopping split and the
        batch order. Draws are made in the same order as scikit-learn's MLP
        estimators, so the same seed gives the same initial network. Pass an
        int for reproducible results.

    tol : float, default=1e-4
        Training stops when the loss (or the validation score, with
        ``early_stopping``) fails to improve by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs. For ``'lbfgs'`` it is the
        gradient tolerance.

    verbose : bool, default=False
        Whether to print the loss after each epoch.

    warm_start : bool, default=False
        Whether ``fit`` continues from the weights of the previous fit instead
        of initialising new ones.

    momentum : float, default=0.9
        Momentum of ``'sgd'``, between 0 and 1.

    nesterovs_momentum : bool, default=True
        Whether ``'sgd'`` uses Nesterov's momentum.

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training data and
        stop when its score stops improving; the weights with the best
        validation score are restored at the end. Stochastic solvers only.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.

    beta_1 : float, default=0.9
        Decay rate of Adam's first-moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's constant for numerical stability.

    n_iter_no_change : int, default=10
        Number of epochs without an improvement of ``tol`` after which
        training stops (or, with the ``'adaptive'`` schedule, the step shrinks).

    max_fun : int, default=15000
        Maximum number of objective evaluations of ``'lbfgs'``.

    dropout : float or list of float, default=0.0
        Inverted dropout on the hidden layers' outputs: in training each unit
        is zeroed with this probability and the others are scaled by
        ``1 / (1 - dropout)``; prediction uses every unit, unscaled. One rate
        in [0, 1) for all hidden layers, or a list with one rate per hidden
        layer. Masks are drawn from ``random_state``'s stream, so a seeded fit
        is reproducible. Not available with ``'lbfgs'``.

    batch_norm : bool, default=False
        Whether to normalise each hidden layer's affine output before its
        activation: by the batch's mean and variance in training, then scaled
        and shifted by trained ``gamma`` and ``beta``; by running averages of
        the batch statistics (momentum 0.1, unbiased variance, epsilon 1e-5)
        at prediction. Not available with ``'lbfgs'``.

    lr_decay : float, default=0.5
        Factor in (0, 1] by which the ``'step'`` and ``'exponential'``
        schedules multiply the step size every ``lr_step`` epochs.

    lr_step : int, default=10
        Number of epochs over which the ``'step'`` and ``'exponential'``
        schedules apply one factor ``lr_decay``.

    min_learning_rate : float, default=0.0
        The step size the ``'cosine'`` schedule ends at, the lowest step of
        each cycle of ``'coslog'``, and the step below which the ``'step'``
        and ``'exponential'`` schedules do not go.

    warmup_epochs : int, default=0
        Number of first epochs over which the step size rises linearly to the
        schedule's: epoch ``k`` (from 0) uses ``(k + 1) / (warmup_epochs + 1)``
        of it. The schedule proper starts after the warm-up.

    max_grad_norm : float, default=None
        If set, every minibatch gradient whose global L2 norm exceeds it is
        scaled down to that norm before the step (gradient clipping), which
        keeps a large learning rate from blowing training up. The norm before
        clipping is recorded in ``history_``. Not used by ``'lbfgs'``.

    weight_averaging : {'ema', 'swa'}, default=None
        Whether the fitted weights are an average of the weights visited in
        training rather than the last ones; early stopping scores and keeps
        the averaged weights. Not used by ``'lbfgs'``.

        - ``'ema'``: an exponential moving average of the weights after each
          step, starting at the first step's, with decay
          ``min(ema_decay, (1 + t) / (10 + t))`` at step ``t``, so a short
          fit does not keep its first, poor weights in the average.
        - ``'swa'``: the mean of the weights at the end of each of the last
          ``swa_epochs`` epochs.

    ema_decay : float, default=0.999
        Decay per step of ``weight_averaging='ema'``, in (0, 1).

    swa_epochs : int, default=10
        Number of last epochs averaged by ``weight_averaging='swa'``.

    early_stopping_metric : {'score', 'loss'}, default='score'
        What early stopping watches on the held-out share: ``'score'``, the
        estimator's ``score`` (higher is better, as scikit-learn does), or
        ``'loss'``, the training objective (lower is better). Either way both
        are recorded, in ``validation_scores_`` and ``validation_loss_curve_``.

    on_divergence : {'raise', 'restart'}, default='raise'
        What a fit whose loss becomes non-finite or explodes does:
        ``'raise'`` stops with :class:`~skann.exceptions.TrainingDiverged`;
        ``'restart'`` goes back to the weights at the start of the epoch with
        the lowest training loss so far, divides the learning rate by 10 and
        goes on, at most 3 times per fit, with a ``ConvergenceWarning`` each
        time and a record in ``history_``; a fourth divergence raises. Not
        used by ``'lbfgs'``.

    n_neighbors : int, default=None
        Retrieval: give the network, for each row, the ``n_neighbors``
        nearest training rows as context. None trains the plain network. The
        neighbours are the exact nearest rows in the space of the inputs the
        estimator receives (scale them first, for example with
        StandardScaler), found once per fit; a training row never finds
        itself, though rows with the same features find each other. Their
        targets (the standardised target with ``target_scaling``, class
        indicators for a classifier) are combined by attention over their
        distances, with a learned temperature and each neighbour's sample
        weight, and a learned gate per output decides how far the network
        trusts them, from its last hidden layer and how near the neighbours
        are. The fitted model keeps its training rows and targets (its files
        grow by them); ``partial_fit`` adds its rows to them. Sparse input
        is densified. A strong ``alpha`` (0.1 to 1) lets the gate learn before
        early stopping ends the fit.

    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight``: a dict
        ``{class_label: weight}`` (classes not listed weigh 1), or
        ``'balanced'`` for ``n_samples / (n_classes * np.bincount(y))``, with
        samples counted by ``sample_weight`` and on the share training sees
        (without the early-stopping validation share), as
        :class:`~sklearn.linear_model.LogisticRegression`'s.
        Early stopping scores the validation share with the same weights.
        Not for multilabel targets; ``'balanced'`` is not available in
        ``partial_fit``.

    lr_cycles : int, default=4
        Number of cycles of the ``'coslog'`` schedule (RealMLP's default);
        not used by the other schedules.

    output_init : {'glorot', 'zeros'}, default='glorot'
        How the output layer's weights and biases start. ``'glorot'`` draws
        them as every other layer's; ``'zeros'`` sets them to zero, as
        RealMLP does, so the untrained network's raw output is 0: the
        training mean with ``target_scaling='standard'``, equal class
        probabilities in a classifier. The output layer's draws are still
        made, so the other layers' initial weights and all later random
        draws are those of ``'glorot'`` with the same ``random_state``. A
        warm start or ``partial_fit`` goes on from the fitted weights and
        ignores it.

    ensemble_size : int, default=1
        The number of members of a one-pass ensemble (TabM's parameter-
        efficient ensemble). With 1, the network is a single network, as
        without the option. With ``k > 1``, every hidden layer keeps one
        weight matrix shared by the ``k`` members, and member ``j`` has its
        own scaling of the layer's inputs and outputs and its own biases,
        ``((a * r_j) W) * s_j + b_j``, and its own output layer. The first
        layer's input scalings start as random signs, which makes the members
        differ; the others start at 1, and a shared layer's biases start
        equal for all members. Each row of a batch goes through all members
        in one matrix product per layer; the training loss is the mean of the
        members' losses (the L2 penalty covers the shared matrices and the
        members' output layers once). ``predict`` averages the members'
        predictions (the regressor's values in the target's units, the
        classifier's class probabilities). It needs at least one hidden layer
        and does not combine with ``batch_norm=True``, ``n_neighbors``,
        ``front_scaling=True`` or ``parametrization='ntk'``.

    ensemble_style : {'full', 'mini'}, default='full'
        Which layers of an ensemble (``ensemble_size > 1``) have member
        parameters. ``'full'``: every hidden layer, as described for
        ``ensemble_size``. ``'mini'``: only the first layer's input scaling;
        the hidden layers, their biases included, are shared, and each member
        keeps its own output layer. Ignored, with a warning, when
        ``ensemble_size=1``.
    numeric_embedding : {'periodic', 'piecewise_linear'}, default=None
        A learned embedding of each input feature before the first hidden
        layer, after Gorishniy et al. (2022), "On Embeddings for Numerical
        Features in Tabular Deep Learning". Each feature ``x_j`` becomes
        ``relu(e_j(x_j) W_j + b_j)``, ``embedding_dim`` numbers with its own
        ``W_j`` and ``b_j``, and the first hidden layer takes the
        ``n_features * embedding_dim`` of them. ``'periodic'`` (the paper's
        PLR): ``e_j(x) = [cos(2 pi c_j x), sin(2 pi c_j x)]`` with
        ``embedding_dim`` trained frequencies ``c_j`` per feature.
        ``'piecewise_linear'`` (PLE): one entry per bin of
        ``embedding_bins`` quantile bins of the feature, 0 below the bin, 1
        above it, linear within; its bin edges are weighted quantiles
        (``sample_weight``) of the rows given to the first fit and are kept
        by warm starts and ``partial_fit``. A constant feature gets a
        constant embedding. ``W`` is penalised by ``alpha``; frequencies and
        biases are not. The fitted arrays are ``embedding_coefs_``,
        ``embedding_intercepts_``, and ``embedding_frequencies_`` or
        ``embedding_bin_edges_``. Sparse input is densified batch by batch.
        None: no embedding, the network of scikit-learn's MLP estimators.

    embedding_dim : int, default=24
        Numbers per feature out of ``numeric_embedding`` (and frequencies
        per feature of ``'periodic'``). The default is that of the authors'
        package for the paper's embeddings.

    embedding_scale : float, default=0.01
        Standard deviation of the normal distribution the ``'periodic'``
        frequencies start from (the authors' default; the paper finds it the
        setting that matters most). Not used by ``'piecewise_linear'``.

    embedding_bins : int, default=48
        Number of quantile bins per feature of ``'piecewise_linear'`` (the
        authors' default); ties among the quantiles leave fewer bins of
        positive width. Not used by ``'periodic'``.
    front_scaling : bool, default=False
        Whether the network learns one scale per input feature, ``x_j s_j``
        in front of the first layer, with ``s`` starting at 1 and not
        penalised, as RealMLP does; the fitted scales are
        ``front_scales_``. They train at ``front_scaling_lr_factor`` times
        the learning rate (with ``solver='lbfgs'``, which takes no steps of
        a set size, like every other parameter).

    front_scaling_lr_factor : float, default=6.0
        Factor of the learning rate of the front scales (RealMLP's value);
        not used without ``front_scaling``.

    parametrization : {'standard', 'ntk'}, default='standard'
        How the affine layers hold their weights. ``'standard'`` is
        scikit-learn's. ``'ntk'`` is the neural tangent kernel
        parametrisation as RealMLP uses it: weights and biases start from
        N(0, 1) (drawn from the same uniform draws as the default, so the
        random stream after the initialisation is unchanged), each layer
        multiplies ``A W`` by ``1 / sqrt(fan_in)``, and the biases train at
        a tenth of the learning rate. ``coefs_`` hold the stored ``W``; the
        L2 penalty applies to them, so on the effective weights
        ``W / sqrt(fan_in)`` it is ``fan_in`` times ``alpha``.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels of the classifier.

    loss_ : float
        The objective (mean loss plus L2 penalty) at the end of training: the
        mean over the last epoch's batches for the stochastic solvers.

    best_loss_ : float or None
        The lowest epoch loss reached; None with ``early_stopping=True``.

    loss_curve_ : list of float
        The loss after each epoch (each iteration, for ``'lbfgs'``).

    validation_scores_ : list of float or None
        The validation score after each epoch with ``early_stopping=True``;
        None otherwise.

    validation_loss_curve_ : list of float or None
        The validation loss (the training objective on the held-out share)
        after each epoch with ``early_stopping=True``; None otherwise.

    history_ : list of dict
        One record per epoch (per iteration for ``'lbfgs'``), with the same
        keys for every solver: ``epoch``, ``loss`` (as in ``loss_curve_``),
        ``validation_loss`` and ``validation_score`` (None without early
        stopping), ``learning_rate`` (the schedule's step, None for
        ``'lbfgs'``), ``gradient_norm`` (the L2 norm of the epoch's last
        minibatch gradient, before clipping), ``seconds`` and ``restart``
        (True for an epoch that diverged and was run again).

    best_validation_score_ : float or None
        The validation score of the weights early stopping kept (the best
        score, with ``early_stopping_metric='score'``); None without early
        stopping.

    t_ : int
        Number of training samples seen by the stochastic solvers.

    coefs_ : list of ndarray of shape (n_units_in, n_units_out)
        The weight matrix of each layer. In an ensemble
        (``ensemble_size > 1``) the output layer's has shape
        (ensemble_size, n_units_in, n_outputs), one per member.

    intercepts_ : list of ndarray of shape (n_units_out,)
        The bias vector of each layer. In an ensemble, a layer whose members
        have their own biases has shape (ensemble_size, n_units_out).

    ensemble_input_scales_ : list of ndarray or None
        The members' input scalings ``r_j``, of shape (ensemble_size,
        n_units_in), of each hidden layer that has
        them (every hidden layer with ``ensemble_style='full'``, the first
        with ``'mini'``); None for a single network.

    ensemble_output_scales_ : list of ndarray or None
        The members' output scalings ``s_j``, of shape (ensemble_size,
        n_units_out), of each hidden layer with
        ``ensemble_style='full'``; None otherwise.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        Number of epochs (iterations for ``'lbfgs'``) run by the last call.

    n_layers_ : int
        Number of layers, input and output included.

    hidden_activations_ : list of str
        The activation of each hidden layer, as fitted. Prediction uses the
        network recorded at fit, whatever the parameters are set to since.

    batch_norm_scales_ : list of ndarray of shape (n_units,) or None
        Batch normalisation's trained scale ``gamma`` of each hidden layer;
        None when ``batch_norm=False``.

    batch_norm_offsets_ : list of ndarray of shape (n_units,) or None
        Batch normalisation's trained shift ``beta`` of each hidden layer;
        None when ``batch_norm=False``.

    batch_norm_means_ : list of ndarray of shape (n_units,) or None
        Running mean of each hidden layer's affine output, used at
        prediction; None when ``batch_norm=False``.

    batch_norm_vars_ : list of ndarray of shape (n_units,) or None
        Running variance of each hidden layer's affine output, used at
        prediction; None when ``batch_norm=False``.

    embedding_coefs_ : list of one ndarray of shape (n_features, m, d) or None
        The numeric embedding's per-feature weights, ``d = embedding_dim``
        and ``m`` is ``2 * embedding_dim`` for ``'periodic'``,
        ``embedding_bins`` for ``'piecewise_linear'``; None without
        ``numeric_embedding``. The
        first weight matrix of ``coefs_`` then has
        ``n_features * embedding_dim`` rows.

    embedding_intercepts_ : list of one ndarray of shape (n_features, d) or None
        The numeric embedding's per-feature biases; None without
        ``numeric_embedding``.

    embedding_frequencies_ : list of one ndarray of shape (n_features, d) or None
        The trained frequencies of ``numeric_embedding='periodic'``; None
        otherwise.

    embedding_bin_edges_ : list of one ndarray of shape (n_features, m + 1) or None
        The bin edges of ``numeric_embedding='piecewise_linear'``, sorted
        per feature and set at the first fit; None otherwise.
    front_scales_ : list of one ndarray of shape (n_features,) or None
        The learned scale of each input feature in front of the first layer;
        None when ``front_scaling=False``.

    n_outputs_ : int
        Number of output units.

    out_activation_ : str
        Name of the output activation.

    See Also
    --------
    ANNRegressor : The same network with an identity output.
    sklearn.neural_network.MLPClassifier : scikit-learn's estimator with the
        same objective.

    Notes
    -----
    Each layer computes ``z = a W + b`` and ``a' = f(z)``. For one-hot (or
    0/1 indicator) targets ``Y`` and logits ``r`` the losses are
    ``logsumexp(r) - Y . r`` (softmax) and
    ``sum_k log(1 + exp(r_k)) - Y_k r_k`` (logistic), averaged over samples
    with weights ``w_i``, plus ``(alpha / 2) sum ||W||^2 / sum_i w_i``.
    Both are paired with their canonical link, so the output error is
    ``delta = w (p - Y)``. Weights start Glorot-uniform. A fit whose loss
    becomes non-finite or grows more than a million-fold stops with a
    ``ValueError`` naming the epoch.

    References
    ----------
    Glorot, Xavier, and Yoshua Bengio. "Understanding the difficulty of
    training deep feedforward neural networks." AISTATS 2010.

    :arxiv:`Kingma, Diederik, and Jimmy Ba (2014). "Adam: A method for
    stochastic optimization." <1412.6980>`

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skann import ANNClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> model = make_pipeline(
    ...     StandardScaler(), ANNClassifier((10,), max_iter=1000, random_state=0)
    ... ).fit(X_train, y_train)
    >>> model.predict(X_test[:3])
    array([2, 1, 0])
    >>> model.predict_proba(X_test[:1]).round(2)
    array([[0., 0., 1.]])
    >>> print(f"{model.score(X_test, y_test):.2f}")
    0.97
    """

    _parameter_constraints: dict = {
        **BaseANN._parameter_constraints,
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate=0.001,
        learning_rate_schedule="constant",
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=0.0001,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-08,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        batch_norm=False,
        lr_decay=0.5,
        lr_step=10,
        min_learning_rate=0.0,
        warmup_epochs=0,
        max_grad_norm=None,
        weight_averaging=None,
        ema_decay=0.999,
        swa_epochs=10,
        early_stopping_metric="score",
        on_divergence="raise",
        n_neighbors=None,
        class_weight=None,
        lr_cycles=4,
        output_init="glorot",
        ensemble_size=1,
        ensemble_style="full",
        numeric_embedding=None,
        embedding_dim=24,
        embedding_scale=0.01,
        embedding_bins=48,
        front_scaling=False,
        front_scaling_lr_factor=6.0,
        parametrization="standard",
    ):
        self._store_init_arguments(locals())

    def _encode_target(self, y, reset, incremental, sample_weight=None):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            multilabel = type_of_target(y).startswith("multilabel")
            if multilabel != self._label_binarizer.y_type_.startswith("multilabel"):
                raise ValueError(
                    f"y is {type_of_target(y)!r} but the model was fitted on "
                    f"{self._label_binarizer.y_type_!r} targets: a continued fit "
                    "needs targets of the same kind. Set warm_start=False, or "
                    "call fit instead of partial_fit, to train a new network."
                )
            classes = unique_labels(y)
            if not incremental and set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes "
                    f"as in the previous call to fit. Previously got "
                    f"{self.classes_}, `y` has {classes}."
                )
            if len(np.setdiff1d(classes, self.classes_)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. `y` has {classes}."
                )
        if len(self.classes_) < 2:
            raise ValueError(
                "ANNClassifier needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {str(self.classes_[0])!r}."
            )
        y_type, classes = self._label_binarizer.y_type_, self.classes_
        # Boolean indicators built directly: LabelBinarizer.transform would
        # first make an int64 matrix eight times their size.
        if y_type == "multiclass":
            return y[:, np.newaxis] == classes, "log_loss"
        if y_type == "binary":
            return (y == classes[1])[:, np.newaxis], "binary_log_loss"
        return self._label_binarizer.transform(y).astype(bool), "binary_log_loss"

    def _with_class_weight(self, y_fit, parts, dtype):
        if self.class_weight is None:
            return [sample_weight for _, sample_weight in parts]
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError(
                "class_weight is not supported for multilabel targets: give "
                "sample_weight instead."
            )
        classes = self.classes_
        if isinstance(self.class_weight, str):
            factors = _balanced_class_weight(classes, _labels(y_fit), parts[0][1])
        else:
            factors = compute_class_weight(
                self.class_weight, classes=classes, y=_labels(y_fit)
            )
        weighted = []
        for y, sample_weight in parts:
            factor = factors[np.searchsorted(classes, _labels(y))]
            if sample_weight is not None:
                factor = factor * sample_weight
            # The dtype sample weights are cast to: class weights equal them.
            weighted.append(factor.astype(dtype))
        if not np.sum(weighted[0], dtype=np.float64) > 0:
            raise ValueError(
                "The class weights times the sample weights are zero for every "
                "training sample: give some class present in y a positive "
                "class_weight (and its samples a positive sample_weight)."
            )
        return weighted

    def _constant_prediction(self, y, sample_weight):
        labels, index = np.unique(_labels(y), return_inverse=True, axis=0)
        counts = np.bincount(index.ravel(), weights=sample_weight)
        return np.repeat(labels[np.argmax(counts)][np.newaxis], len(y), axis=0).reshape(
            np.shape(y)
        )

    def _retrieval_link(self):
        # Raw outputs are logits: the neighbours' class shares as log shares
        # (softmax) or logits (one logistic output per label).
        return "log" if self._loss_name == "log_loss" else "logit"

    def _decode(self, raw):
        proba = LOSSES[self._loss_name].link(raw)
        binarizer = self._label_binarizer
        classes = binarizer.classes_
        if not binarizer.sparse_input_:
            # What LabelBinarizer.inverse_transform computes for dense
            # probabilities, without its checks: a tenth of the time on a row.
            if binarizer.y_type_ == "multiclass" and proba.shape[1] == len(classes):
                return classes[np.argmax(proba, axis=1)]
            if (
                binarizer.y_type_ == "binary"
                and proba.shape[1] == 1
                and len(classes) == 2
            ):
                threshold = (binarizer.pos_label + binarizer.neg_label) / 2.0
                return classes[(proba[:, 0] > threshold).astype(np.intp)]
        return binarizer.inverse_transform(
            proba.ravel() if proba.shape[1] == 1 else proba
        )

    def _score_function(self, y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probability of each class (of each label, for multilabel
            targets), in the order of ``classes_``.
        """
        raw = self._validated_raw(X)
        proba = LOSSES[self._loss_name].link(raw)
        if self._is_binary():
            return np.concatenate([1 - proba, proba], axis=1)
        return proba

    def predict_log_proba(self, X):
        """Logarithm of the probability estimates, computed from the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log-probability of each class, in the order of ``classes_``.
        """
        raw = self._validated_raw(X)
        if self._loss_name == "log_loss":
            return raw - logsumexp(raw, axis=1)[:, np.newaxis]
        # log sigma(r) = -log(1 + e^-r); log(1 - sigma(r)) = -log(1 + e^r)
        log_proba = -log1pexp(-raw)
        if self._is_binary():
            return np.hstack([-log1pexp(raw), log_proba])
        return log_proba

    def _is_binary(self):
        return self.n_outputs_ == 1

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the network with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The target class labels, or a label indicator matrix.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array-like of shape (n_classes,), default=None
            All the classes that can appear in the calls to ``partial_fit``.
            Required on the first call, ignored on later ones.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs all the training data at once and "
                "is not supported by partial_fit; give a dict of class weights, "
                "computed for example with sklearn.utils.class_weight."
                "compute_class_weight, instead."
            )

        def first_call():
            if _check_partial_fit_first_call(self, classes):
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)

        # Inside the fit's guard: a first call that raises sets no classes_.
        return self._fit(X, y, sample_weight, incremental=True, prepare=first_call)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _labels(y):
    """A 1-D label vector from y of shape (n,) or (n, 1)."""
    return np.ravel(y) if y.ndim == 2 and y.shape[1] == 1 else y


def _balanced_class_weight(classes, y, sample_weight):
    """``n / (n_classes * count)``, with counts and n weighted by sample_weight.

    Only the classes present (with positive weight) count; any other keeps 1.
    As LogisticRegression's, so a row of weight k equals k repeated rows.
    """
    index = np.searchsorted(classes, y)
    weights = None if sample_weight is None else np.asarray(sample_weight, float)
    counts = np.bincount(index, weights=weights, minlength=len(classes))
    present = counts > 0
    factors = np.ones(len(classes))
    factors[present] = counts.sum() / (np.count_nonzero(present) * counts[present])
    return factors
