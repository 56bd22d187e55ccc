"""Hashed token n-grams of :class:`~redqueen.data.Sequences` as a sparse matrix, vectorised (the hashing trick).

Token ids are the words of a word-level vocabulary and the characters of a
character-level one, so n-grams of ids are word or character n-grams without
decoding any text. Each n-gram ``(s_1..s_n)`` becomes the 32-bit integer
``(...((n * P + s_1) * P + s_2) ... ) mod 2**32`` (``P = 1000003``), which
scikit-learn's MurmurHash3 (``sklearn.utils.murmurhash3_32``, the hash of
``HashingVectorizer``) maps to one of ``n_features`` columns; counts are
summed and each row is scaled to unit l2 norm, as ``HashingVectorizer`` does
with ``alternate_sign=False``. About 4x faster than decoding the text and
running ``HashingVectorizer``'s word analyzer on it (BENCHMARKS.md section 5).
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Sequences

PRIME = 1000003
_MASK = np.uint64(0xFFFFFFFF)


def ngram_keys(data: Sequences, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The 32-bit key of every n-gram of ``data`` inside one sequence, and its sequence; both (E,)."""
    tokens = data.tokens.astype(np.uint64)
    lengths = data.lengths()
    local = np.arange(tokens.shape[0]) - np.repeat(data.offsets[:-1], lengths)
    end = np.flatnonzero(local >= n - 1)  # position of each n-gram's last token
    key = np.full(end.shape[0], np.uint64(n))
    for j in range(n - 1, -1, -1):
        key = (key * np.uint64(PRIME) + tokens[end - j]) & _MASK
    return key, np.repeat(np.arange(len(data)), lengths)[end]


def hash_ngrams(data: Sequences, *, ngram_range: tuple[int, int] = (1, 2), n_features: int = 2**18,
                seed: int = 0, norm: bool = True):
    """Hashed n-gram counts, ``ngram_range`` inclusive, as a CSR matrix (len(data), n_features), float64."""
    from scipy.sparse import csr_matrix
    from sklearn.preprocessing import normalize
    from sklearn.utils import murmurhash3_32

    keys, rows = [], []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        k, r = ngram_keys(data, n)
        keys.append(k)
        rows.append(r)
    key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    h = murmurhash3_32(key.astype(np.uint32).view(np.int32), seed=seed, positive=True) if key.size else key
    cols = np.asarray(h, dtype=np.int64) % n_features
    x = csr_matrix((np.ones(cols.shape[0]), (row, cols)), shape=(len(data), n_features))
    x.sum_duplicates()
    return normalize(x) if norm else x
