"""ONNX export: skl2onnx converters for skann's estimators and its scaler.

Importing this module registers, with skl2onnx's public registration API
(:func:`skl2onnx.update_registered_converter`), a shape calculator and a
converter for ANNRegressor, ANNClassifier and RobustSmoothClipScaler and,
for the classifier, the parser skl2onnx uses for its own classifiers. After
``import skann.onnx``, skl2onnx's entry points (:func:`skl2onnx.to_onnx`,
:func:`skl2onnx.convert_sklearn`) convert a fitted skann estimator, alone or
inside a pipeline (the tabular recipes included), to an ONNX graph that ONNX
Runtime runs.

Registration is explicit, on import of this module, rather than a side effect
of ``import skann``: the converters need skl2onnx and onnx, which most users
of skann do not install and which take a noticeable time to import, so only
the programs that export pay for them, and a reader of such a program sees
where the converters come from. Without skl2onnx, importing this module
raises an ImportError that says which extra to install.

The graph holds, per layer, one ``Gemm`` node (the affine map, named
``layer<k>_gemm``) and the nodes of its activation (``layer<k>_<name>``).
Batch normalisation, which prediction applies with its running statistics,
is folded into the weights and bias of the affine layer before it, and so is
the regressor's target scaling (``target_scaling='standard'``) into the
output layer; dropout is absent at prediction and has no node. A retrieving
model (``n_neighbors``) adds its search and head as nodes named
``retrieval_<role>``, with the memory of training rows as an initializer
(see ``skann.onnx._retrieval``); its target scaling follows the head.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

try:
    # skl2onnx imports onnx, which it requires; the converters' modules
    # import the parts of both they use.
    from skl2onnx import update_registered_converter
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "skann.onnx needs skl2onnx (and onnxruntime to run the graphs): "
        "pip install 'skann[onnx]'."
    ) from exc

from skann._classifier import ANNClassifier
from skann._regressor import ANNRegressor
from skann.model_selection import ValidationSearch
from skann.onnx._network import (
    _CLASSIFIER_OPTIONS,
    _classifier_shape,
    _convert_classifier,
    _convert_regressor,
    _parse_classifier,
    _regressor_shape,
)
from skann.onnx._scaler import _convert_scaler, _scaler_shape
from skann.onnx._search import _never_called, _no_shape, _parse_validation_search
from skann.preprocessing import RobustSmoothClipScaler

__all__ = ["register"]

# The names skl2onnx knows the estimators by.
_REGRESSOR_ALIAS = "SkannANNRegressor"
_CLASSIFIER_ALIAS = "SkannANNClassifier"
_SCALER_ALIAS = "SkannRobustSmoothClipScaler"


def register():
    """Register skann's converters with skl2onnx.

    Importing :mod:`skann.onnx` calls this already; calling it again (after
    another library replaced a converter, for example) registers them anew.
    After it, :func:`skl2onnx.to_onnx` and :func:`skl2onnx.convert_sklearn`
    convert fitted :class:`~skann.ANNRegressor` and
    :class:`~skann.ANNClassifier` estimators, retrieving ones included, and
    :class:`~skann.preprocessing.RobustSmoothClipScaler`, alone or in
    pipelines, and a fitted :class:`~skann.model_selection.ValidationSearch`
    (the tabular recipes) as its best candidate.

    The classifier takes the options skl2onnx gives ``MLPClassifier``:
    ``zipmap`` (True, the default: the probabilities as a list of
    dictionaries; False: as a tensor; ``'columns'``: one output per class),
    ``nocl`` (labels as class indices) and ``output_class_labels``.

    Examples
    --------
    >>> import numpy as np
    >>> import skann.onnx
    >>> from skl2onnx import to_onnx
    >>> from skann import ANNRegressor
    >>> X = np.random.RandomState(0).normal(size=(50, 3)).astype(np.float32)
    >>> model = ANNRegressor((5,), solver="lbfgs", random_state=0)
    >>> model = model.fit(X, X.sum(axis=1))
    >>> onx = to_onnx(model, X[:1])
    >>> [node.name for node in onx.graph.node]
    ['layer0_gemm', 'layer0_relu', 'layer1_gemm']
    """
    update_registered_converter(
        ANNRegressor, _REGRESSOR_ALIAS, _regressor_shape, _convert_regressor
    )
    update_registered_converter(
        ANNClassifier,
        _CLASSIFIER_ALIAS,
        _classifier_shape,
        _convert_classifier,
        parser=_parse_classifier,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        RobustSmoothClipScaler, _SCALER_ALIAS, _scaler_shape, _convert_scaler
    )
    update_registered_converter(
        ValidationSearch,
        "SkannValidationSearch",
        _no_shape,
        _never_called,
        parser=_parse_validation_search,
    )


register()
