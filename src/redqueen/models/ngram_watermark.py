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
once, here: one draw as before. The parts whose rows do not determine it are
drawn in one step too, from tables over the green lists (:class:`GreenTable`,
:class:`GreenIds`; memory stated there, at most :data:`~redqueen.watermark.green_tables.TABLE_BYTES`):

* Kneser-Ney descends the orders as the plain sampler does, staying at a row
  with its watermarked probability ``(1 - gamma_k) M_k / Z_k`` (``M_k`` the
  row's reweighted mass, ``Z_k`` its normaliser; per row, built on the first
  draw); at the bottom, the unigram and uniform orders together
  (``u1 = (1 - gamma_1) x_1 + gamma_1 / (V + 1)``, dense) are drawn tilted by
  the position's green list from a :class:`GreenTable`. A bigram under
  context 1 (the hash is the row's own context) keeps each context's whole
  watermarked row as one merged picker row: its reweighted seen entries, then
  u1 plain (weight ``gamma``) and u1 given green (weight ``gamma (e^delta - 1)
  G``), the latter drawn from the dense green ids in chunks of 64
  (:class:`GreenChunks`; where those do not fit, the tilted u1's 256-token
  blocks instead).
* Additive: seen entries reweighted, unseen outcomes plain (the ``j``-th, as
  before), or unseen outcomes given green: the ``q``-th green id not seen in
  the row, its rank shifted past the row's seen green ids, read from the
  dense green-id table ``ids[h, q]`` (:class:`GreenIds`; from the ids' counts
  where the table does not fit); one uniform per position picks the part and
  the outcome. An order-1 model's only row: tilted, in one :class:`GreenTable`
  draw.

Where a table would exceed :data:`~redqueen.watermark.green_tables.TABLE_BYTES`, and for rows that top-k / top-p
truncate and never-seen contexts under truncation, a part's green side ``x | green`` is drawn by proposing from ``x``
until a green token comes (exact; ``_BATCH`` proposals per position a round),
its green mass computed per hash input on demand. Every draw is a function of
the generator's numbers alone, never of which tables were built before: the
same seed gives the same samples.

Other combinations (additive ``1 <= order - 1 < context``, Kneser-Ney
``context >= 2``) would need the green mass of every (row, hash) pair and are
refused by :meth:`NGramFamily.fit`.
"""

from __future__ import annotations

import numpy as np

from redqueen.watermark.green_tables import BELOW_ONE as _BELOW_ONE
from redqueen.watermark.green_tables import BLOCK_BYTES as _BLOCK_BYTES
from redqueen.watermark import green_tables as _tables  # its TABLE_BYTES read at use: one cap, patchable
from redqueen.watermark.green_tables import GreenChunks, GreenIds, GreenTable
from redqueen.watermark.scheme import Watermark

_UNMARKED = -1
_BATCH = 8
_SORTED_SEARCH = 1024  # from this many positions, a merged-row search sorts them first


def _merged_rows(n_a: np.ndarray, a_weight: np.ndarray, a_kind: np.ndarray, extra: np.ndarray) -> dict:
    """Picker rows, each its ``n_a`` entries (weights and kinds >= 0, rows concatenated) then ``k`` more (weights
    ``extra`` (n, k), kinds ``-1 .. -k``), normalised per row; for one ``searchsorted`` of ``row + u`` over all rows.

    ``share``: each entry's cumulative share of its row, exactly 1 from the row's last entry with weight on (a
    ``u < 1`` never lands past it); ``key = row + share`` (placed to within the spacing of ``row + share``, 2e-12
    for rows under 10,000); ``start``, ``last``: each row's first entry and its last with weight."""
    n, k = extra.shape
    length = n_a + k
    start = np.concatenate([[0], np.cumsum(length)])
    total = int(start[-1])
    row_of = np.repeat(np.arange(n), length)
    local = np.arange(total) - start[row_of]
    is_a = local < n_a[row_of]
    weight = np.empty(total)
    kind = np.empty(total, np.int64)
    weight[is_a], kind[is_a] = a_weight, a_kind
    j = local[~is_a] - n_a[row_of[~is_a]]
    weight[~is_a], kind[~is_a] = extra[row_of[~is_a], j], -1 - j
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    before = cum[start[:-1]]
    z = cum[start[1:]] - before
    share = (cum[1:] - before[row_of]) / np.where(z > 0, z, 1.0)[row_of]
    last = np.maximum.reduceat(np.where(weight > 0, np.arange(total), -1), start[:-1])
    share[np.arange(total) >= np.maximum(last, start[:-1])[row_of]] = 1.0
    return dict(key=share + row_of, share=share, kind=kind, start=start[:-1], last=np.maximum(last, start[:-1]))


def _merged_pick(f: dict, rows: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each position: the entry of its row at ``u`` (kind, and the flat index), and ``u``'s fraction within it."""
    lo_at = f["start"][rows]
    target = rows + u
    if target.size >= _SORTED_SEARCH:  # sorted needles: numpy's search narrows from the last one (same result)
        order = np.argsort(target)
        found = np.empty(target.size, np.int64)
        found[order] = np.searchsorted(f["key"], target[order], side="right")
    else:
        found = np.searchsorted(f["key"], target, side="right")
    idx = np.clip(found, lo_at, f["last"][rows])
    return f["kind"][idx], idx, lo_at


def _fraction(f: dict, idx: np.ndarray, lo_at: np.ndarray, u: np.ndarray) -> np.ndarray:
    lo = np.where(idx > lo_at, f["share"][idx - 1], 0.0)
    return np.clip((u - lo) / (f["share"][idx] - lo), 0.0, _BELOW_ONE)


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
    if h == 1:
        return out[rows, t - 1].astype(np.int64)
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
        if not self.row_fixed:  # order 1: one row, hash from the sequence: its tilted row, per hash, in one draw
            n_hashes = 2 if self.wm.context == 0 else self.wm.context * (self.v - 1) + 1
            self.table = (GreenTable(self.greens, self._dense_low_row(), n_hashes, extra=self.extra)
                          if GreenTable.fits(self.v, n_hashes) else None)
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
        # one draw per part: the part's cut points per row (a never-seen context's depend on the hash: per position),
        # and the green unseen ids from GreenIds, by their green ranks (:meth:`_unseen_green_draw`)
        n_hashes = 2 if self.wm.context == 0 else self.wm.context * (self.v - 1) + 1
        self.utable = None
        if GreenIds.nbytes(self.v, n_hashes) <= _tables.TABLE_BYTES:  # the ids themselves too, if they fit: one gather
            dense = GreenIds.nbytes(self.v, n_hashes, self.wm.gamma) <= _tables.TABLE_BYTES
            self.utable = _tables.shared_ids(self.greens, n_hashes, dense)
        a = m._p_unseen
        w = np.stack([self.picker.row_mass, a * m._n_unseen, self.extra * a * self.unseen_green])
        z = w.sum(axis=0)
        self._cut1, self._cut2 = w[0] / z, (w[0] + w[1]) / z
        self._never_fixed = self._r_unseen_ctx >= self.v  # a never-seen context has every green id eligible
        if self._never_fixed:  # ... and so one cut for all its (watermarked) hash inputs
            w1 = a[-1] * m._n_unseen[-1]
            self._cut2[-1] = w1 / (w1 + self.extra * a[-1] * self.greens.size)
        self._every_unseen = m._n_unseen == self.radix - np.diff(np.concatenate([tab.indptr, [tab.indptr[-1]]]))
        self._all_every = bool(self._every_unseen.all())
        # per row: u -> offset into the reweighted seen entries, and u - cut1 -> index among the unseen outcomes
        self._seen_scale = np.where(self._cut1 > 0, self.picker.row_mass / np.where(self._cut1 > 0, self._cut1, 1.0), 0.0)
        gap = self._cut2 - self._cut1
        self._unseen_scale = np.where(gap > 0, m._n_unseen / np.where(gap > 0, gap, 1.0), 0.0)
        self._green_gap = None  # built with the first green unseen draw (it needs the green ranks)

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
        if not self.row_fixed and self.table is not None:
            marked = h >= 0
            tok = np.empty(ctx.size, np.int64)
            tok[marked] = self.table.draw(h[marked], rng.random(int(marked.sum())))
            if not marked.all():
                tok[~marked] = m._next(ctx[~marked], rng)
            return tok
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
        if self.utable is not None:
            return self._next_additive_table(ctx, h, rng)
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

    def _next_additive_table(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Row-fixed additive: seen entries reweighted, unseen plain, unseen given green; one uniform picks the part
        and the outcome within it (the green unseen part: :meth:`_unseen_green_draw`; rows that top-k / top-p
        truncate: proposals). Each part's positions are gathered once, as indices."""
        m = self.m
        tab = m.tables_[-1]
        n_rows = tab.keys.size
        rows = tab.rows(ctx)
        u = rng.random(ctx.size)
        cut1, cut2 = self._cut1[rows], self._cut2[rows]
        # a never-seen context: its cut depends on the hash where top-k / top-p truncate it, or not watermarked
        never = np.flatnonzero(rows == n_rows) if not self._never_fixed or (h.size and h.min() < 0) else ()
        if len(never):
            a = m._p_unseen[n_rows]
            w1 = a * m._n_unseen[n_rows]
            w2 = self.extra * a * self._unseen_green_at(rows[never], h[never])
            cut2[never] = w1 / (w1 + w2)
        tok = np.empty(ctx.size, np.int64)
        s = np.flatnonzero(u < cut1)
        rs = rows[s]
        tok[s] = self.picker.pick(rs, u[s] * self._seen_scale[rs])
        g = np.flatnonzero(u >= cut2)
        p = np.flatnonzero((u >= cut1) & (u < cut2))  # cut1 <= cut2: the rest, u >= cut2, is the green part
        rp = rows[p]
        scale = self._unseen_scale[rp]
        if len(never):
            scale = np.where(rp == n_rows, m._n_unseen[n_rows] / np.maximum(cut2[p] - cut1[p], 1e-300), scale)
        j = np.floor((u[p] - cut1[p]) * scale).astype(np.int64)
        tok[p] = m._unseen_outcome(rp, np.clip(j, 0, m._n_unseen[rp] - 1))
        if not g.size:
            return tok
        c2 = cut2[g]
        frac = (u[g] - c2) / (1.0 - c2)  # in [0, 1]: the draw's min(., n - 1) keeps 1.0 inside, as a clip below 1 did
        if self._all_every:
            tok[g] = self._unseen_green_draw(rows[g], h[g], frac)
            return tok
        rg = rows[g]
        whole = self._every_unseen[rg]
        gw, gt = g[whole], g[~whole]
        if gw.size:
            tok[gw] = self._unseen_green_draw(rg[whole], h[gw], frac[whole])
        if gt.size:  # top-k / top-p: only the row's first r unseen outcomes are eligible
            rt = rows[gt]

            def propose(idx, k, rt=rt):
                rr = np.repeat(rt[idx], k)
                jj = np.clip(np.floor(rng.random(rr.size) * m._n_unseen[rr]).astype(np.int64), 0,
                             m._n_unseen[rr] - 1)
                real = rr < n_rows
                jj[real] = m._unseen_outcome(rr[real], jj[real])
                return jj.reshape(-1, k)

            tok[gt] = self._restricted(h[gt], propose, rng)
        return tok

    def _unseen_green_draw(self, rows: np.ndarray, h: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The green id after ``h`` at fraction ``u`` (in [0, 1]) of those row ``rows`` has not seen (all of them
        eligible): the ``q``-th unseen green id is the ``q + s``-th green id, ``s`` the row's seen green ids ranked
        before it. Its dtype is the id table's (assigned into int64 by the caller)."""
        if self._green_gap is None:
            self._prepare_green_gaps()
        n_green = self._n_green[rows]
        q = (u * n_green).astype(np.int64)
        np.minimum(q, n_green - 1, out=q)
        seen = np.flatnonzero(rows < self.m.tables_[-1].keys.size)  # a never-seen context has no seen ids to skip
        if seen.size:
            r = rows[seen]
            stride = self.greens.size + 1
            q[seen] += np.searchsorted(self._green_gap, r * stride + q[seen], side="right") - self._green_gap_start[r]
        return self.utable.draw_rank(h, q, cast=False)

    def _prepare_green_gaps(self) -> None:
        """Per row, its seen green ids' green ranks minus their order among them (sorted, offset by row)."""
        m = self.m
        tab = m.tables_[-1]
        n_rows = tab.keys.size
        row = np.repeat(np.arange(n_rows), np.diff(tab.indptr))
        rh = self._row_hashes(tab.keys)[row]
        e = np.flatnonzero(self._green(rh, tab.cols))
        r = row[e]
        rank = self.utable.rank(rh[e], tab.cols[e]) if e.size else np.zeros(0, np.int64)
        start = np.searchsorted(r, np.arange(n_rows + 1))
        self._green_gap = r * (self.greens.size + 1) + rank - (np.arange(e.size) - start[r])
        self._green_gap_start = start
        # eligible unseen green ids per row (integers); a never-seen context (row R): every green id
        self._n_green = np.append(self.unseen_green[:n_rows].astype(np.int64), self.greens.size)

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
        # the unigram and uniform orders together: the dense bottom row u1 = (1 - gamma_1) x_1 + gamma_1 / (V + 1),
        # whose green part is drawn in one step from a GreenTable (if it fits; else proposals, below)
        n_hashes = 2 if self.wm.context == 0 else self.v
        self.table = None
        if GreenTable.fits(self.v, n_hashes):
            unigram = m.tables_[0]
            self.gamma1 = float(m._gamma[0][unigram.rows(np.zeros(1, np.int64))[0]])
            u1 = (1.0 - self.gamma1) * self._dense_low_row() + self.gamma1 / self.radix
            self.table = GreenTable(self.greens, u1, n_hashes, extra=self.extra)  # u1 tilted, in one draw
        self._stay = None
        # a bigram under context 1: one row per context (its hash); built on the first draw, if it fits: its seen
        # entries, then u1 plain and u1 given green (from the dense green ids, :class:`GreenChunks`); or, where
        # those do not fit, the tilted u1's blocks (:class:`GreenTable`)
        bigram = m.order == 2 and self.wm.context == 1 and self.table is not None
        self.chunks = None
        if bigram:
            rows = (self.v + 1) * 2 + m.tables_[1].cols.size
            u1 = self.table.w8.reshape(-1)
            if (GreenChunks.nbytes(self.v, n_hashes, self.wm.gamma) + 24 * rows <= _tables.TABLE_BYTES
                    and (u1[:self.radix] > 0).all()):  # u1 > 0 (its uniform share): what the chunks need
                self.chunks = GreenChunks(_tables.shared_ids(self.greens, n_hashes, True), u1)
                self.u1_cum = np.cumsum(u1[:self.radix])
            else:
                entries = (self.v + 1) * self.table.n_blocks + m.tables_[1].cols.size
                bigram = GreenTable.nbytes(self.v, n_hashes) + 24 * entries <= _tables.TABLE_BYTES
        self._flat = None if bigram else False

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

    def _descent(self) -> list | None:
        """Per order k >= 2, the probability of staying at each row: ``(1 - gamma_k) M_k / Z_k`` with ``Z_k`` the
        row's watermarked normaliser (its hash is the row's own); ``Z_1`` per hash input at the end. Built on the
        first draw (it needs the bottom row's green mass after every hash input: the whole table); ``None`` if a
        seen row's suffix is not seen (a merged table), where :meth:`_next_kn_parts` is used instead."""
        if self._stay is not None:
            return self._stay or None
        m = self.m
        table = self.table
        table.mass(np.arange(table.n_hashes))
        z1 = np.append(table.total, 1.0)  # the tilted bottom row's normaliser; index -1: not watermarked
        stay, z_below = [], None
        for k in range(2, m.order + 1):
            tab = m.tables_[k - 1]
            rh = self._row_hashes(tab.keys)
            gamma = m._gamma[k - 1][:-1]
            if k == 2:
                low = z1[rh]
            else:
                suffix = m.tables_[k - 2].rows(tab.keys % self.radix ** (k - 2))
                if (suffix >= m.tables_[k - 2].keys.size).any():
                    self._stay = []
                    return None
                low = z_below[suffix]
            kept = (1.0 - gamma) * self.mass_ratio[k - 1][:-1]
            z = kept + gamma * low
            stay.append(np.append(kept / z, 0.0))  # row R (a context not seen): back off fully
            z_below = z
        self._stay = [None, None] + stay + [z1]
        return self._stay

    def _bigram_rows(self) -> None:
        """A Kneser-Ney bigram under context 1: each context's whole watermarked row as one picker row, its seen
        entries reweighted (weight ``(1 - gamma) x_rw``) then the bottom row u1 tilted, normalised; indexed by
        context code (the previous token, V: the start). With :class:`GreenChunks` the bottom is two entries, u1
        plain (weight ``gamma``) and u1 given green (``gamma (e^delta - 1) G``, none at the start): ``2 (V + 1) +
        nnz`` entries of 24 bytes (1.9 MB at V = 10,000 on 5,000 verses), the chunks' 3.3 MB and the shared
        dense ids' 51 MB. Without: the tilted u1's 256-token blocks (weight ``gamma`` times each block's mass),
        ``(V + 1) * ceil(V / 256) + nnz`` entries (11 MB), a pick in a block finishing inside it
        (:meth:`GreenTable.within`)."""
        m, table, v, nb = self.m, self.table, self.v, self.table.n_blocks
        tab, rw = m.tables_[1], self.pickers[1]
        n_rows = tab.keys.size
        rows = tab.rows(np.arange(v + 1))
        gamma = m._gamma[1][rows]
        base = m._pickers[1].row_mass[rows]
        n_a = np.where(rows < n_rows, np.diff(rw.indptr)[np.minimum(rows, n_rows)], 0)
        first = rw.indptr[np.minimum(rows, n_rows)]
        entry = np.repeat(first - np.concatenate([[0], np.cumsum(n_a)])[:-1], n_a) + np.arange(int(n_a.sum()))
        scale = np.repeat((1.0 - gamma) / np.where(base > 0, base, 1.0), n_a)
        if self.chunks is not None:  # u1 plain (its mass 1), and u1 given green (its green mass; the start: none)
            blocks = np.ones((v + 1, 2))
            blocks[:v, 1] = self.extra * self.chunks.mass(np.arange(v))
            blocks[v, 1] = 0.0
        else:
            table.mass(np.arange(table.n_hashes))
            blocks = np.empty((v + 1, nb))
            blocks[:v] = np.diff(table.share[:v], axis=1) * table.total[:v, None]
            blocks[v] = table.byte_mass[:, 0].reshape(nb, _BLOCK_BYTES).sum(axis=1)  # the start: not watermarked
        w_entry = np.diff(np.concatenate([[0.0], rw.cum]))
        self._flat = _merged_rows(n_a, w_entry[entry] * scale, rw.cols[entry], blocks * gamma[:, None])

    def _next_kn_bigram(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One ``searchsorted`` per position into its context's whole watermarked row (:meth:`_bigram_rows`); then,
        for the ~22% that land in the bottom row, one search of u1's cumulative or one :class:`GreenChunks` draw."""
        if self._flat is None:
            self._bigram_rows()
        u = np.minimum(rng.random(ctx.size), _BELOW_ONE)
        tok, idx, lo_at = _merged_pick(self._flat, ctx, u)
        at = np.flatnonzero(tok < 0)
        if not at.size:
            return tok
        frac = _fraction(self._flat, idx[at], lo_at[at], u[at])
        if self.chunks is None:
            tok[at] = self.table.within(np.where(ctx[at] < self.v, h[at], -1), -1 - tok[at], frac)
            return tok
        plain = tok[at] == -1  # u1 plain: one search of its cumulative; else u1 given green (never at the start)
        cum = self.u1_cum
        tok[at[plain]] = np.minimum(np.searchsorted(cum, frac[plain] * cum[-1], side="right"), self.v)
        green = at[~plain]
        tok[green] = self.chunks.draw(h[green], frac[~plain])
        return tok

    def _next_kn_table(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The plain sampler's descent of the orders, with each row's watermarked stay probability; at the bottom,
        u1 tilted by the position's green list (one table draw). One uniform per position."""
        m = self.m
        if self._flat is not False:
            return self._next_kn_bigram(ctx, h, rng)
        stay = self._descent()
        if stay is None:
            return self._next_kn_parts(ctx, h, rng)
        u = rng.random(ctx.size)
        tok = np.empty(ctx.size, np.int64)
        pending = np.arange(ctx.size)
        for k in range(m.order, 1, -1):
            picker = self.pickers[k - 1]
            rows = m.tables_[k - 1].rows(ctx[pending] % self.radix ** (k - 1))
            st, uu = stay[k][rows], u[pending]
            s = uu < st
            r = rows[s]
            tok[pending[s]] = picker.pick(r, uu[s] / st[s] * picker.row_mass[r])
            u[pending[~s]] = (uu[~s] - st[~s]) / (1.0 - st[~s])
            pending = pending[~s]
        hp, uu = h[pending], u[pending]
        marked = hp >= 0
        if marked.all():
            tok[pending] = self.table.draw(hp, uu)
            return tok
        tok[pending[marked]] = self.table.draw(hp[marked], uu[marked])
        at, frac = pending[~marked], uu[~marked]  # not watermarked: u1 as the plain sampler draws it
        uni = frac < 1.0 - self.gamma1
        pick = self.pickers[0]
        tok[at[uni]] = pick.pick(np.zeros(int(uni.sum()), np.int64), frac[uni] / (1.0 - self.gamma1) * pick.row_mass[0])
        tok[at[~uni]] = np.minimum(((frac[~uni] - (1.0 - self.gamma1)) / self.gamma1 * self.radix).astype(np.int64),
                                   self.v)
        return tok

    def _next_kn_parts(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """As :meth:`_next_kn_table`, with the part weights computed per position (where a seen row's suffix is not)."""
        m = self.m
        n = ctx.size
        marked = h >= 0
        z1 = np.ones(n)
        if marked.any():
            z1[marked] = self.table.mass(h[marked])
        weights, rows_of, back = [], [], np.ones(n)
        for k in range(m.order, 1, -1):
            rows = m.tables_[k - 1].rows(ctx % self.radix ** (k - 1))
            gamma = m._gamma[k - 1][rows]
            weights.append(back * (1.0 - gamma) * self.mass_ratio[k - 1][rows])
            rows_of.append(rows)
            back = back * gamma
        weights.append(back * z1)
        comp, frac = self._choose(np.array(weights), rng)
        tok = np.empty(n, np.int64)
        for c in range(len(weights)):
            at = np.flatnonzero(comp == c)
            if c < len(weights) - 1:  # orders n..2: one draw from the reweighted row
                p, rows = self.pickers[m.order - c - 1], rows_of[c][at]
                tok[at] = p.pick(rows, frac[at] * p.row_mass[rows])
                continue
            g = at[marked[at]]
            tok[g] = self.table.draw(h[g], frac[g])
            at, f = at[~marked[at]], frac[at[~marked[at]]]
            uni = f < 1.0 - self.gamma1
            tok[at[uni]] = self.pickers[0].pick(np.zeros(int(uni.sum()), np.int64),
                                                f[uni] / (1.0 - self.gamma1) * self.pickers[0].row_mass[0])
            tok[at[~uni]] = np.minimum(((f[~uni] - (1.0 - self.gamma1)) / self.gamma1 * self.radix).astype(np.int64),
                                       self.v)
        return tok

    def _next_kn(self, ctx: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = self.m
        if self.table is not None:
            return self._next_kn_table(ctx, h, rng)
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
