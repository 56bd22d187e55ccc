"""The variational autoencoder family on :class:`~redqueen.data.Points` (Shumailov et al. 2024's VAE, at CPU scale).

Built for the digits world: ``(n, 64)`` images with values in ``[0, scale]``
(16 for scikit-learn's digits; 1 for data already in ``[0, 1]``). The encoder
and decoder are MLPs; the decoder's mean goes through a sigmoid times
``scale``, so decoded images stay in the data's range; the likelihood is
Gaussian with one learned standard deviation per pixel (at least
``min_std * scale``).

``sample(n, rng)`` decodes prior draws ``z ~ N(0, I)`` to decoder means
(``sample_noise=True`` adds the Gaussian observation noise), so under the
replace regime each generation trains only on images decoded from the
previous model's prior, as in the paper. ``log_prob`` is the importance-
weighted bound (IWAE, Burda et al. 2016) with ``eval_samples`` posterior
draws from a fixed seed, so it is deterministic; it is a lower bound on the
log-density of the images in data units.

Latent temperature (a sampling parameter, the arena's ``temperature`` gene,
:mod:`redqueen.arena.genes`): ``temperature`` ``T`` draws ``z ~ N(0, T^2 I)``
in ``sample`` (every latent standard deviation times ``T``; ``T < 1``
decodes images nearer the decoder's typical ones, as a cooled mixture
samples nearer its means), and ``log_prob`` is the IWAE bound of the model
with that prior, ``p_T(x) = int p(x | z) N(z; 0, T^2 I) dz`` -- the same
encoder as proposal, so still a lower bound, now on the likelihood under
what the tempered model emits: a tempered VAE's fidelity is the likelihood
of real digits under the distribution it samples from, as for the tempered
Gaussian mixtures. The fit is not tempered (training uses the ``N(0, I)``
prior and ``state`` holds the trained weights); at ``T = 1`` sample and
log_prob are bitwise the untempered model's. ``shift`` (one value per pixel, or None; the
arena's ``shift`` gene) translates what it emits, ``x + shift``, and scores ``x`` at
``x - shift`` (:func:`redqueen.models.base.translate`).

Warm start: pass a previous model's ``state()`` as ``init_state``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from redqueen.data import Points
from redqueen.models.base import WeightGenome, translate
from redqueen.models.neural import _torch as T

_EVAL_SEED = 20240724  # importance samples of log_prob: fixed, so scoring is a pure function of the weights


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """``x`` ``(n, d)`` in ``[0, 1]`` -> posterior ``(mu, logvar)`` ``(n, latent)``; ``z`` -> decoder mean ``(n, d)``."""

    def __init__(self, d: int, latent_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.encoder = _mlp([d, *hidden, 2 * latent_dim])
        self.decoder = _mlp([latent_dim, *reversed(hidden), d])
        self.log_std = nn.Parameter(torch.zeros(d))

    def init_weights(self, gen: torch.Generator) -> None:
        """PyTorch's default ``Linear`` initialisation (uniform in +-1/sqrt(fan_in)), drawn from ``gen``."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    bound = 1.0 / math.sqrt(m.in_features)
                    m.weight.uniform_(-bound, bound, generator=gen)
                    m.bias.uniform_(-bound, bound, generator=gen)
            self.log_std.fill_(math.log(0.2))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))


