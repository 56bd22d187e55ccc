"""The n-gram family's watermarked next-token distribution, sampled and scored exactly and vectorised.

Under a :class:`~redqueen.watermark.Watermark` the model's next-symbol
distribution after a context whose hash input is ``h`` is
``p_w(w) = p(w) e^(delta g_h(w)) / Z`` with ``g_h(w) = 1`` for green tokens
(the end symbol is never green) and ``Z = 1 + (e^delta - 1) G`` where ``G`` is
the green mass of ``p``: Hugging Face's processor applied to the decoded row.
Positions with fewer than ``context`` tokens before them are not watermarked.

Both smoothings are mixtures of parts (Kneser-Ney: one part per order, each
``B_k x_k`` with ``B_k`` the back-off weight above it; additive: the seen entries
and the unseen outcomes), so the watermarked distribution is the mixture of the
reweighted parts with weights ``B_k (1 + (e^delta - 1) G_k)``, and each draw
first picks a part by its exact weight. A part whose table row determines the
hash input (the row's context holds the last ``context`` tokens) is reweighted
once, here: one draw as before. A part that does not (the unigram and uniform
orders of Kneser-Ney, unseen outcomes, an order-1 model's only row) is split as
``x e^(delta g) = x + (e^delta - 1) x g``: the plain part ``x`` is drawn as
before, and the green part ``x | green`` by proposing from ``x`` until a green
token comes (exact; ``_BATCH`` proposals per position a round). ``G_k`` of a
row that does not determine the hash is computed per hash input on demand.

Other combinations (additive ``1 <= order - 1 < context``, Kneser-Ney
``context >= 2``) would need the green mass of every (row, hash) pair and are
refused by :meth:`NGramFamily.fit`.
"""

from __future__ import annotations

import numpy as np

from redqueen.watermark.scheme import Watermark

_UNMARKED = -1
_BATCH = 8


def supported(watermark: Watermark, order: int, kneser_ney: bool) -> str | None:
    """``None`` if the combination is supported, else the one-line reason with its fix."""
    h = watermark.context
    if kneser_ney and h > 1:
        return f"watermark context {h} with kneser_ney is not supported; use context <= 1 or additive smoothing"
    if not kneser_ney and 1 <= order - 1 < h:
        return f"watermark context {h} exceeds the n-gram context ({order - 1}); use context <= order - 1"
    return None


def position_hashes(watermark: Watermark, out: np.ndarray, rows: np.ndarray, t: int) -> np.ndarray:
    """Hash input of position ``t`` for generated rows ``out[rows, :t]``; ``-1`` where fewer than ``context`` tokens."""
    h = watermark.context
    if h == 0:
        return np.ones(rows.shape[0], np.int64)
    if t < h:
        return np.full(rows.shape[0], _UNMARKED, np.int64)
    return out[rows, t - h:t].astype(np.int64).sum(axis=1)


def event_hashes(watermark: Watermark, data, lengths: np.ndarray) -> np.ndarray:
    """Hash input of every prediction event of ``data`` (its tokens, then its end symbol), ``-1`` where unmarked."""
    h = watermark.context
    n_events = lengths + 1
    total = int(n_events.sum())
    if h == 0:
        return np.ones(total, np.int64)
    t = np.arange(total) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    base = np.repeat(data.offsets[:-1], n_events)
    csum = np.concatenate([[0], np.cumsum(data.tokens.astype(np.int64))])
    pos = base + t
    return np.where(t >= h, csum[pos] - csum[np.maximum(pos - h, 0)], _UNMARKED)


