"""An autoregressive LSTM policy over a sequence of categorical decisions, in numpy.

One LSTM cell is stepped once per decision. Its input is a learned start
vector for the first decision and, after that, the embedding of the choice
just made, so each decision is conditioned on all the earlier ones. Each
decision has its own output layer (logits over its choices) and its own
choice embeddings.

Logits are divided by the temperature and then, when `clip` > 0, squashed
to (-clip, clip) by clip * tanh(logits / clip): near zero they pass unchanged,
large ones saturate, so that no choice's probability collapses to 0 or 1
early in the search.

`gradient` returns d loss / d parameters for the REINFORCE loss of one
sampled sequence, loss = -advantage * sum(log p(a_t)) - entropy_weight * sum(H_t),
by backpropagation through time. Parameters live in one flat vector; `Adam`
keeps its moments the same way, so both persist as plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for any x


class Layout:
    """Named slices of one flat parameter vector."""

    def __init__(self, shapes: Sequence[tuple[str, tuple[int, ...]]]) -> None:
        self.slices: dict[str, tuple[slice, tuple[int, ...]]] = {}
        offset = 0
        for name, shape in shapes:
            n = int(np.prod(shape))
            self.slices[name] = (slice(offset, offset + n), shape)
            offset += n
        self.size = offset

    def view(self, flat: np.ndarray, name: str) -> np.ndarray:
        sl, shape = self.slices[name]
        return flat[sl].reshape(shape)


@dataclass
class Step:
    """What one forward step keeps for the backward pass."""

    name: str
    xh: np.ndarray  # [input, previous hidden state]
    c_prev: np.ndarray
    gates: np.ndarray  # i, f, o, g after their nonlinearities
    c: np.ndarray
    h: np.ndarray
    z: np.ndarray  # logits after temperature and clipping
    p: np.ndarray


class LSTMPolicy:
    def __init__(self, sizes: Sequence[tuple[str, int]], hidden: int, temperature: float = 1.0,
                 clip: float = 0.0) -> None:
        """`sizes`: (decision name, number of choices) of every decision the policy may be asked for."""
        self.hidden = hidden
        self.temperature = temperature
        self.clip = clip
        shapes: list[tuple[str, tuple[int, ...]]] = [
            ("lstm_w", (4 * hidden, 2 * hidden)), ("lstm_b", (4 * hidden,)), ("start", (hidden,))]
        for name, n in sizes:
            shapes += [(f"emb/{name}", (n, hidden)), (f"out_w/{name}", (n, hidden)), (f"out_b/{name}", (n,))]
        self.layout = Layout(shapes)
        self.theta = np.zeros(self.layout.size)

    def init(self, rng: np.random.Generator, scale: float = 0.1) -> None:
        self.theta = rng.uniform(-scale, scale, self.layout.size)
        for name in self.layout.slices:
            if name.startswith("out_b/"):
                self.p(name)[:] = 0.0  # the first suggestions are close to uniform

    def p(self, name: str, flat: np.ndarray | None = None) -> np.ndarray:
        return self.layout.view(self.theta if flat is None else flat, name)

    # --- forward ---------------------------------------------------------------

    def initial(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input, hidden state, cell state) before the first decision."""
        h = np.zeros(self.hidden)
        return self.p("start").copy(), h, h.copy()

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray, name: str) -> Step:
        """The distribution over decision `name`'s choices, given the state so far."""
        H = self.hidden
        xh = np.concatenate([x, h])
        a = self.p("lstm_w") @ xh + self.p("lstm_b")
        gates = np.concatenate([_sigmoid(a[:3 * H]), np.tanh(a[3 * H:])])
        i, f, o, g = gates[:H], gates[H:2 * H], gates[2 * H:3 * H], gates[3 * H:]
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        z = (self.p(f"out_w/{name}") @ h_new + self.p(f"out_b/{name}")) / self.temperature
        if self.clip > 0:
            z = self.clip * np.tanh(z / self.clip)
        e = np.exp(z - z.max())
        return Step(name, xh, c, gates, c_new, h_new, z, e / e.sum())

    def embed(self, name: str, action: int) -> np.ndarray:
        return self.p(f"emb/{name}")[action].copy()

    def replay(self, sequence: Sequence[tuple[str, int]]) -> list[Step]:
        """The forward steps that produce `sequence` of (decision, action)."""
        x, h, c = self.initial()
        steps = []
        for name, action in sequence:
            s = self.step(x, h, c, name)
            steps.append(s)
            x, h, c = self.embed(name, action), s.h, s.c
        return steps

    def log_prob(self, sequence: Sequence[tuple[str, int]]) -> float:
        return float(sum(np.log(s.p[a]) for s, (_, a) in zip(self.replay(sequence), sequence, strict=True)))

    # --- backward --------------------------------------------------------------

    def gradient(self, sequence: Sequence[tuple[str, int]], advantage: float, entropy_weight: float
                 ) -> np.ndarray:
        """d loss / d theta for loss = -advantage * log p(sequence) - entropy_weight * sum of entropies."""
        H = self.hidden
        steps = self.replay(sequence)
        grad = np.zeros_like(self.theta)
        w = self.p("lstm_w")
        dh_next = np.zeros(H)
        dc_next = np.zeros(H)
        for t in range(len(steps) - 1, -1, -1):
            s, (name, action) = steps[t], sequence[t]
            logp = np.log(np.maximum(s.p, 1e-300))
            entropy = -float(s.p @ logp)
            onehot = np.zeros_like(s.p)
            onehot[action] = 1.0
            # d(-A log p_a)/dz = -A (onehot - p);  d(-b H)/dz = b p (log p + H)
            dz = -advantage * (onehot - s.p) + entropy_weight * s.p * (logp + entropy)
            if self.clip > 0:
                dz = dz * (1.0 - (s.z / self.clip) ** 2)
            dlogits = dz / self.temperature
            self.p(f"out_w/{name}", grad)[:] += np.outer(dlogits, s.h)
            self.p(f"out_b/{name}", grad)[:] += dlogits
            dh = self.p(f"out_w/{name}").T @ dlogits + dh_next
            i, f, o, g = s.gates[:H], s.gates[H:2 * H], s.gates[2 * H:3 * H], s.gates[3 * H:]
            tc = np.tanh(s.c)
            dc = dh * o * (1.0 - tc ** 2) + dc_next
            da = np.concatenate([dc * g * i * (1 - i), dc * s.c_prev * f * (1 - f), dh * tc * o * (1 - o),
                                 dc * i * (1 - g ** 2)])
            self.p("lstm_w", grad)[:] += np.outer(da, s.xh)
            self.p("lstm_b", grad)[:] += da
            dxh = w.T @ da
            dh_next, dc_next = dxh[H:], dc * f
            if t == 0:
                self.p("start", grad)[:] += dxh[:H]
            else:
                prev_name, prev_action = sequence[t - 1]
                self.p(f"emb/{prev_name}", grad)[prev_action] += dxh[:H]
        return grad


class Adam:
    """Adam on a flat vector; its moments are plain arrays, persisted with the weights."""

    def __init__(self, size: int, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad ** 2
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
