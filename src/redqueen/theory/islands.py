"""Wright's island model for a population of categorical members: drift within demes, migration between them.

P members (demes), each refitted by maximum likelihood to ``N`` items per generation, each item
drawn from member ``j``'s model with probability ``M[i, j]`` (the migration matrix of
:func:`redqueen.loop.couplings.migration_matrix`: all-to-all is Wright's island model, the
rings are 1-D stepping stones). With ``J_il = sum_k p_ik p_lk`` (the chance that an item of
deme ``i`` and one of deme ``l`` are the same type) and ``Q = M J M^T``, the drift fact gives

    E[J_ii(t)] = (1 - 1/N) Q_ii + 1/N,      E[J_il(t)] = Q_il   (i != l),

linear in ``J``, so the expectations below are exact. From them: the mean within-member
heterozygosity ``H_S = 1 - mean_i J_ii``, the pooled (total) heterozygosity
``H_T = 1 - mean_il J_il`` of the members' mean distribution, and ``F_ST = 1 - H_S / H_T``
(a ratio of expectations, the usual reading; the per-replicate ratio's mean differs from it
by O(1/replicates)). Without migration (``M = I``) each deme drifts alone and
``E[J_il] = G_pi`` for ``i != l`` stays put. Generation 0 fits ``N`` independent real draws per
member: ``E[J_ii(0)] = (1 - 1/N) G_pi + 1/N``, ``E[J_il(0)] = G_pi``.

Since there is no mutation, every deme eventually fixes; but the *shape* of ``H`` settles
within a few ``1/m`` generations to the dominant eigenvector of the linear map, and F_ST to its
migration-drift quasi-equilibrium (:func:`island_fst_equilibrium`), close to
``1 / (1 + 2 N m P/(P-1))`` for the haploid all-to-all island model when ``m`` is small
(:func:`island_fst_approximation`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redqueen.theory._common import _generations


@dataclass(frozen=True)
class IslandMoments:
    """Expected heterozygosities by generation (arrays of ``t``'s shape)."""

    within: np.ndarray  # H_S: mean heterozygosity of one member
    total: np.ndarray  # H_T: heterozygosity of the pooled (mean) distribution
    fst: np.ndarray  # 1 - H_S / H_T


def _step(j: np.ndarray, m: np.ndarray, n: int) -> np.ndarray:
    q = m @ j @ m.T
    out = q.copy()
    d = np.arange(j.shape[0])
    out[d, d] = (1 - 1 / n) * q[d, d] + 1 / n
    return out


def island_heterozygosity(t, *, n: int, migration: np.ndarray, world_probs: np.ndarray,
                          h0: float | None = None) -> IslandMoments:
    """Expected H_S, H_T and F_ST at generations ``t`` for ``P`` members of size ``n``.

    ``migration`` is the ``(P, P)`` row-stochastic matrix; ``world_probs`` the world's type
    distribution (``G_pi`` enters the start); ``h0`` the observed mean generation-0 member
    heterozygosity, if given, in place of its expectation.
    """
    t = _generations(t)
    m = np.asarray(migration, dtype=np.float64)
    p = m.shape[0]
    pi = np.asarray(world_probs, float) / np.sum(world_probs)
    g_pi = float(pi @ pi)
    j = np.full((p, p), g_pi)
    np.fill_diagonal(j, (1 - 1 / n) * g_pi + 1 / n if h0 is None else 1 - h0)
    within, total = [], []
    for g in range(int(t.max(initial=0)) + 1):
        if g:
            j = _step(j, m, n)
        within.append(1 - float(np.mean(np.diag(j))))
        total.append(1 - float(np.mean(j)))
    within, total = np.array(within)[t], np.array(total)[t]
    with np.errstate(invalid="ignore", divide="ignore"):
        fst = np.where(total > 0, 1 - within / total, np.nan)
    return IslandMoments(within, total, fst)


def _heterozygosity_map(h: np.ndarray, m: np.ndarray, n: int) -> np.ndarray:
    """One generation of ``H = 1 - J``: ``(M H M^T)`` off the diagonal, ``(1 - 1/N) (M H M^T)_ii`` on it."""
    out = m @ h @ m.T
    d = np.arange(h.shape[0])
    out[d, d] *= 1 - 1 / n
    return out


def island_fst_equilibrium(*, n: int, migration: np.ndarray) -> float:
    """F_ST at migration-drift quasi-equilibrium: ``1 - H_S/H_T`` of the dominant eigenvector of the
    heterozygosity map (:func:`_heterozygosity_map`, a linear map on ``P x P`` matrices; scipy's ARPACK
    finds its leading eigenvector). For all-to-all migration :func:`island_fst_equilibrium_all` is the
    same number from a 2-state map."""
    from scipy.sparse.linalg import LinearOperator, eigs

    m = np.asarray(migration, dtype=np.float64)
    p = m.shape[0]
    op = LinearOperator((p * p, p * p), matvec=lambda v: _heterozygosity_map(v.reshape(p, p), m, n).ravel(),
                        dtype=np.float64)
    _, vec = eigs(op, k=1, which="LR", v0=np.ones(p * p), tol=1e-12)
    h = np.real(vec[:, 0]).reshape(p, p)
    h = h / h.sum()
    return 1 - float(np.mean(np.diag(h))) / float(np.mean(h))


def island_fst_equilibrium_all(*, n: int, rate: float, members: int) -> float:
    """:func:`island_fst_equilibrium` for all-to-all migration, exactly, from the map on (within, between).

    Two items of one deme share a source deme with probability ``a = (1-m)^2 + m^2/(P-1)``, items of two
    demes with ``c = 2m(1-m)/(P-1) + (P-2) m^2/(P-1)^2``; so ``h_w' = (1-1/N)(a h_w + (1-a) h_b)`` and
    ``h_b' = c h_w + (1-c) h_b``.
    """
    m, p = rate, members
    a = (1 - m) ** 2 + m**2 / (p - 1)
    c = 2 * m * (1 - m) / (p - 1) + (p - 2) * m**2 / (p - 1) ** 2
    mat = np.array([[(1 - 1 / n) * a, (1 - 1 / n) * (1 - a)], [c, 1 - c]])
    w, v = np.linalg.eig(mat)
    hw, hb = np.real(v[:, int(np.argmax(np.real(w)))])
    h_s, h_t = hw, (hw + (p - 1) * hb) / p
    return 1 - h_s / h_t


def island_fst_approximation(*, n: int, rate: float, members: int) -> float:
    """The classical haploid island-model value ``1 / (1 + 2 N m P / (P - 1))`` (small ``m``, large ``N``)."""
    return 1.0 / (1.0 + 2.0 * n * rate * members / (members - 1))
