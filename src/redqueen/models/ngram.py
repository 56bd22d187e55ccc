"""The n-gram family: a count-based language model over token :class:`Sequences`.

An order-``n`` model predicts each token from the ``n - 1`` before it, with
``n - 1`` begin-of-sequence symbols in front of every sequence and an
end-of-sequence outcome after it, so samples have natural lengths (capped at
``max_len``). Probabilities are additively smoothed counts::

    P(w | h) = (c(h, w) + alpha) / (c(h) + alpha * (V + 1))

over the ``V`` vocabulary tokens and the end symbol; a context never seen in
training gets the uniform distribution. Like the categorical family
(``alpha = 0`` is the maximum-likelihood Wright-Fisher case, ``alpha > 0`` a
mutation towards uniform), ``temperature``, ``top_k`` and ``top_p`` bias
sampling exactly as :func:`redqueen.models.decoding.decode_probs` would on
each dense row, and the biased distribution is the model's: ``log_prob``
scores with it.

Storage and speed. The counts are a sparse table with one row per seen
context (contexts are integers: the ``n - 1`` previous symbols in base
``V + 1``), columns sorted. Each row's distribution is "its seen entries, plus
the same small probability for each of its first ``r`` unseen outcomes", which
is exact for additive smoothing under temperature, top-k and top-p, because
every seen entry outranks every unseen one. Sampling is vectorised across
sequences: at each position all unfinished sequences draw one uniform number
each; those that fall in the seen part find their token by ``searchsorted`` on
one global cumulative sum, the rest map their draw to the ``j``-th unseen
outcome of their row with a second ``searchsorted``.
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Sequences, Vocabulary

_MAX_CODE = 2**62


def _events(data: Sequences, order: int, bos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every prediction the model makes on ``data``: context codes, next symbols and sequence ids, each (E,).

    Sequence ``i`` of length ``L`` gives ``L + 1`` events (its tokens, then the
    end symbol, which is ``bos`` too). Contexts are ``sum_k s_{t-k} (V+1)^(k-1)``
    over ``k = 1..order-1``, with ``bos`` before the start.
    """
    lengths = data.lengths()
    n_events = lengths + 1
    total = int(n_events.sum())
    seq = np.repeat(np.arange(len(data)), n_events)
    t = np.arange(total) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    base = data.offsets[:-1][seq]
    tokens = data.tokens.astype(np.int64)
    last = max(tokens.size - 1, 0)
    padded = tokens if tokens.size else np.zeros(1, np.int64)
    nxt = np.where(t < lengths[seq], padded[np.minimum(base + t, last)], bos)
    ctx = np.zeros(total, dtype=np.int64)
    radix = bos + 1
    for k in range(1, order):
        sym = np.where(t >= k, padded[np.clip(base + t - k, 0, last)], bos)
        ctx += sym * radix ** (k - 1)
    return ctx, nxt, seq


