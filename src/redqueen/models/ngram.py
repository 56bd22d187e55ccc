"""The n-gram family: a count-based language model over token :class:`Sequences`.

An order-``n`` model predicts each token from the ``n - 1`` before it, with
``n - 1`` begin-of-sequence symbols in front of every sequence and an
end-of-sequence outcome after it, so samples have natural lengths (capped at
``max_len``). Two smoothings:

* ``"additive"`` -- ``P(w | h) = (c(h, w) + alpha) / (c(h) + alpha * (V + 1))``
  over the ``V`` tokens and the end symbol; a context never seen in training
  is uniform. As in the categorical family, ``alpha = 0`` is maximum
  likelihood (the Wright-Fisher case) and ``alpha > 0`` a mutation towards
  uniform. ``temperature``, ``top_k`` and ``top_p`` bias every row exactly as
  :func:`redqueen.models.decoding.decode_probs` would on the dense row, and
  the biased distribution is the model's: ``log_prob`` scores with it.
  ``logit_bias`` (``V + 1`` floats, the end symbol last, as OpenAI's API and
  Hugging Face's ``SequenceBiasLogitsProcessor`` add them) is added to every
  row's log-probabilities before the temperature: ``P'(w | h) ∝ (P(w | h)
  e^{b_w})^{1/T}``; not with ``top_k``/``top_p`` (the bias reorders the row) or a
  watermark.
* ``"kneser_ney"`` -- interpolated Kneser-Ney with one ``discount`` ``d``:
  ``P_k(w | h) = (c_k(h, w) - d)^+ / c_k(h) + d T_k(h) / c_k(h) P_{k-1}(w | h')``
  where ``c_n`` are counts, ``c_k`` (k < n) continuation counts (distinct left
  extensions), ``T_k(h)`` the distinct successors of ``h`` and ``P_0`` is
  uniform over the ``V + 1`` outcomes; unseen contexts back off entirely.
  Samples read far better than additive ones. No sampling bias here:
  ``fit`` raises ``ValueError`` if temperature, top_k or top_p are set.

Watermark (``watermark``: a :class:`~redqueen.watermark.Watermark` or a dict of
its fields): the (biased) next-symbol distribution is reweighted by
Kirchenbauer et al.'s green lists after the decoding bias, as Hugging Face's
processor does after its warpers, and that is the model's distribution:
``log_prob`` scores with it. Exact and vectorised; see
:mod:`redqueen.models.ngram_watermark` for how and for the supported contexts.

Storage and speed. Each order's counts are a sparse table with one row per
seen context (contexts are integers: the previous symbols in base ``V + 1``,
most recent lowest), columns sorted. Sampling is vectorised across sequences:
at each position all unfinished sequences draw one uniform number each and
find their token by ``searchsorted`` on one global cumulative sum per table.
An additive row is "its seen entries, plus the same probability for each of
its first ``r`` unseen outcomes" (exact under temperature, top-k and top-p,
because every seen entry outranks every unseen one); a draw that falls in the
unseen part is mapped to the ``j``-th unseen outcome by a second
``searchsorted``. Under a ``logit_bias`` the unseen outcomes of a row weigh
``e^{b_w / T}`` each, so a draw in the unseen part takes an outcome from the one
global distribution ``∝ e^{b / T}`` and draws again where the row has seen it
(rejection: exact; a row whose seen outcomes hold almost all of that mass is
drawn densely after 32 tries). A Kneser-Ney draw descends the orders, staying at order
``k`` with probability ``1 - d T_k(h) / c_k(h)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redqueen.data import Sequences, Vocabulary
from redqueen.models import ngram_watermark as _nw
from redqueen.models.decoding import check_logit_bias
from redqueen.watermark.scheme import as_watermark

_MAX_CODE = 2**62
SMOOTHINGS = ("additive", "kneser_ney")


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


@dataclass(frozen=True, eq=False)
class _Table:
    """A CSR count table: ``keys`` (R,) sorted context codes, ``indptr`` (R+1,), ``cols`` and ``counts`` (nnz,)."""

    keys: np.ndarray
    indptr: np.ndarray
    cols: np.ndarray
    counts: np.ndarray

    @classmethod
    def count(cls, ctx: np.ndarray, nxt: np.ndarray, radix: int) -> "_Table":
        """How often each (context, next) pair occurs (or, for repeated pairs, how many times it is listed)."""
        keys, row = np.unique(ctx, return_inverse=True)
        pairs, counts = np.unique(row.reshape(-1) * radix + nxt, return_counts=True)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(pairs // radix, minlength=keys.size))])
        return cls(keys, indptr, pairs % radix, counts)

    def continuation(self, radix: int, context_len: int) -> "_Table":
        """The next lower order: for each shorter context and successor, the number of distinct left extensions."""
        rows = np.repeat(np.arange(self.keys.size), np.diff(self.indptr))
        return _Table.count(self.keys[rows] % radix**context_len, self.cols, radix)

    def rows(self, codes: np.ndarray) -> np.ndarray:
        """Row of each context code; unseen contexts get row ``R`` (one past the last)."""
        pos = np.searchsorted(self.keys, codes)
        found = self.keys[np.minimum(pos, max(self.keys.size - 1, 0))] == codes if self.keys.size else False
        return np.where(found, pos, self.keys.size)

    def entry(self, rows: np.ndarray, cols: np.ndarray, radix: int) -> tuple[np.ndarray, np.ndarray]:
        """Position of each (row, col) pair in the table (the insertion point if absent) and whether it is there."""
        cache = self.__dict__.setdefault("_keys", {})  # the entries' sorted (row, col) codes, built once per radix
        if radix not in cache:
            cache[radix] = np.repeat(np.arange(self.keys.size), np.diff(self.indptr)) * radix + self.cols
        key = cache[radix]
        want = rows * radix + cols
        pos = np.searchsorted(key, want)
        hit = key[np.minimum(pos, max(key.size - 1, 0))] == want if key.size else np.zeros(want.shape, bool)
        return pos, hit

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}keys": self.keys, f"{prefix}indptr": self.indptr, f"{prefix}cols": self.cols,
                f"{prefix}counts": self.counts}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], prefix: str) -> "_Table":
        keys, indptr, cols = (np.asarray(state[f"{prefix}{name}"], dtype=np.int64) for name in ("keys", "indptr", "cols"))
        counts = np.asarray(state[f"{prefix}counts"])  # integer when counted, float when merged
        if counts.shape != cols.shape or indptr.size != keys.size + 1 or (indptr.size and (
                indptr[0] != 0 or indptr[-1] != cols.size or np.any(np.diff(indptr) < 0))):
            raise ValueError(f"{prefix}: the table's keys, row pointers, columns and counts do not agree")
        if counts.dtype.kind not in "fiu" or not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError(f"{prefix}counts must be finite and non-negative")
        return cls(keys, indptr, cols, counts if counts.dtype.kind == "f" else counts.astype(np.int64))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(context code, next symbol)`` of every entry, both (nnz,)."""
        return np.repeat(self.keys, np.diff(self.indptr)), self.cols

    @classmethod
    def from_pairs(cls, keys: np.ndarray, cols: np.ndarray, counts: np.ndarray) -> "_Table":
        """A table from entries sorted by (context, next) with positive (possibly fractional) counts."""
        ukeys, first = np.unique(keys, return_index=True)
        indptr = np.concatenate([first, [keys.size]]).astype(np.int64)
        return cls(ukeys.astype(np.int64), indptr, cols.astype(np.int64), counts)