class WatermarkedNGram:
    """Exact watermarked sampling and probabilities for one fitted :class:`~redqueen.models.ngram.NGramFamily`."""

    def __init__(self, model, watermark: Watermark):
        self.m = model
        self.wm = watermark
        self.v = len(model.vocab_)
        self.radix = self.v + 1
        self.greens = watermark.greens(self.v)
        self.extra = float(np.expm1(watermark.delta))  # e^delta - 1: the green part's weight per unit green mass
        self._low_share = np.full(0, np.nan)  # green share of the row that does not determine its hash, per hash
        self._low_dense = None
        if model._kn:
            self._prepare_kn()
        else:
            self._prepare_additive()

    # -- green lookups ---------------------------------------------------------------------------------------------
    def _row_hashes(self, keys: np.ndarray) -> np.ndarray:
        """Hash input each table row's context determines (``-1`` if it reaches back before the sequence start)."""
        h = self.wm.context
        if h == 0:
            return np.ones(keys.shape[0], np.int64)
        syms = np.stack([(keys // self.radix**j) % self.radix for j in range(h)], axis=1)
        return np.where((syms == self.v).any(axis=1), _UNMARKED, syms.sum(axis=1))

    def _green(self, h: np.ndarray, tok: np.ndarray) -> np.ndarray:
        """Whether ``tok`` is green after hash input ``h`` (False where ``h < 0``); both (m,)."""
        out = np.zeros(tok.shape[0], bool)
        marked = h >= 0
        if marked.any():
            out[marked] = self.greens.is_green(h[marked], tok[marked])
        return out

    def _reweighted(self, tab, weights: np.ndarray):
        """A picker over ``tab``'s entries with green entries (under each row's own hash) boosted by e^delta."""
        from redqueen.models.ngram import _Picker

        rh = np.repeat(self._row_hashes(tab.keys), np.diff(tab.indptr))
        green = self._green(rh, tab.cols)
        return _Picker(tab.indptr, tab.cols, weights * np.where(green, self.extra + 1.0, 1.0)), green

    def low_share(self, h: np.ndarray) -> np.ndarray:
        """Green share of the row that does not determine its hash (unigram order), per hash input ``h`` >= 0; (m,).

        Computed for whole blocks of 1,024 hash inputs at a time (one matrix-vector product each) and cached.
        """
        if h.size == 0:
            return np.zeros(0)
        blocks = -(-(int(h.max()) + 1) // 1024)
        if blocks * 1024 > self._low_share.shape[0]:
            self._low_share = np.concatenate([self._low_share, np.full(blocks * 1024 - self._low_share.shape[0], np.nan)])
        out = self._low_share[h]
        if np.isnan(out).any():
            if self._low_dense is None:
                self._low_dense = self._dense_low_row()
            for b in np.unique(h[np.isnan(out)] // 1024):
                part = np.arange(b * 1024, (b + 1) * 1024)
                self._low_share[part] = self.greens.mask(part, self.radix) @ self._low_dense
            out = self._low_share[h]
        return out

    def _restricted(self, h: np.ndarray, propose, rng: np.random.Generator) -> np.ndarray:
        """Draws of a part conditioned on green: ``propose(idx, k)`` gives (len(idx), k) unweighted proposals."""
        tok = np.empty(h.shape[0], np.int64)
        pending = np.arange(h.shape[0])
        while pending.size:
            cand = propose(pending, _BATCH)
            ok = self.greens.is_green(np.repeat(h[pending], _BATCH), cand.reshape(-1)).reshape(-1, _BATCH)
            got = ok.any(axis=1)
            tok[pending[got]] = cand[got, ok[got].argmax(axis=1)]
            pending = pending[~got]
        return tok

    @staticmethod
    def _choose(w: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A part per column of the weights ``w`` (C, m) and the uniform fraction within it; both (m,)."""
        m = w.shape[1]
        cum = np.cumsum(w, axis=0)
        u = rng.random(m) * cum[-1]
        comp = np.minimum((u[None, :] >= cum).sum(axis=0), w.shape[0] - 1)
        cols = np.arange(m)
        while True:  # round-off at the top of a column: step back to a part with weight
            bad = w[comp, cols] <= 0
            if not bad.any():
                break
            comp[bad] -= 1
        before = np.where(comp > 0, cum[np.maximum(comp - 1, 0), cols], 0.0)
        return comp, np.clip((u - before) / w[comp, cols], 0.0, np.nextafter(1.0, 0.0))

    # -- additive ------------------------------------------------------------------------------------------------
    def _prepare_additive(self) -> None:
        m = self.m
        tab = m.tables_[-1]
        self.row_fixed = self.wm.context == 0 or m.order - 1 >= self.wm.context
        if not self.row_fixed:  # order 1: one row, hash from the sequence
            return
        self.picker, green = self._reweighted(tab, m._p_seen)
        n_rows = tab.keys.size
        rh = self._row_hashes(tab.keys)
        row = np.repeat(np.arange(n_rows), np.diff(tab.indptr))
        self.seen_green = np.concatenate([np.bincount(row, weights=np.where(green, m._p_seen, 0.0), minlength=n_rows),
                                          [0.0]])
        self.unseen_green = np.concatenate([self._unseen_green(rh, green, row), [0.0]])
        self._r_unseen_ctx = int(m._n_unseen[-1])  # a context never seen: its first r outcomes are eligible
        self._unseen_ctx_green = np.full(0, np.nan)

    def _unseen_green(self, rh: np.ndarray, green: np.ndarray, row: np.ndarray) -> np.ndarray:
        """How many of each real row's eligible unseen outcomes are green under its hash."""
        m = self.m
        n_rows = rh.shape[0]
        r = m._n_unseen[:n_rows]
        n_unseen = self.radix - np.diff(m.tables_[-1].indptr)
        out = np.zeros(n_rows)
        marked = rh >= 0
        seen_green = np.bincount(row, weights=green, minlength=n_rows)
        every = marked & (r == n_unseen)  # every unseen outcome is eligible: the green ones not seen
        out[every] = self.greens.size - seen_green[every]
        part = np.flatnonzero(marked & (r > 0) & (r < n_unseen))  # truncation: enumerate the first r unseen
        for s in range(0, part.size, 4096):
            rows = part[s:s + 4096]
            reps = r[rows]
            rr = np.repeat(rows, reps)
            j = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
            out[rows] = np.bincount(np.repeat(np.arange(rows.size), reps),
                                    weights=self._green(rh[rr], m._unseen_outcome(rr, j)), minlength=rows.size)
        return out

    def _unseen_green_at(self, rows: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Green eligible unseen outcomes of each position's row; a never-seen context's depend on the hash."""
        out = np.where(h >= 0, self.unseen_green[rows], 0.0)
        at = np.flatnonzero((rows == self.m.tables_[-1].keys.size) & (h >= 0))
        if at.size:
            r = self._r_unseen_ctx
            if r >= self.v:
                out[at] = self.greens.size
            else:  # top-k / top-p keep the first r outcomes of a never-seen context: count the green ones, per hash
                hs = h[at]
                top = int(hs.max()) + 1
                if top > self._unseen_ctx_green.shape[0]:
                    self._unseen_ctx_green = np.concatenate(
                        [self._unseen_ctx_green, np.full(top - self._unseen_ctx_green.shape[0], np.nan)])
                need = np.unique(hs[np.isnan(self._unseen_ctx_green[hs])])
                for s in range(0, need.size, 1024):
                    part = need[s:s + 1024]
                    self._unseen_ctx_green[part] = self.greens.mask(part)[:, :r].sum(axis=1)
                out[at] = self._unseen_ctx_green[hs]
        return out

    def _additive_parts(self, ctx: np.ndarray, h: np.ndarray):
        """Rows and part weights (3, m): reweighted seen entries, plain unseen, green unseen (row-fixed models)."""
        m = self.m
        rows = m.tables_[-1].rows(ctx)
        a = m._p_unseen[rows]
        w = np.stack([self.picker.row_mass[rows], a * m._n_unseen[rows], self.extra * a * self._unseen_green_at(rows, h)])
        return rows, w

    def _next_additive(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = self.m
        if not self.row_fixed:  # one row whose hash comes from the sequence: plain row, or the row given green
            marked = h >= 0
            share = np.zeros(ctx.size)
            share[marked] = self.low_share(h[marked])
            comp, _ = self._choose(np.stack([np.ones(ctx.size), self.extra * share]), rng)
            tok = m._next(ctx, rng)
            g = np.flatnonzero(comp == 1)
            if g.size:
                tok[g] = self._restricted(h[g], lambda idx, k: m._next(np.repeat(ctx[g][idx], k), rng).reshape(-1, k), rng)
            return tok
        rows, w = self._additive_parts(ctx, h)
        comp, frac = self._choose(w, rng)
        tok = np.empty(ctx.size, np.int64)
        s = np.flatnonzero(comp == 0)
        tok[s] = self.picker.pick(rows[s], frac[s] * self.picker.row_mass[rows[s]])
        for part in (1, 2):
            at = np.flatnonzero(comp == part)
            if not at.size:
                continue
            ra = rows[at]
            if part == 1:
                j = np.floor(frac[at] * m._n_unseen[ra]).astype(np.int64)
                tok[at] = m._unseen_outcome(ra, np.clip(j, 0, m._n_unseen[ra] - 1))
            else:
                def propose(idx, k, ra=ra):
                    rr = np.repeat(ra[idx], k)
                    j = np.clip(np.floor(rng.random(rr.size) * m._n_unseen[rr]).astype(np.int64), 0,
                                m._n_unseen[rr] - 1)
                    real = rr < m.tables_[-1].keys.size  # a never-seen context has nothing seen to skip
                    j[real] = m._unseen_outcome(rr[real], j[real])
                    return j.reshape(-1, k)

                tok[at] = self._restricted(h[at], propose, rng)
        return tok

    # -- Kneser-Ney ------------------------------------------------------------------------------------------------
    def _prepare_kn(self) -> None:
        m = self.m
        self.pickers, self.mass_ratio = [], []
        for k, tab in enumerate(m.tables_, start=1):
            base = m._pickers[k - 1]
            if k == 1:  # the unigram row: its hash comes from the sequence, not the row
                self.pickers.append(base)
                self.mass_ratio.append(None)
                continue
            p, _ = self._reweighted(tab, tab.counts - m.discount)
            self.pickers.append(p)
            ratio = np.where(base.row_mass > 0, p.row_mass / np.where(base.row_mass > 0, base.row_mass, 1.0), 1.0)
            self.mass_ratio.append(ratio)
        self.uniform_share = self.greens.size / self.radix

    def _dense_low_row(self) -> np.ndarray:
        """The row that does not determine its hash as a dense distribution over the V + 1 outcomes."""
        m = self.m
        if not m._kn:
            return m._event_probs(np.zeros(self.radix, np.int64), np.arange(self.radix))
        tab, picker = m.tables_[0], m._pickers[0]
        out = np.zeros(self.radix)
        if tab.keys.size:
            lo, hi = tab.indptr[0], tab.indptr[1]
            out[tab.cols[lo:hi]] = (tab.counts[lo:hi] - m.discount) / max(picker.row_mass[0], 1e-300)
        return out

    def _kn_parts(self, ctx: np.ndarray, h: np.ndarray) -> tuple[list, np.ndarray]:
        """Rows per order and part weights (order + 3, m): orders n..2 reweighted, then the unigram order plain
        and given green, then the uniform order plain and given green."""
        m = self.m
        marked = h >= 0
        weights, rows_of, back = [], [], np.ones(ctx.size)
        for k in range(m.order, 0, -1):
            rows = m.tables_[k - 1].rows(ctx % self.radix ** (k - 1))
            gamma = m._gamma[k - 1][rows]
            stay = back * (1.0 - gamma)
            if k >= 2:
                weights.append(stay * self.mass_ratio[k - 1][rows])
            else:
                share = np.zeros(ctx.size)
                share[marked] = self.low_share(h[marked])
                weights += [stay, stay * self.extra * share]
            rows_of.append(rows)
            back = back * gamma
        weights += [back, back * np.where(marked, self.extra * self.uniform_share, 0.0)]
        return rows_of, np.array(weights)

    def _next_kn(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = self.m
        rows_of, w = self._kn_parts(ctx, h)
        comp, frac = self._choose(w, rng)
        tok = np.empty(ctx.size, np.int64)
        uni = m.order - 1  # index of the unigram order's plain part
        for c in range(w.shape[0]):
            at = np.flatnonzero(comp == c)
            if not at.size:
                continue
            if c < uni:  # orders n..2: one draw from the reweighted row
                p, rows = self.pickers[m.order - c - 1], rows_of[c][at]
                tok[at] = p.pick(rows, frac[at] * p.row_mass[rows])
            elif c == uni:
                rows = rows_of[uni][at]
                tok[at] = self.pickers[0].pick(rows, frac[at] * self.pickers[0].row_mass[rows])
            elif c == uni + 1:
                rows = rows_of[uni][at]
                pick = self.pickers[0]
                tok[at] = self._restricted(h[at], lambda idx, k, rows=rows: pick.pick(
                    np.repeat(rows[idx], k), rng.random(idx.size * k) * np.repeat(pick.row_mass[rows[idx]], k)
                ).reshape(-1, k), rng)
            elif c == uni + 2:
                tok[at] = np.minimum((frac[at] * self.radix).astype(np.int64), self.v)
            else:
                tok[at] = self._restricted(h[at], lambda idx, k: rng.integers(0, self.v, (idx.size, k)), rng)
        return tok

    # -- both ----------------------------------------------------------------------------------------------------------
    def next(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One next symbol for each context code ``ctx`` (m,) with hash inputs ``h`` (m,; -1 = not watermarked)."""
        return self._next_kn(ctx, h, rng) if self.m._kn else self._next_additive(ctx, h, rng)

    def event_probs(self, ctx: np.ndarray, nxt: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Watermarked P(next | context) for each event; all (E,)."""
        m = self.m
        p = m._event_probs(ctx, nxt)
        if m._kn:
            z = self._kn_parts(ctx, h)[1].sum(axis=0)
        elif self.row_fixed:
            rows = m.tables_[-1].rows(ctx)
            z = 1.0 + self.extra * (np.where(h >= 0, self.seen_green[rows], 0.0)
                                    + m._p_unseen[rows] * self._unseen_green_at(rows, h))
        else:
            share = np.zeros(ctx.size)
            share[h >= 0] = self.low_share(h[h >= 0])
            z = 1.0 + self.extra * share
        return p * np.where(self._green(h, nxt), self.extra + 1.0, 1.0) / z
