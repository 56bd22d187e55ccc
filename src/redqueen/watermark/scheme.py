"""Kirchenbauer et al. (2023)'s green-list watermark: the scheme, its hash and its green lists.

A :class:`Watermark` is ``(gamma, delta, key, context)``. Before each token the
generator hashes the ``context`` tokens before it into a seed, draws a
pseudorandom permutation of the ``V``-token vocabulary from that seed and calls
its first ``int(V * gamma)`` tokens *green*; sampling adds ``delta`` to the
green tokens' logits, i.e. multiplies their probabilities by ``e**delta`` and
renormalises (the paper's soft watermark). Detection counts green tokens.

The hash is the paper's additive pseudorandom function: ``seed = key * (sum of
the context previous token ids)``. At ``context = 1`` this is the paper's
``"simple_1"`` scheme and Hugging Face transformers' ``"lefthash"``
(``WatermarkLogitsProcessor``), with the same green lists: the permutation is
``torch.randperm(V, generator=torch.Generator().manual_seed(seed % (2**64 - 1)))``.
For ``context > 1`` it is the original repository's ``additive_prf`` over the
last ``context`` tokens (Hugging Face's lefthash hashes only the last token
whatever its ``context_width``). ``context = 0`` hashes nothing: ``seed = key``,
one fixed green list (the only meaning a watermark has for i.i.d. items).

The permutation is computed in numpy, without torch: torch's CPU ``randperm``
is a forward Fisher-Yates shuffle, swapping position ``i`` with ``i + r_i mod
(V - i)`` for the raw 32-bit outputs ``r_i`` of an MT19937 generator seeded with
the seed's low 32 bits (``init_genrand``); the first ``int(V * gamma)`` swaps
decide the green list. :class:`GreenLists` does this for many seeds at once
(vectorised over seeds), keeps each list as a packed bit row and computes rows
only for blocks of 1,024 hash inputs that are asked for (for vocabularies up
to 16,384 tokens; beyond, only for the hash inputs asked for), tested against
``torch.randperm`` and Hugging Face's processor. A block costs about 0.1 s for
a 10,000-token vocabulary at gamma = 0.25, once per process.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: the key Hugging Face and the paper's code default to (the millionth prime)
DEFAULT_KEY = 15485863
_UPPER, _LOWER, _MATRIX = np.uint32(0x80000000), np.uint32(0x7FFFFFFF), np.uint32(0x9908B0DF)
_CHUNK_BYTES = 64 * 2**20
_BLOCK = 1024
_BLOCK_VOCAB = 16384  # above this, lists are computed for the hash inputs asked for only (hashes are sparse there)


@dataclass(frozen=True)
class Watermark:
    """Green-list watermark parameters; raises ``ValueError`` for values outside their ranges.

    ``gamma`` in (0, 1): the green share of the vocabulary; ``delta >= 0``: the
    logit bias; ``key``: integer in [0, 2**64); ``context >= 0``: how many
    previous tokens are hashed (1 = ``"simple_1"`` / Hugging Face's lefthash).
    """

    gamma: float = 0.25
    delta: float = 2.0
    key: int = DEFAULT_KEY
    context: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.gamma < 1:
            raise ValueError(f"watermark gamma must be in (0, 1), got {self.gamma}")
        if not (math.isfinite(self.delta) and self.delta >= 0):
            raise ValueError(f"watermark delta must be finite and >= 0, got {self.delta}")
        if isinstance(self.key, bool) or not isinstance(self.key, (int, np.integer)) or not 0 <= self.key < 2**64:
            raise ValueError(f"watermark key must be an integer in [0, 2**64), got {self.key!r}")
        if isinstance(self.context, bool) or not isinstance(self.context, (int, np.integer)) or self.context < 0:
            raise ValueError(f"watermark context must be an integer >= 0, got {self.context!r}")

    def greens(self, vocab_size: int) -> "GreenLists":
        """The green lists of this key and gamma over ``vocab_size`` tokens (shared, cached per process)."""
        return green_lists(int(self.key), float(self.gamma), int(vocab_size))

    def hash_inputs(self, tokens: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For flat sequences (``tokens`` (N,), ``offsets`` (n + 1,)): which positions are watermarked and their hash input.

        Returns ``(scored, h)``, bool and int64 arrays of shape (N,): position
        ``t`` of a sequence is scored when it has at least ``context`` tokens
        before it in the sequence, and ``h`` is the sum of those tokens (1 for
        ``context = 0``, so that ``seed = key``); ``h`` is 0 where not scored.
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        offsets = np.asarray(offsets, dtype=np.int64)
        n = tokens.shape[0]
        if self.context == 0:
            return np.ones(n, bool), np.ones(n, np.int64)
        lengths = np.diff(offsets)
        local = np.arange(n) - np.repeat(offsets[:-1], lengths)
        scored = local >= self.context
        csum = np.concatenate([[0], np.cumsum(tokens)])
        idx = np.arange(n)
        h = np.where(scored, csum[idx] - csum[np.maximum(idx - self.context, 0)], 0)
        return scored, h

    def last_hash(self, history: np.ndarray) -> np.ndarray:
        """Hash input of the next token after each row of ``history`` (m, >= context): the sum of its last ``context``."""
        if self.context == 0:
            return np.ones(history.shape[0], np.int64)
        return np.asarray(history, dtype=np.int64)[:, history.shape[1] - self.context:].sum(axis=1)


def as_watermark(spec) -> Watermark | None:
    """``None``, a :class:`Watermark` or a dict of its fields (a config table) as a :class:`Watermark` or ``None``."""
    if spec is None or isinstance(spec, Watermark):
        return spec
    return Watermark(**dict(spec))


def seed_of(key: int, h: int) -> int:
    """The generator seed of hash input ``h``: ``key * h`` reduced as Hugging Face does (``% (2**64 - 1)``)."""
    return (int(key) * int(h)) % (2**64 - 1)


def mt19937_raw(seeds: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` raw 32-bit outputs of MT19937 seeded by ``init_genrand(seed)`` for each seed; (S, n) uint32.

    ``seeds`` are taken modulo 2**32, as torch's and numpy's legacy seeding do.
    Vectorised across seeds (the state is kept as (624, S)).
    """
    seeds = np.asarray(seeds, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    s = seeds.shape[0]
    mt = np.empty((624, s), np.uint32)
    cur = seeds.copy()
    mt[0] = cur
    for i in range(1, 624):
        cur = (np.uint64(1812433253) * (cur ^ (cur >> np.uint64(30))) + np.uint64(i)) & np.uint64(0xFFFFFFFF)
        mt[i] = cur
    out = np.empty((s, n), np.uint32)
    done = 0
    while done < n:
        _twist(mt)
        take = min(624, n - done)
        y = mt[:take].copy()
        y ^= y >> np.uint32(11)
        y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
        y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
        y ^= y >> np.uint32(18)
        out[:, done:done + take] = y.T
        done += take
    return out


def _twist(mt: np.ndarray) -> None:
    """MT19937's state transition in place, in the three blocks whose partners are already final."""
    for lo, hi, partner in ((0, 227, 397), (227, 454, -227), (454, 623, -227)):
        y = (mt[lo:hi] & _UPPER) | (mt[lo + 1:hi + 1] & _LOWER)
        mt[lo:hi] = mt[lo + partner:hi + partner] ^ (y >> np.uint32(1)) ^ ((y & np.uint32(1)) * _MATRIX)
    y = (mt[623] & _UPPER) | (mt[0] & _LOWER)
    mt[623] = mt[396] ^ (y >> np.uint32(1)) ^ ((y & np.uint32(1)) * _MATRIX)


def _randperm_prefix_one(seed: int, n: int, k: int) -> list[int]:
    """One seed's prefix: numpy's legacy MT19937 (``init_genrand``) for the stream, a sparse Fisher-Yates."""
    steps = min(k, n - 1)
    r = np.random.RandomState(int(seed) & 0xFFFFFFFF).randint(0, 2**32, size=steps, dtype=np.uint32).astype(np.int64)
    moved: dict[int, int] = {}
    out = []
    for i, z in enumerate((r % (n - np.arange(steps)) + np.arange(steps)).tolist()):
        at_i, at_z = moved.get(i, i), moved.get(z, z)
        moved[z] = at_i
        out.append(at_z)
    if k > steps:  # k == n: the last position is whatever is left there
        out.append(moved.get(n - 1, n - 1))
    return out


def randperm_prefix(seeds: np.ndarray, n: int, k: int) -> np.ndarray:
    """The first ``k`` entries of ``torch.randperm(n)`` under each seed (CPU generator); (S, k) int64.

    Vectorised over seeds for 8 or more; one seed at a time below that (where the vectorised pass is
    slower than numpy's own MT19937 and a dictionary of the swapped positions).
    """
    s = np.asarray(seeds).shape[0]
    if k == 0 or s == 0:
        return np.zeros((s, k), np.int64)
    if s < 8:
        return np.array([_randperm_prefix_one(int(x), n, k) for x in np.asarray(seeds).tolist()], np.int64)
    steps = min(k, n - 1)
    r = mt19937_raw(seeds, steps).astype(np.int64)
    z = r % (n - np.arange(steps)) + np.arange(steps)
    # positions x seeds, so that position i of every seed is one contiguous row
    perm = np.repeat(np.arange(n, dtype=np.int32)[:, None], s, axis=1)
    flat = perm.reshape(-1)
    cols = np.arange(s)
    zt = np.ascontiguousarray(z.T) * s + cols  # flat index of (z_i, seed)
    for i in range(steps):
        at = zt[i]
        held = flat[at]
        flat[at] = perm[i]
        perm[i] = held
    return perm[:k].T.astype(np.int64)


class GreenLists:
    """Green lists over ``vocab_size`` tokens for one key and gamma, one per hash input, computed on demand.

    ``size = int(vocab_size * gamma)`` tokens are green for each hash input
    (as Hugging Face computes it). Token ids at or above ``vocab_size`` (a
    begin-of-sequence or end symbol) are never green.
    """

    def __init__(self, key: int, gamma: float, vocab_size: int):
        self.key = int(key)
        self.gamma = float(gamma)
        self.vocab_size = int(vocab_size)
        self.size = int(self.vocab_size * self.gamma)
        # whole blocks of 256 ids per list (for :meth:`packed`), with room for one id past the vocabulary (an end)
        self._bytes = -(-(self.vocab_size + 1) // 256) * 32
        self._bits = np.zeros((0, self._bytes), np.uint8)
        self._row_of = np.full(0, -1, np.int64)

    def rows(self, h: np.ndarray) -> np.ndarray:
        """Row of each hash input ``h`` (m,) in the packed table, computing the lists not yet known."""
        h = np.asarray(h, dtype=np.int64)
        if h.size and int(h.min()) < 0:
            raise ValueError("watermark hash inputs are sums of token ids and cannot be negative")
        top = -(-(int(h.max()) + 1) // _BLOCK) * _BLOCK if h.size else 0
        if top > self._row_of.shape[0]:
            self._row_of = np.concatenate([self._row_of, np.full(top - self._row_of.shape[0], -1, np.int64)])
        rows = self._row_of[h]
        missing = h[rows < 0]
        if missing.size:
            if self.vocab_size <= _BLOCK_VOCAB:
                # whole aligned blocks of hash inputs: one vectorised pass costs about the same for 1 or 1,000 lists
                blocks = np.unique(missing // _BLOCK)
                want = (blocks[:, None] * _BLOCK + np.arange(_BLOCK)).reshape(-1)
                want = want[want < self._row_of.shape[0]]
                missing = want[self._row_of[want] < 0]
            self._compute(np.unique(missing))
            rows = self._row_of[h]
        return rows

    def _compute(self, hs: np.ndarray) -> None:
        seeds = np.array([seed_of(self.key, x) & 0xFFFFFFFF for x in hs.tolist()], dtype=np.uint64)
        chunk = max(1, _CHUNK_BYTES // (4 * max(self.vocab_size, 1)))
        packed = []
        for s in range(0, seeds.shape[0], chunk):
            ids = randperm_prefix(seeds[s:s + chunk], self.vocab_size, self.size)
            mask = np.zeros((ids.shape[0], self._bytes * 8), bool)
            np.put_along_axis(mask, ids, True, axis=1)
            packed.append(np.packbits(mask, axis=1, bitorder="little"))
        start = self._bits.shape[0]
        self._bits = np.concatenate([self._bits, *packed]) if packed else self._bits
        self._row_of[hs] = start + np.arange(hs.shape[0])

    def is_green(self, h: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Whether ``tokens[i]`` is green after hash input ``h[i]``; both (m,), returns bool (m,)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        rows = self.rows(h)
        inside = (tokens >= 0) & (tokens < self.vocab_size)
        t = np.where(inside, tokens, 0)
        if self._bits.shape[0] == 0:
            return np.zeros(tokens.shape, bool)
        bit = (self._bits[rows, t >> 3] >> (t & 7).astype(np.uint8)) & 1
        return inside & (bit == 1)

    def mask(self, h: np.ndarray, width: int | None = None) -> np.ndarray:
        """Green masks after each hash input ``h`` (m,): bool (m, width), width >= vocab_size (default vocab_size)."""
        rows = self.rows(h)
        width = self.vocab_size if width is None else width
        out = np.zeros((rows.shape[0], width), bool)
        if rows.size:
            out[:, : self.vocab_size] = np.unpackbits(
                self._bits[rows], axis=1, count=self.vocab_size, bitorder="little").view(bool)
        return out

    def packed(self, h: np.ndarray, block: np.ndarray | None = None, rows: np.ndarray | None = None) -> np.ndarray:
        """Packed green lists after hash inputs ``h`` (m,): byte ``i`` holds tokens ``8 i .. 8 i + 7``, bit ``k`` token
        ``8 i + k`` (tokens at or above ``vocab_size`` are not green). All ``bytes`` bytes per list (a whole number of
        256-token blocks), uint8 (m, bytes); or only the 32 bytes of 256-token block ``block`` (m,) of each.
        ``rows``: what :meth:`rows` gave for ``h`` earlier (the lists stay where they are), to skip looking again."""
        rows = self.rows(h) if rows is None else rows
        if self._bits.shape[0] == 0:
            return np.zeros((rows.shape[0], self._bytes if block is None else 32), np.uint8)
        if block is None:
            return self._bits[rows]
        words = self._bits.reshape(-1).view("<u8")  # four 64-bit words per block
        at = (rows * (self._bytes // 8) + np.asarray(block, dtype=np.int64) * 4)[:, None] + np.arange(4)
        return np.take(words, at).view(np.uint8)

    @property
    def bytes(self) -> int:
        return self._bytes

    def ids(self, h: int) -> np.ndarray:
        """The green token ids after one hash input, ascending; (size,) int64."""
        return np.flatnonzero(self.mask(np.array([h]))[0])


@functools.lru_cache(maxsize=16)
def green_lists(key: int, gamma: float, vocab_size: int) -> GreenLists:
    """The process-wide :class:`GreenLists` of one key, gamma and vocabulary size (lists accumulate as asked for)."""
    return GreenLists(key, gamma, vocab_size)
