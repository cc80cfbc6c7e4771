"""The layers of a retrieving network: the input split, the tap and the head.

See ``skann._core.layers`` for the protocol every layer follows.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from skann._core.neighbors import N_TRUST_FEATURES


class ContextSplit:
    """First layer of a retrieving network: splits the input into features and context.

    The input holds ``n_features`` feature columns followed by the retrieval
    context (see ``skann._core.neighbors.context``); the features go on
    through the network, the context waits in ``ctx.shared`` for the
    retrieval head. Nothing here is trained.
    """

    row_separable = True
    param_names = state_names = ()
    params = states = {}
    # The affine layer after it is still the network's first: no input delta.
    keeps_first = True

    def __init__(self, n_features):
        self.n_features = n_features

    def compile(self, ctx):
        store = ctx.shared.setdefault("retrieval_context", [None])
        p = self.n_features

        def forward(A):
            store[0] = A[:, p:]
            return A[:, :p]

        return forward, None


class Tap:
    """Identity on the last hidden layer, whose output the retrieval gate reads.

    In backward it adds the gate's gradient with respect to that output to
    the gradient coming back through the output layer.
    """

    row_separable = True
    param_names = state_names = ()
    params = states = {}
    keeps_first = True

    def compile(self, ctx):
        hidden = ctx.shared.setdefault("retrieval_hidden", [None])
        hidden_grad = ctx.shared.setdefault("retrieval_hidden_grad", [None])

        def forward(A):
            hidden[0] = A
            return A

        if not ctx.training:
            return forward, None

        def backward(delta):
            if delta is not None:
                delta += hidden_grad[0]
            return delta

        return forward, backward


# Links from the neighbours' attended vote to the network's raw output:
# name -> (link(v), derivative(v)), elementwise.
_EPS = 1e-3
RETRIEVAL_LINKS = {
    "identity": (lambda v: v, lambda v: np.ones_like(v)),
    # Softmax outputs: the log of the neighbours' class shares.
    "log": (lambda v: np.log(_EPS + v), lambda v: 1.0 / (_EPS + v)),
    # Logistic outputs: the logit of the neighbours' share of positives.
    "logit": (
        lambda v: np.log(_EPS + v) - np.log(_EPS + 1.0 - v),
        lambda v: 1.0 / (_EPS + v) + 1.0 / (_EPS + 1.0 - v),
    ),
}


class RetrievalHead:
    """Mixes the network's raw output with what its nearest training rows say.

    For one row with raw output ``f`` (one entry per output), the ``k``
    neighbours' scaled distances ``d``, log sample weights ``w`` and targets
    ``Y`` (``k`` by outputs), and the last hidden layer's output ``h``:

    - attention ``a = softmax(-exp(t) d + w)`` over the neighbours, with a
      learned log-temperature ``t``;
    - the neighbours' vote ``v = a Y`` and its link ``m = link(v)`` (the
      identity for regression, log shares or logits for classification);
    - a trust gate ``g = sigmoid(h Wg + z Cg + bg)`` per output, where ``z``
      are the trust features (log nearest and mean distance) standardised
      by the fitted means and scales (state, not trained);
    - the output ``f + g (m - f)``.

    ``t``, ``Wg``, ``Cg`` and ``bg`` are trained and not penalised. ``bg``
    starts at ``GATE_INIT`` (the network trusts its neighbours little until
    the data say otherwise) and ``Wg``, ``Cg`` at zero; the estimator sets
    ``t`` and the trust features' statistics from the training rows.
    """

    row_separable = True
    param_names = (
        "retrieval_temperature",
        "retrieval_gate_coefs",
        "retrieval_gate_trust_coefs",
        "retrieval_gate_intercepts",
    )
    state_names = ("retrieval_trust_means", "retrieval_trust_scales")
    GATE_INIT = -2.0

    def __init__(self, layout, state_layout, k, n_outputs, hidden_width, link):
        self.k, self.n_outputs, self.width, self.link = k, n_outputs, hidden_width, link
        self.n_trust = N_TRUST_FEATURES
        self.t = layout.slot((1,), "extra")
        self.Wg = layout.slot((hidden_width, n_outputs), "extra")
        self.Cg = layout.slot((N_TRUST_FEATURES, n_outputs), "extra")
        self.bg = layout.slot((n_outputs,), "extra")
        self.mean = state_layout.slot((N_TRUST_FEATURES,), "extra")
        self.scale = state_layout.slot((N_TRUST_FEATURES,), "extra")
        slots = (self.t, self.Wg, self.Cg, self.bg)
        self.params = dict(zip(self.param_names, slots, strict=True))
        self.states = dict(zip(self.state_names, (self.mean, self.scale), strict=True))

    def init(self, theta, state):
        self.t.view(theta).fill(0)
        self.Wg.view(theta).fill(0)
        self.Cg.view(theta).fill(0)
        self.bg.view(theta).fill(self.GATE_INIT)
        self.mean.view(state).fill(0)
        self.scale.view(state).fill(1)

    def compile(self, ctx):
        k, n_out, n_trust = self.k, self.n_outputs, self.n_trust
        t, Wg, Cg = (
            self.t.view(ctx.theta),
            self.Wg.view(ctx.theta),
            self.Cg.view(ctx.theta),
        )
        bg = self.bg.view(ctx.theta)
        mean, scale = self.mean.view(ctx.state), self.scale.view(ctx.state)
        context = ctx.shared.setdefault("retrieval_context", [None])
        hidden = ctx.shared.setdefault("retrieval_hidden", [None])
        hidden_grad = ctx.shared.setdefault("retrieval_hidden_grad", [None])
        link, link_derivative = RETRIEVAL_LINKS[self.link]
        held = {}
        training = ctx.training

        def forward(f):
            C = context[0]
            n = C.shape[0]
            d, logw = C[:, :k], C[:, k : 2 * k]
            z = (C[:, 2 * k : 2 * k + n_trust] - mean) / scale
            Y = C[:, 2 * k + n_trust :].reshape(n, k, n_out)
            beta = np.exp(t[0])
            logits = logw - beta * d
            logits -= logits.max(axis=1, keepdims=True)
            a = np.exp(logits)
            a /= a.sum(axis=1, keepdims=True)
            v = np.einsum("nk,nko->no", a, Y)
            m = link(v)
            u = hidden[0] @ Wg + z @ Cg + bg
            # sigmoid(u) without overflow for large |u|.
            g = np.exp(-np.logaddexp(0.0, -u))
            out = f + g * (m - f)
            # f is the output layer's buffer: backward runs before it is reused.
            if training:
                held.update(d=d, z=z, Y=Y, beta=beta, a=a, v=v, m=m, g=g, f=f)
            return out

        if not training:
            return forward, None
        dt, dWg = self.t.view(ctx.grad), self.Wg.view(ctx.grad)
        dCg, dbg = self.Cg.view(ctx.grad), self.bg.view(ctx.grad)

        def backward(delta):
            g, m, f, a, v = held["g"], held["m"], held["f"], held["a"], held["v"]
            du = delta * (m - f) * g * (1.0 - g)
            dbg[...] = du.sum(axis=0)
            dWg[...] = hidden[0].T @ du
            dCg[...] = held["z"].T @ du
            hidden_grad[0] = du @ Wg.T
            dv = delta * g * link_derivative(v)
            da = np.einsum("no,nko->nk", dv, held["Y"])
            dlogits = a * (da - np.sum(a * da, axis=1, keepdims=True))
            # logits = logw - exp(t) d: d logits / dt = -exp(t) d.
            dt[0] = -held["beta"] * np.sum(dlogits * held["d"])
            return delta * (1.0 - g)

        return forward, backward
