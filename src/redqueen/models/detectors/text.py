"""A text detector: logistic regression on hashed n-grams (scikit-learn's hashing trick and LogisticRegression).

``analyzer="tokens"`` (default) hashes n-grams of token ids, vectorised
(:mod:`.hashing`): word n-grams for a word-level vocabulary, character n-grams
for a character-level one. ``"word"``, ``"char"`` and ``"char_wb"`` decode the
text and run scikit-learn's ``HashingVectorizer`` with that analyzer (words
split on whitespace, so punctuation tokens count), e.g. character n-grams of
word-level text; slower. Either way rows are l2-normalised counts and the
classifier is ``LogisticRegression`` (liblinear, L2 penalty ``C``), fitted on
real (label 0) and synthetic (label 1) items with classes weighted to balance.

Fitted state: ``coef`` (n_features,) and ``intercept`` (1,), float64, and the
vectorizer's parameters in the metadata (``load_state`` adopts them); ``score`` is ``expit(X coef +
intercept)`` computed from those arrays alone, so a restored detector scores
bit for bit as the fitted one.
"""

from __future__ import annotations

import numpy as np

from redqueen.data import Sequences
from redqueen.models.detectors.base import check_kind, fit_logistic, logistic, pack_meta, unpack_meta
from redqueen.models.detectors.hashing import hash_ngrams
from redqueen.runtime import restored

ANALYZERS = ("tokens", "word", "char", "char_wb")


class HashedNGramDetector:
    """Logistic regression on hashed n-grams of token sequences.

    ``analyzer`` in :data:`ANALYZERS`; ``ngram_range`` (lo, hi) inclusive;
    ``n_features`` hash buckets; ``C`` inverse L2 strength; ``max_iter``.
    Raises ``ValueError`` for an unknown analyzer or a bad range at ``fit``.
    """

    def __init__(self, *, analyzer: str = "tokens", ngram_range: tuple[int, int] = (1, 2), n_features: int = 2**18,
                 C: float = 1.0, max_iter: int = 200):
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.n_features = n_features
        self.C = C
        self.max_iter = max_iter

    def _check(self) -> None:
        if self.analyzer not in ANALYZERS:
            raise ValueError(f"unknown analyzer {self.analyzer!r}; choose one of {', '.join(ANALYZERS)}")
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must be (lo, hi) with 1 <= lo <= hi, got {self.ngram_range}")
        if self.n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {self.n_features}")

    def _vectorizer(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(analyzer=self.analyzer, ngram_range=tuple(self.ngram_range),
                                 n_features=self.n_features, token_pattern=r"\S+", lowercase=False,
                                 alternate_sign=False)

    def features(self, data: Sequences):
        """The detector's input: a CSR matrix (len(data), n_features)."""
        check_kind(data, (Sequences,), "HashedNGramDetector")
        if self.analyzer == "tokens":
            return hash_ngrams(data, ngram_range=tuple(self.ngram_range), n_features=self.n_features)
        return self._vectorizer().transform([data.decode(i) for i in range(len(data))])

    def fit(self, real: Sequences, synthetic: Sequences, rng: np.random.Generator) -> "HashedNGramDetector":
        self._check()
        self.coef_, self.intercept_ = fit_logistic(self.features(real), self.features(synthetic), rng, C=self.C,
                                                   solver="liblinear", max_iter=self.max_iter)
        return self

    def score(self, data: Sequences) -> np.ndarray:
        """P(synthetic) per sequence; (len(data),) float64."""
        return logistic(self.features(data) @ self.coef_ + self.intercept_[0])

    def state(self) -> dict[str, np.ndarray]:
        meta = {"analyzer": self.analyzer, "ngram_range": list(self.ngram_range), "n_features": self.n_features}
        return {"coef": self.coef_, "intercept": self.intercept_, "meta": pack_meta(meta)}

    def load_state(self, state: dict[str, np.ndarray]) -> "HashedNGramDetector":
        """Restore :meth:`state`, vectorizer parameters included (they define what the coefficients mean)."""
        meta = unpack_meta(state["meta"])
        self.analyzer, self.ngram_range, self.n_features = meta["analyzer"], tuple(meta["ngram_range"]), meta["n_features"]
        self._check()
        self.coef_ = restored.array(state, "coef", shape=(self.n_features,)).astype(np.float64)
        self.intercept_ = restored.array(state, "intercept", shape=(1,)).astype(np.float64)
        return self