class _Picker:
    """Inverse-CDF draws inside the rows of a table with per-entry weights ``w`` (nnz,), all rows at once."""

    def __init__(self, indptr: np.ndarray, cols: np.ndarray, w: np.ndarray):
        self.indptr = np.concatenate([indptr, [indptr[-1]]])  # row R: an unseen context, no entries
        self.cols = cols
        self.cum = np.cumsum(w)
        self.row_start = np.concatenate([[0.0], self.cum])[self.indptr[:-1]]
        self.row_mass = np.concatenate([[0.0], self.cum])[self.indptr[1:]] - self.row_start
        positive = np.flatnonzero(w > 0)
        # last positive entry at or before each row's end: guards float round-off at the top of a row
        ends = self.indptr[1:]
        self.last_pos = positive[np.maximum(np.searchsorted(positive, ends) - 1, 0)] if positive.size else ends

    def pick(self, rows: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """The column at weight ``offset`` (0 <= offset < row mass) into each row; both (m,)."""
        idx = np.searchsorted(self.cum, self.row_start[rows] + offset, side="right")
        return self.cols[np.clip(idx, self.indptr[rows], self.last_pos[rows])]


class NGramFamily:
    """Order-``order`` n-gram model over token sequences (see the module docstring for the smoothings).

    Fitted state: ``vocab_`` and ``tables_``, one CSR table per order
    ``1..order`` (only the top order for additive smoothing); ``state()``
    flattens them into numpy arrays. ``fit`` raises ``ValueError`` for an
    order below 1, an order whose context codes ``(V + 1) ** (order - 1)``
    overflow 62 bits, an unknown smoothing, a discount outside (0, 1], or
    sampling bias with Kneser-Ney.
    """

    def __init__(self, *, order: int = 2, smoothing: str = "additive", alpha: float = 0.001, discount: float = 0.75,
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, max_len: int = 128,
                 watermark=None, logit_bias=None):
        self.order = order
        self.smoothing = smoothing
        self.alpha = alpha
        self.discount = discount
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.max_len = max_len
        self.watermark = watermark
        self.logit_bias = logit_bias

    @property
    def _kn(self) -> bool:
        return self.smoothing == "kneser_ney"

    def _check(self, v: int) -> None:
        if self.order < 1:
            raise ValueError(f"n-gram order must be at least 1, got {self.order}")
        if (v + 1) ** (self.order - 1) >= _MAX_CODE:
            raise ValueError(
                f"n-gram order {self.order} over {v} tokens overflows 62-bit context codes; lower order or vocab_size"
            )
        if self.smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown n-gram smoothing {self.smoothing!r}; choose additive or kneser_ney")
        if self._kn and not 0 < self.discount <= 1:
            raise ValueError(f"kneser_ney needs 0 < discount <= 1, got {self.discount}")
        if self._kn and (self.temperature != 1.0 or self.top_k or self.top_p < 1.0):
            raise ValueError("temperature, top_k and top_p need smoothing='additive'; kneser_ney samples unbiased")
        if not self._kn and self.alpha < 0:
            raise ValueError(f"additive smoothing needs alpha >= 0, got {self.alpha}")
        wm = as_watermark(self.watermark)
        if self.logit_bias is not None:
            check_logit_bias(self.logit_bias, v + 1, "one per token, the end symbol last")
            if self._kn or self.top_k or self.top_p < 1.0 or wm is not None:
                raise ValueError("logit_bias needs smoothing='additive' without top_k, top_p or a watermark")
        if wm is not None:
            reason = _nw.supported(wm, self.order, self._kn)
            if reason:
                raise ValueError(reason)

    # -- fitting -----------------------------------------------------------------------------------------------

    def fit(self, data: Sequences, rng: np.random.Generator | None = None) -> "NGramFamily":
        """Count every (context, next symbol) pair of ``data``; ``rng`` is unused (counting is deterministic)."""
        v = len(data.vocab)
        self._check(v)
        self.vocab_ = data.vocab
        ctx, nxt, _ = _events(data, self.order, v)
        tables = [_Table.count(ctx, nxt, v + 1)]
        if self._kn:
            for k in range(self.order - 1, 0, -1):
                tables.insert(0, tables[0].continuation(v + 1, k - 1))
        self.tables_ = tables
        self._prepare()
        return self

    def _prepare(self) -> None:
        if self._kn:
            self._prepare_kn()
        else:
            self._prepare_additive()
        wm = as_watermark(self.watermark)
        self._wm = None
        if wm is not None:
            self._wm = _nw.WatermarkedNGram(self, wm)

    def _prepare_kn(self) -> None:
        """Per order: discounted weights, the back-off probability of each row, and a picker."""
        d = float(self.discount)
        self._gamma, self._pickers = [], []
        for tab in self.tables_:
            n_seen = np.diff(tab.indptr)
            weights = tab.counts - d
            if tab.counts.dtype.kind == "f":  # a merged table: counts below d keep nothing of their own
                weights = np.maximum(weights, 0.0)
                total = (np.add.reduceat(weights, tab.indptr[:-1]) if weights.size else np.zeros(0)) + d * n_seen
            else:  # counted: every count is >= 1 >= d, so the row's mass is its total count
                total = np.add.reduceat(tab.counts, tab.indptr[:-1]) if tab.counts.size else np.zeros(0)
            gamma = np.concatenate([d * n_seen / np.maximum(total, 1), [1.0]])  # unseen context: back off fully
            self._gamma.append(gamma)
            self._pickers.append(_Picker(tab.indptr, tab.cols, weights))

    def _prepare_additive(self) -> None:
        """Decode every row: seen entries' probabilities, plus ``r`` unseen outcomes of equal probability."""
        tab = self.tables_[-1]
        outcomes = len(self.vocab_) + 1
        n_rows = tab.keys.size
        indptr = np.concatenate([tab.indptr, [tab.indptr[-1]]])  # row n_rows: an unseen context
        n_seen = np.diff(indptr)
        row = np.repeat(np.arange(n_rows + 1), n_seen)
        nnz = tab.cols.size
        temp = float(self.temperature)
        with np.errstate(divide="ignore"):
            log_seen = np.log(tab.counts + float(self.alpha)) / temp
            log_unseen = np.log(self.alpha) / temp if self.alpha > 0 else -np.inf
        row_max = np.full(n_rows + 1, log_unseen)
        if nnz:  # every seen context has at least one entry
            row_max[:n_rows] = np.maximum.reduceat(log_seen, tab.indptr[:-1])
        w = np.exp(log_seen - row_max[row])
        a = np.exp(log_unseen - row_max) if np.isfinite(log_unseen) else np.zeros(n_rows + 1)
        a[n_rows] = 1.0  # an unseen context is uniform
        n_unseen = outcomes - n_seen
        r = n_unseen.copy()
        keep = np.ones(nnz, dtype=bool)
        k, p = int(self.top_k), float(self.top_p)
        if (0 < k < outcomes) or p < 1.0:
            # rank within each row: weight descending, ties to the lower index (decode_probs' stable argsort)
            order = np.lexsort((tab.cols, -w, row))
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
                    room = np.where(a > 0, np.ceil((p * z - seen_sum) / np.where(a > 0, a, 1.0)), 0.0)
                r = np.clip(room, 0, r).astype(np.int64)
        w = np.where(keep, w, 0.0)
        self._beta = None
        if self.logit_bias is not None:  # unseen outcomes weigh a * beta_w each (module docstring)
            lb = np.asarray(self.logit_bias, dtype=np.float64) / temp
            beta = np.exp(lb - lb.max())  # <= 1, so a row's largest unseen weight is at most a
            w = np.exp(log_seen + lb[tab.cols] - lb.max() - row_max[row])
            left = np.where(n_unseen > 0, np.maximum(beta.sum() - np.bincount(row, weights=beta[tab.cols],
                                                                              minlength=n_rows + 1), 0.0), 0.0)
            z = np.bincount(row, weights=w, minlength=n_rows + 1) + a * left
            self._beta, self._beta_cum = beta, np.cumsum(beta)
            self._unseen_mass = a * left / z
        else:
            z = np.bincount(row, weights=w, minlength=n_rows + 1) + r * a
            self._unseen_mass = r * a / z
        self._p_seen = w / z[row]
        self._p_unseen = a / z
        self._n_unseen = r
        self._picker = _Picker(tab.indptr, tab.cols, self._p_seen)
        self._gap_key = row * (outcomes + 1) + (tab.cols - (np.arange(nnz) - indptr[row]))

    # -- using the model ---------------------------------------------------------------------------------------

    def _unseen_outcome(self, rows: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The ``j``-th outcome (0-based) that additive row ``rows`` has never seen; both (m,)."""
        outcomes = len(self.vocab_) + 1
        before = np.searchsorted(self._gap_key, rows * (outcomes + 1) + j, side="right") - self._picker.indptr[rows]
        return j + before

    def _biased_unseen(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Under a logit bias: one outcome per row from ``beta`` restricted to the row's unseen outcomes; (m,)."""
        outcomes = self._beta.size
        out = np.empty(rows.size, dtype=np.int64)
        todo = np.arange(rows.size)
        for _ in range(32):  # rejection from the global distribution ∝ beta
            w = np.searchsorted(self._beta_cum, rng.random(todo.size) * self._beta_cum[-1], side="right")
            w = np.minimum(w, outcomes - 1)
            _, seen = self.tables_[-1].entry(rows[todo], w, outcomes)
            out[todo[~seen]] = w[~seen]
            todo = todo[seen]
            if not todo.size:
                return out
        ptr = self._picker.indptr
        for i in todo:  # rows whose seen outcomes hold nearly all of beta: drawn densely
            b = self._beta.copy()
            b[self._picker.cols[ptr[rows[i]]:ptr[rows[i] + 1]]] = 0.0
            c = np.cumsum(b)
            out[i] = min(int(np.searchsorted(c, rng.random() * c[-1], side="right")), outcomes - 1)
        return out

    def _next(self, ctx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One next symbol for each context code in ``ctx`` (m,)."""
        v = len(self.vocab_)
        radix = v + 1
        u = rng.random(ctx.size)
        tok = np.empty(ctx.size, dtype=np.int64)
        if not self._kn:
            picker = self._picker
            rows = self.tables_[-1].rows(ctx)
            seen_mass = picker.row_mass[rows]
            seen = (u < seen_mass) | (self._unseen_mass[rows] == 0)  # the latter only by round-off: pick clips to the row
            s, n = np.flatnonzero(seen), np.flatnonzero(~seen)  # each part's positions gathered once, as indices
            tok[s] = picker.pick(rows[s], u[s])
            if n.size and self._beta is not None:
                tok[n] = self._biased_unseen(rows[n], rng)
            elif n.size:
                ru = rows[n]
                j = np.floor((u[n] - seen_mass[n]) / self._p_unseen[ru]).astype(np.int64)
                tok[n] = self._unseen_outcome(ru, np.clip(j, 0, self._n_unseen[ru] - 1))
            return tok
        pending = np.arange(ctx.size)
        for k in range(self.order, 0, -1):  # descend the orders; u is rescaled at each step
            tab, picker, gamma = self.tables_[k - 1], self._pickers[k - 1], self._gamma[k - 1]
            rows = tab.rows(ctx[pending] % radix ** (k - 1))
            uu = u[pending]
            stay = 1.0 - gamma[rows]
            s = uu < stay
            frac = uu[s] / stay[s]
            tok[pending[s]] = picker.pick(rows[s], frac * picker.row_mass[rows[s]])
            u[pending[~s]] = (uu[~s] - stay[~s]) / gamma[rows[~s]]
            pending = pending[~s]
        tok[pending] = np.minimum((u[pending] * radix).astype(np.int64), v)
        return tok

    def sample(self, n: int, rng: np.random.Generator) -> Sequences:
        """``n`` sequences, each ended by the end symbol or cut at ``max_len`` tokens."""
        v = len(self.vocab_)
        radix = v + 1
        keep_mod = radix ** max(self.order - 2, 0)
        ctx = np.full(n, sum(v * radix**k for k in range(self.order - 1)), dtype=np.int64)
        out = np.zeros((n, self.max_len), dtype=np.int32)
        lengths = np.full(n, self.max_len, dtype=np.int64)
        active = np.arange(n)
        wm = self._wm
        for t in range(self.max_len):
            if active.size == 0:
                break
            if wm is None:
                tok = self._next(ctx[active], rng)
            else:
                tok = wm.next(ctx[active], _nw.position_hashes(wm.wm, out, active, t), rng)
            ended = tok == v
            lengths[active[ended]] = t
            go = active[~ended]
            out[go, t] = tok[~ended]
            if self.order > 1:
                ctx[go] = (ctx[go] % keep_mod) * radix + tok[~ended]
            active = go
        mask = np.arange(self.max_len)[None, :] < lengths[:, None]
        return Sequences(out[mask], np.concatenate([[0], np.cumsum(lengths)]), self.vocab_)

    def next_tokens(self, prefixes: Sequences, rng: np.random.Generator) -> np.ndarray:
        """One next token after each of ``prefixes`` (n sequences), from the model (watermarked if it is); (n,) int64.

        Never the end symbol (drawn again where it comes out; after 64 tries, ``-1``): what a paraphrase needs.
        """
        v = len(self.vocab_)
        radix = v + 1
        lengths, ends = prefixes.lengths(), prefixes.offsets[1:]
        tokens = prefixes.tokens.astype(np.int64)
        last = max(tokens.size - 1, 0)
        padded = tokens if tokens.size else np.zeros(1, np.int64)
        ctx = np.zeros(len(prefixes), np.int64)
        for k in range(1, self.order):
            ctx += np.where(lengths >= k, padded[np.clip(ends - k, 0, last)], v) * radix ** (k - 1)
        h = None
        if self._wm is not None:
            c = self._wm.wm.context
            csum = np.concatenate([[0], np.cumsum(tokens)])
            h = np.where(lengths >= c, csum[ends] - csum[np.maximum(ends - c, 0)], -1) if c else np.ones(ctx.size, np.int64)
        out = np.full(ctx.size, -1, np.int64)
        todo = np.arange(ctx.size)
        for _ in range(64):
            if not todo.size:
                break
            tok = self._next(ctx[todo], rng) if h is None else self._wm.next(ctx[todo], h[todo], rng)
            ok = tok < v
            out[todo[ok]] = tok[ok]
            todo = todo[~ok]
        return out

    def _event_probs(self, ctx: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """P(next | context) for each event; both (E,)."""
        radix = len(self.vocab_) + 1
        if self._kn:
            p = np.full(ctx.size, 1.0 / radix)
            for k, tab in enumerate(self.tables_, start=1):
                rows = tab.rows(ctx % radix ** (k - 1))
                pos, hit = tab.entry(rows, nxt, radix)
                mass = self._pickers[k - 1].row_mass[rows] + self.discount * np.diff(self._pickers[k - 1].indptr)[rows]
                c = np.where(hit, np.maximum(tab.counts[np.minimum(pos, max(tab.counts.size - 1, 0))] - self.discount, 0.0),
                             0.0)
                p = np.where(rows < tab.keys.size, c / np.maximum(mass, 1e-300) + self._gamma[k - 1][rows] * p, p)
            return p
        tab = self.tables_[-1]
        rows = tab.rows(ctx)
        pos, hit = tab.entry(rows, nxt, radix)
        rank = nxt - (pos - self._picker.indptr[rows])  # among the row's unseen outcomes
        seen = self._p_seen[np.minimum(pos, max(self._p_seen.size - 1, 0))] if self._p_seen.size else 0.0
        if self._beta is not None:
            return np.where(hit, seen, self._p_unseen[rows] * self._beta[nxt])
        return np.where(hit, seen, np.where(rank < self._n_unseen[rows], self._p_unseen[rows], 0.0))

    def log_prob(self, data: Sequences) -> np.ndarray:
        """Log-probability of each whole sequence, end symbol included; shape (n,).

        A sequence of ``max_len`` tokens or more is scored without its end symbol: :meth:`sample`
        cuts sequences there, so the model never emits an end symbol after them (under top-k
        truncation the end symbol may have probability 0, which gave the model's own samples
        probability 0). Finite for Kneser-Ney and for additive ``alpha > 0`` without
        ``top_k``/``top_p`` truncation; ``-inf`` for sequences the (biased) model cannot produce.
        """
        v = len(self.vocab_)
        ctx, nxt, seq = _events(data, self.order, v)
        if self._wm is None:
            p = self._event_probs(ctx, nxt)
        else:
            p = self._wm.event_probs(ctx, nxt, _nw.event_hashes(self._wm.wm, data, data.lengths()))
        with np.errstate(divide="ignore"):
            lp = np.log(p)
        cut = (nxt == v) & (data.lengths()[seq] >= self.max_len)  # the end event of a sequence cut at max_len
        return np.bincount(seq, weights=np.where(cut, 0.0, lp), minlength=len(data))

    def probs(self, context: list[int] | np.ndarray) -> np.ndarray:
        """The next-symbol distribution after ``context`` (token ids; the last ``order - 1`` count); shape (V+1,).

        Index ``V`` is the end symbol. Fewer than ``order - 1`` ids mean the sequence starts there.
        Under a watermark, the watermarked distribution (``context`` holds the whole history).
        """
        v = len(self.vocab_)
        radix = v + 1
        hist = ([v] * (self.order - 1) + [int(i) for i in context])[len(context):] if self.order > 1 else []
        code = sum(s * radix**k for k, s in enumerate(reversed(hist)))
        ctx, nxt = np.full(radix, code, dtype=np.int64), np.arange(radix)
        if self._wm is None:
            return self._event_probs(ctx, nxt)
        h = self._wm.wm.context
        hv = (1 if h == 0 else sum(int(i) for i in list(context)[len(context) - h:])) if len(context) >= h else -1
        return self._wm.event_probs(ctx, nxt, np.full(radix, hv, dtype=np.int64))

    # -- merging -----------------------------------------------------------------------------------------------

    def genome_space(self, models: list["NGramFamily"]):
        """The count tables of every order on the union of the models' entries (float64; an entry a model
        lacks counts 0). Interpolating counts is training on the interpolated mix of the parents' data; a
        merged table keeps the entries with positive counts (fractional counts are kept as they are)."""
        from redqueen.evolve.genome import Genomes, Layout, NotMergeable

        if any(len(m.vocab_) != len(self.vocab_) for m in models):
            raise NotMergeable("n-gram models over different vocabularies cannot be merged")
        unions, columns = [], []
        for t in range(len(self.tables_)):
            keys, cols = zip(*(m.tables_[t].pairs() for m in models))
            all_k, all_c = np.concatenate(keys), np.concatenate(cols)
            order = np.lexsort((all_c, all_k))
            sk, sc = all_k[order], all_c[order]
            new = np.ones(sk.size, dtype=bool)
            new[1:] = (sk[1:] != sk[:-1]) | (sc[1:] != sc[:-1])
            uid = np.empty(sk.size, dtype=np.int64)
            uid[order] = np.cumsum(new) - 1
            unions.append((sk[new], sc[new]))
            block = np.zeros((len(models), int(new.sum())))
            start = 0
            for i, m in enumerate(models):
                n = m.tables_[t].cols.size
                block[i, uid[start:start + n]] = m.tables_[t].counts
                start += n
            columns.append(block)
        first = self.order - len(self.tables_) + 1
        layout = Layout.from_shapes({f"order{first + t}": (b.shape[1],) for t, b in enumerate(columns)})
        template = self

        def build(vec: np.ndarray) -> "NGramFamily":
            child = NGramFamily(order=template.order, smoothing=template.smoothing, alpha=template.alpha,
                                discount=template.discount, temperature=template.temperature, top_k=template.top_k,
                                top_p=template.top_p, max_len=template.max_len, watermark=template.watermark,
                                logit_bias=template.logit_bias)
            child.vocab_ = template.vocab_
            views = layout.views(np.asarray(vec, dtype=np.float64))
            tables = []
            for (keys, cols), name in zip(unions, layout.names):
                c = views[name]
                keep = c > 0
                tables.append(_Table.from_pairs(keys[keep], cols[keep], c[keep].copy()))
            child.tables_ = tables
            child._prepare()
            return child

        return Genomes(np.concatenate(columns, axis=1), layout, build)

    # -- checkpoints -------------------------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """The count tables (``order{k}_keys`` etc.) and the vocabulary (UTF-8 bytes, NUL-separated)."""
        out = self.vocab_.state()
        first = self.order - len(self.tables_) + 1
        for k, tab in enumerate(self.tables_, start=first):
            out.update(tab.state(f"order{k}_"))
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> "NGramFamily":
        """Restore what :meth:`state` returned (hyperparameters come from the constructor)."""
        self.vocab_ = Vocabulary.from_state(state)
        orders = range(1, self.order + 1) if self._kn else [self.order]
        self.tables_ = [_Table.from_state(state, f"order{k}_") for k in orders]
        self._prepare()
        return self
