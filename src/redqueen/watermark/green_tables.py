"""Green-list sampling tables: one-draw inverse-CDF sampling from a weight vector restricted to (or tilted by) the
green list of a Kirchenbauer hash input (:class:`GreenTable` over 256-token blocks, :class:`GreenChunks` over the
green ids themselves), and the q-th green id of a hash input exactly, in integers (:class:`GreenIds`, with the
ids themselves as a table where they fit). Used by the n-gram family's watermarked sampler
(:mod:`redqueen.models.ngram_watermark`); each states its memory, at most :data:`TABLE_BYTES`.
"""

from __future__ import annotations

import functools

import numpy as np

BLOCK_BYTES = 32  # a green table's block: 256 tokens, 32 bytes of a packed green list
_HASH_BLOCK = 1024  # hash inputs whose table rows are built together
CHUNK = 64  # green ids per chunk of a :class:`GreenChunks` (and the dense green ids' padding)
#: the most a :class:`GreenTable` may hold; above it the sampler proposes until green instead
TABLE_BYTES = 64 * 2**20
_PATTERN_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(bool)


def _count(flags: np.ndarray) -> np.ndarray:
    """How many flags are set in each row of a bool (m, k) array; int64 (m,)."""
    return flags.view(np.uint8).sum(axis=1, dtype=np.int64)


