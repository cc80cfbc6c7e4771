"""Variants: the current skann with extra parameters, read from --variants."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import ast

from bench.libraries import LIBS, Library
from skann import ANNClassifier, ANNRegressor

# Variants may not set these: every fit must run exactly the workload's epochs.
STOP_RULE_PARAMS = ("max_iter", "tol", "n_iter_no_change", "early_stopping")


def parse_variants(text):
    """{label: params} from "label=key=value[,key=value...][;label=...]".

    The part after the label is read as Python keyword arguments whose values
    are literals (``ast.literal_eval``), e.g. ``dropout=(0.1, 0.2),batch_norm=True``.
    """
    variants = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        label, sep, rest = item.partition("=")
        label = label.strip()
        if not sep or not label or "|" in label or len(label.split()) != 1:
            raise ValueError(f"{item!r}: use label=key=value[,key=value...]")
        if label in (*LIBS, "baseline") or label in variants:
            raise ValueError(f"{item!r}: the label {label!r} is taken")
        try:
            call = ast.parse(f"variant({rest})", mode="eval").body
            if not isinstance(call, ast.Call) or call.args:
                raise ValueError
            params = {}
            for keyword in call.keywords:
                if keyword.arg is None or keyword.arg in params:
                    raise ValueError
                params[keyword.arg] = ast.literal_eval(keyword.value)
        except (SyntaxError, ValueError, TypeError):
            raise ValueError(
                f"{item!r}: after the label, give key=value pairs separated by "
                "commas, each value a Python literal"
            ) from None
        fixed = sorted(set(params) & set(STOP_RULE_PARAMS))
        if fixed:
            raise ValueError(
                f"{item!r}: {', '.join(fixed)} cannot be changed (every fit runs "
                "exactly the workload's epochs)"
            )
        variants[label] = params
    return variants


def make_variants(params_by_label):
    """One Library per variant: the current skann's classes with its parameters."""
    return [
        Library(label, "variant", ANNClassifier, ANNRegressor, params)
        for label, params in params_by_label.items()
    ]