class NGramFamily:
    """Order-``order`` n-gram model with additive smoothing ``alpha`` and sampling bias.

    Fitted state: ``keys_`` (R,) sorted context codes, ``indptr_`` (R+1,),
    ``cols_`` (nnz,) next symbols (``V`` is the end symbol) and ``counts_``
    (nnz,), a CSR count table; ``vocab_`` decodes samples. ``fit`` raises
    ``ValueError`` if ``(V + 1) ** (order - 1)`` does not fit in 62 bits.
    """

    def __init__(self, *, order: int = 2, alpha: float = 0.01, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, max_len: int = 128):
        self.order = order
        self.alpha = alpha
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.max_len = max_len

    # -- fitting -----------------------------------------------------------------------------------------------

    def fit(self, data: Sequences, rng: np.random.Generator | None = None) -> "NGramFamily":
        """Count every (context, next symbol) pair of ``data``; ``rng`` is unused (counting is deterministic)."""
        if self.order < 1:
            raise ValueError(f"n-gram order must be at least 1, got {self.order}")
        v = len(data.vocab)
        if (v + 1) ** (self.order - 1) >= _MAX_CODE:
            raise ValueError(
                f"n-gram order {self.order} over {v} tokens overflows 62-bit context codes; lower order or vocab_size"
            )
        self.vocab_ = data.vocab
        ctx, nxt, _ = _events(data, self.order, v)
        self.keys_, row = np.unique(ctx, return_inverse=True)
        pairs, self.counts_ = np.unique(row.reshape(-1) * (v + 1) + nxt, return_counts=True)
        rows = pairs // (v + 1)
        self.cols_ = pairs % (v + 1)
        self.indptr_ = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.keys_.size))])
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Derive the decoded per-row distributions (seen entries + r unseen outcomes of equal probability)."""
        v = len(self.vocab_)
        outcomes = v + 1
        n_rows = self.keys_.size
        indptr = np.concatenate([self.indptr_, [self.indptr_[-1]]])  # row n_rows: an unseen context
        n_seen = np.diff(indptr)
        row = np.repeat(np.arange(n_rows + 1), n_seen)
        nnz = self.cols_.size
        counts = self.counts_.astype(np.float64)
        temp = float(self.temperature)
        with np.errstate(divide="ignore"):
            log_seen = np.log(counts + self.alpha) / temp
            log_unseen = np.log(self.alpha) / temp if self.alpha > 0 else -np.inf
        row_max = np.full(n_rows + 1, log_unseen)
        if nnz:  # every seen context has at least one entry
            row_max[:n_rows] = np.maximum.reduceat(log_seen, self.indptr_[:-1])
        w = np.exp(log_seen - row_max[row])
        a = np.exp(log_unseen - row_max) if np.isfinite(log_unseen) else np.zeros(n_rows + 1)
        a[n_rows] = 1.0  # an unseen context is uniform
        n_unseen = outcomes - n_seen
        r = n_unseen.copy()
        keep = np.ones(nnz, dtype=bool)
        k, p = int(self.top_k), float(self.top_p)
        if (0 < k < outcomes) or p < 1.0:
            # rank within each row: weight descending, ties to the lower index (decode_probs' stable argsort)
            order = np.lexsort((self.cols_, -w, row))
            rank = np.arange(nnz) - indptr[row[order]]
            if 0 < k < outcomes:
                keep[order] = rank < k
                r = np.clip(k - n_seen, 0, n_unseen)
            if p < 1.0:
                ws = np.where(keep, w, 0.0)[order]
                cum = np.cumsum(ws)
                cum_before = cum - ws - np.concatenate([[0.0], cum])[indptr[row[order]]]
                seen_sum = np.bincount(row, weights=np.where(keep, w, 0.0), minlength=n_rows + 1)
                z = seen_sum + r * a
                keep[order] &= cum_before < p * z[row[order]]
                with np.errstate(divide="ignore", invalid="ignore"):
                    room = np.where(a > 0, np.ceil((p * z - seen_sum) / a), 0.0)
                r = np.clip(room, 0, r).astype(np.int64)
        w = np.where(keep, w, 0.0)
        z = np.bincount(row, weights=w, minlength=n_rows + 1) + r * a
        self._p_seen = w / z[row]
        self._p_unseen = a / z
        self._n_unseen = r
        self._seen_mass = np.bincount(row, weights=self._p_seen, minlength=n_rows + 1)
        cum = np.cumsum(self._p_seen)
        self._cum = cum
        self._row_start = np.concatenate([[0.0], cum])[indptr[:-1]]
        positive = np.flatnonzero(self._p_seen > 0)
        # last entry with positive probability at or before each row end (guards float round-off in searchsorted)
        self._last_pos = positive[np.maximum(np.searchsorted(positive, indptr[1:]) - 1, 0)] if positive.size else indptr[1:]
        self._indptr = indptr
        self._row = row
        self._entry_key = row * outcomes + self.cols_
        self._gap_key = row * (outcomes + 1) + (self.cols_ - (np.arange(nnz) - indptr[row]))

    # -- using the model ---------------------------------------------------------------------------------------

    def _rows(self, ctx: np.ndarray) -> np.ndarray:
        """Row of each context code; unseen contexts get the uniform row ``R``."""
        keys = self.keys_
        pos = np.searchsorted(keys, ctx)
        found = keys[np.minimum(pos, keys.size - 1)] == ctx
        return np.where(found, pos, keys.size)

    def _unseen_outcome(self, rows: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The ``j``-th outcome (0-based) that row ``rows`` has never seen; both (m,)."""
        outcomes = len(self.vocab_) + 1
        before = np.searchsorted(self._gap_key, rows * (outcomes + 1) + j, side="right") - self._indptr[rows]
        return j + before

    def sample(self, n: int, rng: np.random.Generator) -> Sequences:
        """``n`` sequences, each ended by the end symbol or cut at ``max_len`` tokens."""
        v = len(self.vocab_)
        radix = v + 1
        keep_mod = radix ** max(self.order - 2, 0)
        ctx = np.full(n, sum(v * radix**k for k in range(self.order - 1)), dtype=np.int64)
        out = np.zeros((n, self.max_len), dtype=np.int32)
        lengths = np.full(n, self.max_len, dtype=np.int64)
        active = np.arange(n)
        for t in range(self.max_len):
            if active.size == 0:
                break
            rows = self._rows(ctx[active])
            u = rng.random(active.size)
            seen_mass = self._seen_mass[rows]
            tok = np.empty(active.size, dtype=np.int64)
            in_seen = u < seen_mass
            if np.any(in_seen):
                rs = rows[in_seen]
                idx = np.searchsorted(self._cum, self._row_start[rs] + u[in_seen], side="right")
                tok[in_seen] = self.cols_[np.clip(idx, self._indptr[rs], self._last_pos[rs])]
            if not np.all(in_seen):
                ru = rows[~in_seen]
                j = np.floor((u[~in_seen] - seen_mass[~in_seen]) / self._p_unseen[ru]).astype(np.int64)
                tok[~in_seen] = self._unseen_outcome(ru, np.clip(j, 0, self._n_unseen[ru] - 1))
            ended = tok == v
            lengths[active[ended]] = t
            go = active[~ended]
            out[go, t] = tok[~ended]
            if self.order > 1:
                ctx[go] = (ctx[go] % keep_mod) * radix + tok[~ended]
            active = go
        mask = np.arange(self.max_len)[None, :] < lengths[:, None]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return Sequences(out[mask], offsets, self.vocab_)

    def log_prob(self, data: Sequences) -> np.ndarray:
        """Log-probability of each whole sequence, end symbol included; shape (n,).

        Finite when ``alpha > 0`` and no ``top_k``/``top_p`` truncation removes an
        outcome; ``-inf`` for sequences the (biased) model cannot produce.
        """
        v = len(self.vocab_)
        ctx, nxt, seq = _events(data, self.order, v)
        rows = self._rows(ctx)
        key = rows * (v + 1) + nxt
        pos = np.searchsorted(self._entry_key, key)
        hit = self._entry_key[np.minimum(pos, max(self._entry_key.size - 1, 0))] == key if self._entry_key.size else np.zeros(key.size, bool)
        rank = nxt - (pos - self._indptr[rows])  # among the row's unseen outcomes
        p = np.where(hit, self._p_seen[np.minimum(pos, max(self._p_seen.size - 1, 0))] if self._p_seen.size else 0.0,
                     np.where(rank < self._n_unseen[rows], self._p_unseen[rows], 0.0))
        with np.errstate(divide="ignore"):
            lp = np.log(p)
        return np.bincount(seq, weights=lp, minlength=len(data))

    def probs(self, context: list[int] | np.ndarray) -> np.ndarray:
        """The dense next-symbol distribution after ``context`` (token ids; the last ``order - 1`` count), shape (V+1,).

        Index ``V`` is the end symbol. Fewer than ``order - 1`` ids mean the sequence starts there.
        """
        v = len(self.vocab_)
        radix = v + 1
        hist = [v] * (self.order - 1) + [int(i) for i in context]
        code = sum(s * radix**k for k, s in enumerate(reversed(hist[len(hist) - (self.order - 1):]))) if self.order > 1 else 0
        row = int(self._rows(np.array([code], dtype=np.int64))[0])
        dense = np.zeros(radix)
        lo, hi = self._indptr[row], self._indptr[row + 1]
        unseen = np.setdiff1d(np.arange(radix), self.cols_[lo:hi])[: self._n_unseen[row]]
        dense[unseen] = self._p_unseen[row]
        dense[self.cols_[lo:hi]] = self._p_seen[lo:hi]
        return dense

    # -- checkpoints -------------------------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """The count table and the vocabulary (UTF-8 bytes, tokens separated by NUL) as numpy arrays."""
        encoded = "\x00".join(self.vocab_.tokens).encode("utf-8")
        return {
            "keys": self.keys_, "indptr": self.indptr_, "cols": self.cols_, "counts": self.counts_,
            "vocab_utf8": np.frombuffer(encoded, dtype=np.uint8).copy(),
            "vocab_size": np.array(len(self.vocab_), dtype=np.int64),
            "joiner_utf8": np.frombuffer(self.vocab_.joiner.encode("utf-8"), dtype=np.uint8).copy(),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> "NGramFamily":
        tokens = bytes(np.asarray(state["vocab_utf8"], dtype=np.uint8)).decode("utf-8").split("\x00")
        if int(state["vocab_size"]) == 0:
            tokens = []
        self.vocab_ = Vocabulary(tuple(tokens), bytes(np.asarray(state["joiner_utf8"], dtype=np.uint8)).decode("utf-8"))
        self.keys_ = np.asarray(state["keys"], dtype=np.int64)
        self.indptr_ = np.asarray(state["indptr"], dtype=np.int64)
        self.cols_ = np.asarray(state["cols"], dtype=np.int64)
        self.counts_ = np.asarray(state["counts"], dtype=np.int64)
        self._prepare()
        return self
