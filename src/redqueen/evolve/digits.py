"""The digits task of M2N2's from-scratch experiment: a 64-256-10 MLP on scikit-learn digits.

Data follow Sakana's ``natural_niches`` code exactly: ``load_digits``, the
first 80% (1,437 images) for training and the rest (360) for testing, no
shuffling, and raw pixel values 0..16 (their code does **not** divide by 16;
``scale`` lets you). The genome packs ``w1 (64, 256)``, ``b1 (256,)``,
``w2 (256, 10)``, ``b2 (10,)`` in that order (19,210 floats), the layout of
their ``mlp``. A datapoint's score is 1 when the MLP's argmax is its label.

:func:`mlp_correct` evaluates a whole ``(B, d)`` batch of genomes at once in
float32: one ``(n, 64) @ (64, 256)`` GEMM per genome on the input columns
that are not all zero (3 of 64 are always zero in the training split; their
weights cannot matter), then ReLU, the small second GEMM and argmax. On the
2-core machine this was measured faster than one batched ``matmul`` over a
``(B, n, 256)`` tensor, which spills out of cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from redqueen.evolve.genome import Layout

INPUT_DIM, HIDDEN_DIM, OUTPUT_DIM = 64, 256, 10


def mlp_layout(input_dim: int = INPUT_DIM, hidden_dim: int = HIDDEN_DIM, output_dim: int = OUTPUT_DIM) -> Layout:
    """Layout of the two-layer MLP genome (``x @ w1 + b1 -> relu -> @ w2 + b2``)."""
    return Layout.from_shapes(
        {"w1": (input_dim, hidden_dim), "b1": (hidden_dim,), "w2": (hidden_dim, output_dim), "b2": (output_dim,)}
    )


def mlp_logits(genome: np.ndarray, x: np.ndarray, layout: Layout) -> np.ndarray:
    """Logits ``(n, out)`` of one ``(d,)`` genome on inputs ``x`` ``(n, in)`` (plain reference path)."""
    p = layout.views(np.asarray(genome, dtype=np.float32))
    h = np.maximum(x @ p["w1"] + p["b1"], 0)
    return h @ p["w2"] + p["b2"]


def active_inputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(columns not all zero, x restricted to them as contiguous float32)``."""
    active = np.flatnonzero(np.any(x != 0, axis=0))
    return active, np.ascontiguousarray(x[:, active], dtype=np.float32)


