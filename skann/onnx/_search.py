"""The parser of ValidationSearch: a fitted search converts as its best candidate."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause


def _parse_validation_search(scope, model, inputs, custom_parsers=None):
    # The fitted search predicts with its best candidate: convert that one.
    from skl2onnx._parse import parse_sklearn

    options = scope.get_options(model)
    if options:
        scope.add_options(id(model.best_estimator_), options)
    return parse_sklearn(
        scope, model.best_estimator_, inputs, custom_parsers=custom_parsers
    )


def _never_called(scope, operator, container):
    # The search's parser hands its operators to the best candidate's
    # converters; no operator of the search itself is ever made.
    raise RuntimeError("ValidationSearch has no operator of its own")


def _no_shape(operator):
    raise RuntimeError("ValidationSearch has no operator of its own")