class VAEFamily(WeightGenome):
    """Gaussian-likelihood VAE trained with Adam on the negative ELBO (``beta`` weights the KL term).

    ``latent_dim``, ``hidden`` (encoder widths; the decoder mirrors them),
    ``scale`` (data range ``[0, scale]``), ``epochs`` passes in minibatches of
    ``batch_size`` at learning rate ``lr``, ``min_std`` (floor of the per-pixel
    standard deviation, as a fraction of ``scale``), ``sample_noise``,
    ``eval_samples`` (importance samples per item in ``log_prob``), ``temperature``
    (the latent prior's scale when sampling and scoring; module docstring), ``init_state``.
    """

    def __init__(
        self, *, latent_dim: int = 8, hidden: tuple[int, ...] = (256, 128), scale: float = 16.0, epochs: int = 50,
        batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0, beta: float = 1.0, min_std: float = 0.02,
        sample_noise: bool = False, eval_samples: int = 16, eval_batch_size: int = 1024, temperature: float = 1.0,
        init_state: dict[str, np.ndarray] | None = None, shift: np.ndarray | None = None,
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.scale = scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.beta = beta
        self.min_std = min_std
        self.sample_noise = sample_noise
        self.eval_samples = eval_samples
        self.eval_batch_size = eval_batch_size
        self.temperature = temperature
        self.init_state = init_state
        self.shift = shift

    _PARAMS = ("latent_dim", "hidden", "scale", "epochs", "batch_size", "lr", "weight_decay", "beta", "min_std",
               "sample_noise", "eval_samples", "eval_batch_size", "temperature", "init_state", "shift")

    def get_params(self) -> dict:
        """The constructor's keyword arguments as stored."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def _build(self, d: int) -> VAE:
        return VAE(d, self.latent_dim, tuple(self.hidden))

    def _log_std(self) -> torch.Tensor:
        return self.model_.log_std.clamp(min=math.log(self.min_std))

    def _log_lik(self, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """Gaussian log-likelihood of scaled data ``x`` ``(..., d)`` summed over pixels -> ``(...)``."""
        ls = self._log_std()
        return (-0.5 * ((x - mean) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1)

    def fit(self, data: Points, rng: np.random.Generator) -> "VAEFamily":
        """Train on ``data.x`` ``(n, d)``; ``rng`` seeds initialisation, minibatch order and the posterior noise."""
        x = torch.from_numpy(np.asarray(data.x, np.float32) / np.float32(self.scale))
        n, d = x.shape
        seed = T.draw_seed(rng)
        gen = T.generator(seed)
        self.model_ = self._build(d)
        if self.init_state is not None:
            T.load_numpy_state(self.model_, self.init_state)
        else:
            self.model_.init_weights(gen)
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        brng = np.random.default_rng(seed)
        losses = []
        self.model_.train()
        for _ in range(self.epochs):
            perm = torch.from_numpy(brng.permutation(n))
            total = 0.0
            for s in range(0, n, self.batch_size):
                xb = x[perm[s : s + self.batch_size]]
                mu, logvar = self.model_.encode(xb)
                z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=gen)
                rec = self._log_lik(xb, self.model_.decode(z))
                kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
                loss = (self.beta * kl - rec).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * xb.shape[0]
            losses.append(total / max(n, 1))
        self.model_.eval()
        self.losses_ = np.asarray(losses, np.float32)
        return self

    @torch.inference_mode()
    def sample(self, n: int, rng: np.random.Generator) -> Points:
        """Decode ``n`` draws of the tempered prior ``N(0, T^2 I)``; returns ``Points`` ``(n, d)`` in data units
        ``[0, scale]`` (noise may leave it)."""
        z = torch.from_numpy(rng.standard_normal((n, self.latent_dim)).astype(np.float32))
        t = float(self.temperature)
        if t != 1.0:
            z = z * t
        x = self.model_.decode(z)
        if self.sample_noise:
            x = x + self._log_std().exp() * torch.from_numpy(rng.standard_normal(tuple(x.shape)).astype(np.float32))
        return Points(translate(x.double().numpy() * self.scale, self.shift))

    @torch.inference_mode()
    def log_prob(self, data: Points) -> np.ndarray:
        """IWAE lower bound on ``log p_T(x)`` (the prior ``N(0, T^2 I)``) in data units, ``eval_samples`` draws per
        item; shape ``(n,)``."""
        x = torch.from_numpy(np.asarray(translate(data.x, self.shift, -1.0), np.float32) / np.float32(self.scale))
        k = max(1, self.eval_samples)
        t = float(self.temperature)
        gen = T.generator(_EVAL_SEED)
        out = np.empty(x.shape[0], np.float64)
        for s in range(0, x.shape[0], self.eval_batch_size):
            xb = x[s : s + self.eval_batch_size]
            mu, logvar = self.model_.encode(xb)
            std = (0.5 * logvar).exp()
            eps = torch.randn((k, *mu.shape), generator=gen)
            z = mu + std * eps
            log_q = (-0.5 * eps**2 - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
            if t == 1.0:
                log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
            else:  # N(z; 0, T^2 I)
                log_p = (-0.5 * (z / t) ** 2 - math.log(t) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_w = self._log_lik(xb, self.model_.decode(z)) + log_p - log_q
            out[s : s + xb.shape[0]] = (torch.logsumexp(log_w.double(), 0) - math.log(k)).numpy()
        return out - x.shape[1] * math.log(self.scale)

    def dim(self) -> int:
        """The fitted points' dimension."""
        return int(self.model_.log_std.shape[0])

    def state(self) -> dict[str, np.ndarray]:
        """Parameters keyed as in the torch ``state_dict`` (``encoder.0.weight``, ..., ``log_std``), float32."""
        return T.state_to_numpy(self.model_)

    def load_state(self, state: dict[str, np.ndarray]) -> "VAEFamily":
        """Rebuild the model from ``state`` (data dimension read from ``log_std``); raises on a shape mismatch."""
        self.model_ = self._build(int(np.asarray(state["log_std"]).shape[0]))
        T.load_numpy_state(self.model_, state)
        self.model_.eval()
        return self