def mlp_correct(
    genomes: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    layout: Layout,
    active: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per-datapoint correctness of a batch of MLP genomes.

    ``genomes`` ``(B, d)`` or ``(d,)`` float32, ``x`` ``(n, in)`` float32,
    ``y`` ``(n,)`` int labels; ``active`` is :func:`active_inputs` of ``x``
    if precomputed. Returns ``(B, n)`` (or ``(n,)``) bool: whether each
    genome's argmax logit on each point equals its label.
    """
    g = np.asarray(genomes, dtype=np.float32)
    single = g.ndim == 1
    g = g[None] if single else g
    active, xa = active if active is not None else active_inputs(x)
    sw1, sb1, sw2, sb2 = (layout.slice(n) for n in ("w1", "b1", "w2", "b2"))
    (din, hid), (_, dout) = layout.shapes[0], layout.shapes[2]
    out = np.empty((g.shape[0], x.shape[0]), dtype=bool)
    h = np.empty((x.shape[0], hid), dtype=np.float32)
    for i, gi in enumerate(g):
        w1 = gi[sw1].reshape(din, hid)[active]
        np.matmul(xa, w1, out=h)
        h += gi[sb1]
        np.maximum(h, 0, out=h)
        logits = h @ gi[sw2].reshape(hid, dout)
        logits += gi[sb2]
        np.equal(logits.argmax(axis=1), y, out=out[i])
    return out[0] if single else out


@dataclass(frozen=True, eq=False)
class DigitsTask:
    """Train/test splits of scikit-learn digits and the MLP that classifies them.

    ``x_*`` are float32 ``(n, 64)``, ``y_*`` int64 ``(n,)``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    layout: Layout = field(default_factory=mlp_layout)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_train_active", active_inputs(self.x_train))
        object.__setattr__(self, "_test_active", active_inputs(self.x_test))

    @classmethod
    def load(cls, *, train_fraction: float = 0.8, scale: float = 1.0, hidden_dim: int = HIDDEN_DIM) -> "DigitsTask":
        """First ``train_fraction`` of ``load_digits`` for training, the rest for testing; pixels times ``scale``."""
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        cut = int(len(x) * train_fraction)
        x = (x * scale).astype(np.float32)
        y = y.astype(np.int64)
        return cls(x[:cut], y[:cut], x[cut:], y[cut:], mlp_layout(x.shape[1], hidden_dim, 10))

    @property
    def dim(self) -> int:
        """Genome length ``d``."""
        return self.layout.size

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    def scores(self, genomes: np.ndarray) -> np.ndarray:
        """``(B, n_train)`` float32: 1 where a genome classifies a training point correctly."""
        return mlp_correct(genomes, self.x_train, self.y_train, self.layout, self._train_active).astype(np.float32)

    def test_accuracy(self, genomes: np.ndarray) -> np.ndarray:
        """``(B,)`` (or scalar for one genome) accuracy on the test split."""
        return mlp_correct(genomes, self.x_test, self.y_test, self.layout, self._test_active).mean(axis=-1)

    def test_probs(self, genomes: np.ndarray) -> np.ndarray:
        """``(B, n_test, 10)`` each genome's softmax class probabilities on the test split (float64)."""
        from scipy.special import softmax

        return np.stack([softmax(mlp_logits(g, self.x_test, self.layout).astype(np.float64), axis=1)
                         for g in np.asarray(genomes, dtype=np.float32).reshape(-1, self.dim)])

    def random_genomes(self, n: int, rng: np.random.Generator, std: float = 0.01) -> np.ndarray:
        """``(n, d)`` float32 genomes with every parameter ``N(0, std^2)`` (M2N2's initialisation)."""
        return (std * rng.standard_normal((n, self.dim), dtype=np.float32)).astype(np.float32)

    def flops_per_eval(self) -> int:
        """Multiply-adds times two of one forward pass over the training split (both layers)."""
        (din, hid), (_, dout) = self.layout.shapes[0], self.layout.shapes[2]
        return 2 * self.n_train * (din * hid + hid * dout)

    def pretrained_genomes(self, seed: int = 42, *, steps: int = 10, lr: float = 0.003, std: float = 0.01) -> np.ndarray:
        """``(2, d)``: one MLP trained on training digits 0-4, one on 5-9 (M2N2's pre-trained setting).

        Each starts from ``N(0, std^2)`` (seeded by ``seed``) and takes
        ``steps`` full-batch Adam steps of size ``lr`` on cross-entropy, as in
        M2N2's code (10 steps of 0.003). Numpy backprop, float64.
        """
        rng = np.random.default_rng(seed)
        mask = self.y_train < 5
        out = []
        for m in (mask, ~mask):
            g0 = self.random_genomes(1, rng, std)[0]
            out.append(train_mlp(g0, self.x_train[m], self.y_train[m], self.layout, steps=steps, lr=lr))
        return np.stack(out)


class MLPGenome:
    """The ``mlp`` family of task worlds: a model is one ``(d,)`` float32 genome of the digits MLP.

    Hyperparameters say where a run starts (:meth:`initial`): ``init = "scratch"`` draws
    ``n_initial`` genomes ``N(0, init_std^2)``; ``"pretrained"`` trains the two halves of
    :meth:`DigitsTask.pretrained_genomes` (seeded by ``pretrain_seed``, shared by all run seeds).
    ``genome_`` is the fitted state (``None`` until set); ``state()`` / ``load_state()`` hold it.
    """

    def __init__(self, *, init: str = "scratch", init_std: float = 0.01, n_initial: int = 2,
                 pretrain_seed: int = 42, pretrain_steps: int = 10):
        self.init = init
        self.init_std = init_std
        self.n_initial = n_initial
        self.pretrain_seed = pretrain_seed
        self.pretrain_steps = pretrain_steps
        self.genome_: np.ndarray | None = None

    def initial(self, task: DigitsTask, rng: np.random.Generator) -> np.ndarray:
        """``(k, d)`` starting genomes (``rng`` draws the from-scratch ones)."""
        if self.init == "pretrained":
            return task.pretrained_genomes(self.pretrain_seed, steps=self.pretrain_steps, std=self.init_std)
        return task.random_genomes(self.n_initial, rng, self.init_std)

    def with_genome(self, genome: np.ndarray) -> "MLPGenome":
        """A copy of this family holding ``genome`` ``(d,)``."""
        out = MLPGenome(init=self.init, init_std=self.init_std, n_initial=self.n_initial,
                        pretrain_seed=self.pretrain_seed, pretrain_steps=self.pretrain_steps)
        out.genome_ = np.array(genome, dtype=np.float32)
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {"genome": self.genome_}

    def load_state(self, arrays: dict[str, np.ndarray]) -> "MLPGenome":
        """Restore the genome; raises ``KeyError``/``ValueError`` on arrays that are not one float vector."""
        g = np.asarray(arrays["genome"])
        if g.ndim != 1 or g.dtype.kind != "f":
            raise ValueError(f"a genome is a float vector, got {g.dtype} of shape {g.shape}")
        self.genome_ = g.astype(np.float32, copy=True)
        return self


def _loss_grad(theta: np.ndarray, x: np.ndarray, y: np.ndarray, layout: Layout) -> np.ndarray:
    p = layout.views(theta)
    z1 = x @ p["w1"] + p["b1"]
    h = np.maximum(z1, 0)
    logits = h @ p["w2"] + p["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    prob[np.arange(len(y)), y] -= 1.0
    dl = prob / len(y)
    grad = np.empty_like(theta)
    g = layout.views(grad)
    g["w2"][...] = h.T @ dl
    g["b2"][...] = dl.sum(axis=0)
    dz1 = (dl @ p["w2"].T) * (z1 > 0)
    g["w1"][...] = x.T @ dz1
    g["b1"][...] = dz1.sum(axis=0)
    return grad


def train_mlp(
    genome: np.ndarray, x: np.ndarray, y: np.ndarray, layout: Layout, *, steps: int = 10, lr: float = 0.003
) -> np.ndarray:
    """Full-batch Adam (betas 0.9, 0.999, eps 1e-8) on mean cross-entropy; returns the new ``(d,)`` float32 genome."""
    theta = np.asarray(genome, dtype=np.float64).copy()
    x = np.asarray(x, dtype=np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t in range(1, steps + 1):
        grad = _loss_grad(theta, x, y, layout)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        theta -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return theta.astype(np.float32)