def _ensure_rows(table, h: np.ndarray) -> None:
    """Build ``table``'s rows for the hash inputs ``h`` on first use, :data:`_HASH_BLOCK` at a time: ``table`` has
    ``built`` (bool per hash input so far), ``n_hashes``, ``complete``, ``greens``, ``_grow(more)`` (extend its arrays
    by ``more`` hash inputs) and ``_build(part)`` (fill the rows ``part``, set ``built``)."""
    if table.complete:
        return
    hi = int(h.max()) + 1
    top = max(min(-(-hi // _HASH_BLOCK) * _HASH_BLOCK, table.n_hashes), hi)
    have = table.built.shape[0]
    if top > have:
        table._grow(top - have)
        table.built = np.concatenate([table.built, np.zeros(top - have, bool)])
    need = h[~table.built[h]]
    for b in np.unique(need // _HASH_BLOCK) if need.size else ():
        part = np.arange(b * _HASH_BLOCK, min((b + 1) * _HASH_BLOCK, table.built.shape[0]))
        table._build(part[~table.built[part]])
    table.complete = table.built.shape[0] >= table.n_hashes and bool(table.built.all())
    if table.complete:  # every list is known: where each lies, looked up once
        table.list_row = table.greens.rows(np.arange(table.built.shape[0]))


class GreenTable:
    """One-draw sampling from a fixed weight vector ``w`` over the tokens, restricted to the green list of a hash input
    (or, given ``extra``, the whole of ``w`` with its green ids' weights times ``1 + extra``: the tilted row).

    Three levels, each an inverse CDF. (1) Per hash input ``h``, the cumulative green share of ``w`` over
    blocks of 256 tokens (``ceil(V / 256)`` float64 per hash input), built for 1,024 hash inputs at a time on
    first use; :meth:`mass` is the green mass. (2) Within the block, its 32 bytes' green masses, each read
    from a table of every byte's mass under each of the 256 bit patterns (``V / 8 x 256`` float64, shared by
    all hash inputs). (3) Within the byte, its 8 weights times its green bits. Memory (:meth:`nbytes`): at
    V = 10,000 and its 10,000 hash inputs (context 1), 3.4 MB + 2.6 MB; refused above :data:`TABLE_BYTES`
    (:meth:`fits`), where the sampler proposes instead. A draw is a function of ``(h, u)`` alone, so a table
    built earlier or later gives the same token. Exact up to float64 round-off (a few ulps of a share).
    """

    def __init__(self, greens, w: np.ndarray, n_hashes: int, extra: float | None = None):
        self.greens = greens
        n_bytes = greens.bytes
        self.n_blocks = n_bytes // BLOCK_BYTES
        self.n_hashes = int(n_hashes)
        v = greens.vocab_size
        padded = np.zeros(n_bytes * 8)
        if extra is None:  # green only: ids >= V (the end symbol) are never green
            padded[:v] = w[:v]
            self.factor = _PATTERN_BITS.astype(np.float64)
        else:  # the whole tilted row: w (end symbol included) times 1 + extra on green ids
            padded[:w.shape[0]] = w
            self.factor = 1.0 + extra * _PATTERN_BITS
        self.w8 = padded.reshape(n_bytes, 8)
        # mass of byte i's tokens under each bit pattern (a green list's byte): (bytes, 256)
        self.byte_mass = (self.factor[None, :, :] * self.w8[:, None, :]).sum(axis=2)
        self.byte_mass_flat = self.byte_mass.reshape(-1)
        self._at = np.arange(BLOCK_BYTES) * 256  # a block's bytes' rows in the flat byte-mass table
        self.share = np.ones((0, self.n_blocks + 1))  # cumulative share of each hash input's blocks, 0 first
        self.total = np.zeros(0)
        self.built = np.zeros(0, bool)
        self.complete = False
        self.list_row = None

    @staticmethod
    def nbytes(vocab_size: int, n_hashes: int) -> int:
        """Bytes of a table over ``vocab_size`` tokens for ``n_hashes`` hash inputs, all built."""
        blocks = -(-(vocab_size + 1) // 256)  # as the green lists pack them, with room for the end symbol
        return n_hashes * ((blocks + 1) * 8 + 9) + blocks * 32 * 256 * 8

    @classmethod
    def fits(cls, vocab_size: int, n_hashes: int) -> bool:
        return cls.nbytes(vocab_size, n_hashes) <= TABLE_BYTES

    def _ensure(self, h: np.ndarray) -> None:
        _ensure_rows(self, h)

    def _grow(self, more: int) -> None:
        self.share = np.concatenate([self.share, np.ones((more, self.n_blocks + 1))])
        self.total = np.concatenate([self.total, np.zeros(more)])

    def _build(self, part: np.ndarray) -> None:
        nb = self.n_blocks
        packed = self.greens.packed(part)
        block_mass = self.byte_mass[np.arange(packed.shape[1]), packed].reshape(part.size, nb, BLOCK_BYTES).sum(axis=2)
        cum = np.cumsum(block_mass, axis=1)
        total = cum[:, -1]
        share = cum / np.where(total > 0, total, 1.0)[:, None]
        # from the last block with mass on, exactly 1: a draw u < 1 never lands past it
        last = nb - 1 - np.argmax(block_mass[:, ::-1] > 0, axis=1)
        share[np.arange(nb)[None, :] >= last[:, None]] = 1.0
        self.share[part, 0], self.share[part, 1:] = 0.0, share
        self.total[part], self.built[part] = total, True

    def mass(self, h: np.ndarray) -> np.ndarray:
        """Green mass of ``w`` after each hash input ``h`` (m,), all >= 0 (tilted: the tilted row's total)."""
        if h.size == 0:
            return np.zeros(0)
        self._ensure(h)
        return self.total[h]

    def draw(self, h: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The token at fraction ``u`` in [0, 1) of ``w`` restricted to the green list of ``h`` (or tilted by it); both
        (m,), mass > 0."""
        if h.size == 0:
            return np.zeros(0, np.int64)
        self._ensure(h)
        u = np.minimum(u, BELOW_ONE)  # a uniform rescaled by the caller may round up to 1
        # (1) the first block whose cumulative share exceeds u: it has mass (shares only grow where mass is)
        share = self.share[h]
        m = h.size
        b = _count(share[:, 1:] <= u[:, None])
        rows = np.arange(m)
        lo = share[rows, b]
        return self.within(h, b, (u - lo) / (share[rows, b + 1] - lo))

    def within(self, h: np.ndarray, b: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """The token at fraction ``frac`` of block ``b`` (levels 2 and 3), all (m,); ``h < 0``: not watermarked."""
        m = h.size
        rows = np.arange(m)
        if (h >= 0).all():
            pattern = self.greens.packed(h, b, None if self.list_row is None else self.list_row[h])
        else:
            pattern = np.zeros((m, BLOCK_BYTES), np.uint8)
            on = h >= 0
            pattern[on] = self.greens.packed(h[on], b[on])
        # the blocks' 32 byte masses laid end to end, one running sum from 0
        bm = np.take(self.byte_mass_flat, (b * (BLOCK_BYTES * 256))[:, None] + self._at + pattern)
        c = np.zeros(m * BLOCK_BYTES + 1)
        np.cumsum(bm.reshape(-1), out=c[1:])
        first = rows * BLOCK_BYTES
        start = c[first]
        target = start + frac * (c[first + BLOCK_BYTES] - start)
        j = np.minimum(_count(c[1:].reshape(m, BLOCK_BYTES) <= target[:, None]), BLOCK_BYTES - 1)
        rest = target - c[first + j]
        # (3) the token within the byte
        byte = b * BLOCK_BYTES + j
        inside = self.factor[pattern[rows, j]] * self.w8[byte]
        k = _count(np.cumsum(inside, axis=1) <= rest[:, None])
        top = k >= 8  # round-off at the top of the block: its last token with weight
        if top.any():
            jj = BLOCK_BYTES - 1 - np.argmax(bm[top][:, ::-1] > 0, axis=1)
            byte[top] = b[top] * BLOCK_BYTES + jj
            k[top] = 7 - np.argmax((self.factor[pattern[top, jj]] * self.w8[byte[top]])[:, ::-1] > 0, axis=1)
        return byte * 8 + k


BELOW_ONE = np.nextafter(1.0, 0.0)
_POPCOUNT = _PATTERN_BITS.sum(axis=1).astype(np.int64)
@functools.lru_cache(maxsize=4)
def shared_ids(greens, n_hashes: int, dense: bool) -> "GreenIds":
    """The process-wide :class:`GreenIds` of one set of green lists (they depend on nothing else): every watermarked
    model of a key, gamma and vocabulary reads the same tables, built once (the dense ids are 51 MB at V = 10,000,
    about 0.5 s to build; the 4 most recent sets kept)."""
    return GreenIds(greens, n_hashes, dense=dense)


def _padded(size: int) -> int:
    return -(-size // CHUNK) * CHUNK


def _id_dtype(vocab_size: int):
    return np.int16 if vocab_size <= np.iinfo(np.int16).max else np.int32


_SELECT = np.array([np.append(np.flatnonzero(b), np.zeros(8 - b.sum(), np.int64)) for b in _PATTERN_BITS], np.int64)


class GreenIds:
    """Uniform draws of a green id after a hash input, exactly, in integers: the ``q``-th green id for ``q`` uniform.

    Per hash input, the cumulative count of green ids over blocks of 256 tokens (``ceil(V / 256)`` int32 per hash
    input, and a leading 0: 164 bytes at V = 10,000, 1.6 MB for all 10,000 hash inputs of context 1), built for
    1,024 hash inputs at a time on first use; within the block, byte popcounts and a table of the ``r``-th set
    bit of each byte value. A draw is a function of ``(h, u)`` alone. :meth:`nbytes` is its memory, counted
    against :data:`TABLE_BYTES` by the sampler.

    ``dense=True`` also keeps every hash input's green ids themselves, ascending (``ids[h, q]``: ``size`` int16
    per hash input, int32 above 32,767 tokens, padded with V to a whole number of :data:`CHUNK` ids; 51 MB at
    V = 10,000 and its 10,000 hash inputs), built with the counts: :meth:`draw_rank` is then one gather, the same
    ids (the ``q``-th green id is the ``q``-th either way).
    """

    def __init__(self, greens, n_hashes: int, dense: bool = False):
        self.greens = greens
        self.size = greens.size
        self.n_blocks = greens.bytes // BLOCK_BYTES
        self.n_hashes = int(n_hashes)
        self.count = np.zeros((0, self.n_blocks + 1), np.int32)  # green ids in each hash input's blocks, cumulative
        self.built = np.zeros(0, bool)
        self.complete = False
        self.list_row = None
        # the green ids of every hash input, ascending (rows filled as their hash inputs are built)
        self.width = _padded(self.size)
        self.ids = np.empty((self.n_hashes, self.width), _id_dtype(greens.vocab_size)) if dense else None

    @staticmethod
    def nbytes(vocab_size: int, n_hashes: int, gamma: float | None = None) -> int:
        """Bytes for ``n_hashes`` hash inputs, all built; given the green share ``gamma``, with the dense ids."""
        counts = n_hashes * ((-(-(vocab_size + 1) // 256) + 1) * 4 + 1)
        if gamma is None:
            return counts
        return counts + n_hashes * _padded(int(vocab_size * gamma)) * np.dtype(_id_dtype(vocab_size)).itemsize

    def _ensure(self, h: np.ndarray) -> None:
        _ensure_rows(self, h)

    def _grow(self, more: int) -> None:
        self.count = np.concatenate([self.count, np.zeros((more, self.n_blocks + 1), np.int32)])

    def _build(self, part: np.ndarray) -> None:
        counts = _POPCOUNT[self.greens.packed(part)].reshape(part.size, self.n_blocks, BLOCK_BYTES).sum(axis=2)
        self.count[part, 1:] = np.cumsum(counts, axis=1)
        if self.ids is not None:  # each list holds exactly ``size`` ids, all below V: row-major nonzero is ascending
            self.ids[part, : self.size] = np.nonzero(self.greens.mask(part))[1].reshape(part.size, self.size)
            self.ids[part, self.size:] = self.greens.vocab_size
        self.built[part] = True

    def rank(self, h: np.ndarray, tok: np.ndarray) -> np.ndarray:
        """How many green ids after ``h`` lie below each green ``tok`` (its 0-based rank among them); both (m,)."""
        if h.size == 0:
            return np.zeros(0, np.int64)
        self._ensure(h)
        rows = np.arange(h.size)
        b, byte, bit = tok // 256, (tok % 256) // 8, tok % 8
        pattern = self.greens.packed(h, b)
        c = np.cumsum(_POPCOUNT[pattern], axis=1)
        before = self.count[h, b] + np.where(byte > 0, c[rows, np.maximum(byte - 1, 0)], 0)
        return before + _POPCOUNT[pattern[rows, byte] & ((1 << bit) - 1).astype(np.uint8)]

    def draw(self, h: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The ``floor(u * size)``-th green id (ascending) after each hash input ``h``; ``u`` in [0, 1), both (m,)."""
        if h.size == 0:
            return np.zeros(0, np.int64)
        self._ensure(h)
        return self.draw_rank(h, np.minimum((u * self.size).astype(np.int64), self.size - 1))

    def draw_rank(self, h: np.ndarray, q: np.ndarray, cast: bool = True) -> np.ndarray:
        """The ``q``-th green id (ascending, 0-based, ``q < size``) after each hash input ``h``; both (m,); int64, or
        with ``cast=False`` the dense table's own dtype where it answers (for a caller that assigns into int64)."""
        if h.size == 0:
            return np.zeros(0, np.int64)
        self._ensure(h)
        if self.ids is not None:
            idx = h * self.width
            idx += q
            ids = np.take(self.ids.reshape(-1), idx)
            return ids.astype(np.int64) if cast else ids
        count = self.count[h]
        b = _count(count[:, 1:] <= q.astype(np.int32)[:, None])  # the first block holding more than q green ids
        rows = np.arange(h.size)
        r = q - count[rows, b]
        pattern = self.greens.packed(h, b, None if self.list_row is None else self.list_row[h])
        # the blocks' byte popcounts laid end to end, one running sum from 0 (integers: exact)
        c = np.zeros(pattern.size + 1, np.int64)
        np.cumsum(_POPCOUNT[pattern].reshape(-1), out=c[1:])
        first = rows * BLOCK_BYTES
        r += c[first]
        j = _count(c[1:].reshape(pattern.shape) <= r[:, None])
        r -= c[first + j]
        return (b * BLOCK_BYTES + j) * 8 + _SELECT[pattern[rows, j], r]


class GreenChunks:
    """One-draw sampling from a fixed positive weight vector ``w`` restricted to the green list of a hash input, over
    that list's green ids themselves (a :class:`GreenIds` with ``dense=True``).

    Two levels, each an inverse CDF. (1) Per hash input, the cumulative share of ``w`` over chunks of
    :data:`CHUNK` consecutive green ids (ascending; ``ceil(size / 64) + 1`` float64 per hash input: 3.3 MB at
    V = 10,000 and its 10,000 hash inputs), built for 1,024 hash inputs at a time on first use; :meth:`mass` is
    the green mass. (2) The chunk's 64 ids (one contiguous read of the id table) and their weights, one running
    sum. Against :class:`GreenTable` (256-token blocks, then bytes, then bits): two gathers and one sum per draw
    instead of three levels of gathers. ``w`` must be positive on every id below V (then every chunk has mass).
    :meth:`nbytes` counts this table and the dense ids. A draw is a function of ``(h, u)`` alone. Exact up to
    float64 round-off (a few ulps of a share).
    """

    def __init__(self, ids: GreenIds, w: np.ndarray):
        if ids.ids is None:
            raise ValueError("GreenChunks needs the dense green ids (GreenIds(dense=True))")
        if not (w[: ids.greens.vocab_size] > 0).all():
            raise ValueError("GreenChunks needs weights > 0 on every id below the vocabulary size")
        self.ids, self.greens, self.n_hashes = ids, ids.greens, ids.n_hashes
        self.size = ids.size
        self.n_chunks = -(-self.size // CHUNK)
        self.w = np.zeros(max(w.shape[0], ids.greens.vocab_size + 1))
        self.w[: ids.greens.vocab_size] = w[: ids.greens.vocab_size]  # id V (the padding): weight 0
        self.chunk_ids = ids.ids.reshape(-1, CHUNK)  # row h * n_chunks + c: chunk c of hash input h
        self.share = np.ones((0, self.n_chunks + 1))
        self.total = np.zeros(0)
        self.built = np.zeros(0, bool)
        self.complete = False
        self.list_row = None

    @staticmethod
    def nbytes(vocab_size: int, n_hashes: int, gamma: float) -> int:
        """Bytes of the chunk shares and the dense ids (:meth:`GreenIds.nbytes`) for ``n_hashes`` hash inputs."""
        chunks = -(-int(vocab_size * gamma) // CHUNK)
        return n_hashes * ((chunks + 1) * 8 + 9) + GreenIds.nbytes(vocab_size, n_hashes, gamma) + 8 * (vocab_size + 1)

    def _grow(self, more: int) -> None:
        self.share = np.concatenate([self.share, np.ones((more, self.n_chunks + 1))])
        self.total = np.concatenate([self.total, np.zeros(more)])

    def _build(self, part: np.ndarray) -> None:
        self.ids._ensure(part)
        w = self.w[self.ids.ids[part]]  # the padding's weight is 0
        cum = np.cumsum(w.reshape(part.size, self.n_chunks, CHUNK).sum(axis=2), axis=1)
        total = cum[:, -1]
        share = cum / total[:, None]
        share[:, -1] = 1.0  # every chunk has mass: a draw u < 1 never lands past the last
        self.share[part, 0], self.share[part, 1:] = 0.0, share
        self.total[part], self.built[part] = total, True

    def mass(self, h: np.ndarray) -> np.ndarray:
        """Green mass of ``w`` after each hash input ``h`` (m,)."""
        if h.size == 0:
            return np.zeros(0)
        _ensure_rows(self, h)
        return self.total[h]

    def draw(self, h: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The green id at fraction ``u`` in [0, 1) of ``w`` restricted to the green list of ``h``; both (m,)."""
        if h.size == 0:
            return np.zeros(0, np.int64)
        _ensure_rows(self, h)
        u = np.minimum(u, BELOW_ONE)
        share = self.share[h]
        rows = np.arange(h.size)
        c = np.minimum(_count(share[:, 1:] <= u[:, None]), self.n_chunks - 1)
        lo = share[rows, c]
        frac = (u - lo) / (share[rows, c + 1] - lo)
        # (2) the chunk's ids (past the list's end: id V, weight 0) and their running weights
        ids = np.take(self.chunk_ids, h * self.n_chunks + c, axis=0)
        cw = np.cumsum(self.w[ids], axis=1)
        k = np.minimum(_count(cw <= (frac * cw[:, -1])[:, None]), np.minimum(self.size - c * CHUNK, CHUNK) - 1)
        return ids[rows, k].astype(np.int64)
