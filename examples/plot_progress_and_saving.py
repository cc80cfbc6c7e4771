"""
Watching a fit and sharing the model
====================================

A long fit of :class:`~skann.ANNClassifier` inside a pipeline shows its
progress through scikit-learn's callbacks, then the fitted pipeline is saved
with skops, a format whose loader runs no code, and loaded again to give the
very same predictions.

Callbacks need scikit-learn 1.9 or newer (and ``rich`` for the progress
bar); saving needs ``skops``: ``pip install "skann[skops]" rich``.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# %%
# A progress bar per epoch
# ------------------------
# :class:`~sklearn.callback.ProgressBar` set on the pipeline reaches the
# network inside it, which reports one step per epoch. The bar draws in a
# terminal; here, where the output is captured, its final state is printed
# once the fit ends.
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = make_pipeline(
    StandardScaler(),
    ANNClassifier(
        (64,), learning_rate=0.01, max_iter=100, early_stopping=True, random_state=0
    ),
)

try:
    from sklearn.callback import ProgressBar

    model.set_callbacks(ProgressBar())
except ImportError:  # scikit-learn < 1.9, or rich missing
    print("Callbacks need scikit-learn 1.9 and rich; fitting without them.")

model.fit(X_train, y_train)
network = model[-1]
print(f"{network.n_iter_} epochs, test accuracy {model.score(X_test, y_test):.3f}")

# %%
# Every epoch is also in the fitted model's history: the training loss, the
# validation score early stopping watched, the learning rate and the time.
for record in network.history_[:3] + network.history_[-2:]:
    print(
        f"epoch {record['epoch']:2d}: loss {record['loss']:.4f}, "
        f"validation accuracy {record['validation_score']:.3f}, "
        f"{1000 * record['seconds']:.0f} ms"
    )

# %%
# Saving without pickle
# ---------------------
# Unpickling a file can run any code it names. skops stores the model's
# state instead and refuses, at load time, any type the reader has not
# trusted. A skann model holds only NumPy arrays, Python builtins and
# scikit-learn's own types, so the only types to trust are skann's two
# estimator classes, which the loader lists.
try:
    import skops.io as sio
except ImportError:
    sio = None
    print("skops is not installed: pip install 'skann[skops]'")

# skann's estimator classes, as skops names them.
SKANN_TYPES = ["skann._classifier.ANNClassifier", "skann._regressor.ANNRegressor"]

if sio is not None:
    model.set_callbacks()  # callbacks are not part of the saved state
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits.skops"
        sio.dump(model, path)
        # What the file asks to trust: check it before loading, then name the
        # types yourself rather than trusting whatever a file lists.
        print("types the file needs:", sio.get_untrusted_types(file=path))
        loaded = sio.load(path, trusted=SKANN_TYPES)

    same = np.array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    print(f"predictions after loading are bit-identical: {same}")

# %%
# The loaded model keeps what training needs to go on: one more epoch with
# ``partial_fit`` continues from the saved optimizer state, exactly as the
# original model would.
if sio is not None:
    data = sio.dumps(network)
    copy = sio.loads(data, trusted=SKANN_TYPES)
    Z_train = model[0].transform(X_train)
    network.set_params(early_stopping=False).partial_fit(Z_train, y_train)
    copy.set_params(early_stopping=False).partial_fit(Z_train, y_train)
    same = all(
        np.array_equal(a, b) for a, b in zip(network.coefs_, copy.coefs_, strict=True)
    )
    print(f"one more epoch from the loaded copy gives the same weights: {same}")
