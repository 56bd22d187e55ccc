"""The arena: a population of generators evolving to evade a detector that has a regime of its own.

A coupling on a population of P generator members (any family with a genome). Each round
(generation) of the loop:

* **act** (after every member is fitted): the members' sampling genes are applied
  (:mod:`.genes`); against the current detector each generator draws ``samples`` items and is
  scored on evasion (mean ``1 - P(synthetic)``) and fidelity (``fidelity = "likelihood"``: the mean
  log-likelihood of held-out real data, per token for text, with the genes in force; ``"distance"``: minus
  :func:`distance` from its samples to that real data); in each group -- the generators the detector trains on, and the
  ``heldout`` ones it never sees -- the ``children`` worst under the fidelity constraint are replaced
  by children of survivors, merged in weight space and mutated (:class:`~redqueen.loop.couplings.breeding.Breeding`),
  their genes interpolated and mutated (:mod:`.selection`);
* **measure** (the measure phase): fresh samples of every generator are scored by the current
  detector against held-out real items -- ``det_auc`` and ``det_tpr1`` (TPR at 1% FPR) against the
  trained-on generators, ``det_auc_heldout`` against the held-out ones, each member's evasion rate
  (the share of its items under the threshold that flags 1% of real items) and fidelity; then the
  detector is retrained by its :class:`~.regimes.DetectorRegime`, archived, and the CIAO matrix
  grows by a row (this round's generators against every detector so far) and a column (this round's
  detector against every earlier round's generators): ``ciao_row`` / ``ciao_col`` distributions,
  ``det_generality`` the mean of the column. With ``web > 0`` the items that passed the detector feed
  the web model (:mod:`.web`).

Generation 0 has no detector yet: its detector is fitted on generation 0's generators in the measure
phase and scored on fresh samples of them, the same detector for every regime. From generation 1 on,
the detector measured against round ``g``'s generators is the one trained after round ``g - 1``:
the generators have had one round to move. All randomness is the population's coupling generator.
"""

from __future__ import annotations

import numpy as np

from redqueen.arena import genes as G
from redqueen.arena.regimes import DetectorRegime
from redqueen.arena.selection import replacements
from redqueen.arena.web import Web
from redqueen.data import Data, Points, Sequences
from redqueen.evolve.genome import genomes
from redqueen.loop.couplings.base import Coupling
from redqueen.loop.couplings.breeding import Breeding
from redqueen.loop.couplings.scoring import ReferenceScores
from redqueen.loop.member import population_seed
from redqueen.loop.record import Parent
from redqueen.metrics.detection import auc, tpr_at_fpr
from redqueen.metrics.divergence import js, wasserstein1
from redqueen.models.detectors import make_detector
from redqueen.runtime import restored
from redqueen.runtime.checkpoint import Template

FPR = 0.01
#: the population stream of the arena's real test set (2: couplings, 3: reference set, 5: web diagnostics)
STREAM = 4


def threshold(real_scores: np.ndarray, fpr: float = FPR) -> float:
    """The lowest observed real score ``t`` with at most ``fpr`` of real items scoring above it."""
    s = np.sort(np.asarray(real_scores, dtype=np.float64))
    return float(s[s.size - 1 - int(np.floor(fpr * s.size + 1e-9))])


def concat(parts: list[Data]) -> Data:
    out = parts[0]
    for p in parts[1:]:
        out = out.concat(p)
    return out


def subset(data: Data, idx: np.ndarray) -> Data:
    return Points(data.x[idx]) if isinstance(data, Points) else data.subset(idx)


def split(data: Data, first: int) -> tuple[Data, Data]:
    """The first ``first`` items and the rest."""
    return subset(data, np.arange(first)), subset(data, np.arange(first, len(data)))


def distance(samples: Data, real: Data) -> float:
    """How far a generator's samples lie from real data, for a fidelity that a truncating gene keeps finite: for
    text, the Jensen-Shannon divergence (nats, at most log 2) between the two sets' token frequencies, the end of
    each sequence counted as one more type (so lengths count too); for points, the sliced Wasserstein-1 distance
    (the same 64 directions, seed 0, for every call)."""
    if isinstance(real, Points):
        return wasserstein1(samples.x, real.x)
    k = len(real.vocab) + 1

    def freqs(d: Sequences) -> np.ndarray:
        c = np.bincount(d.tokens, minlength=k).astype(np.float64)
        c[-1] += len(d)
        return c

    return js(freqs(samples), freqs(real))


def score_parts(det, parts: list[Data]) -> list[np.ndarray]:
    """``det.score`` of each part, in one call on their concatenation (a detector's per-call cost is paid once)."""
    scores = np.asarray(det.score(concat(parts)))
    return np.split(scores, np.cumsum([len(p) for p in parts])[:-1])


class Arena(Coupling):
    """See the module docstring. ``detector`` is a table ``{kind, ...params}`` for
    :func:`redqueen.models.detectors.make_detector`; raises ``ValueError`` at ``bind`` if ``heldout``
    leaves no trained-on generator."""

    name = "arena"

    def __init__(self, *, detector: dict, regime: str = "adapting", capacity: int = 0, remember: str = "champions",
                 samples: int = 200,
                 children: int = 1, heldout: int = 0, slack: float = 1.0, genes: tuple[str, ...] = (),
                 gene_sigma: float = 0.1, web: int = 0, reference: int = 1000, fidelity: str = "likelihood",
                 breeding: Breeding = Breeding(operator="lerp", mutation="gaussian", sigma=0.05)):
        if fidelity not in ("likelihood", "distance"):
            raise ValueError(f"arena fidelity {fidelity!r}: use 'likelihood' or 'distance'")
        self.detector = dict(detector)
        self.regime = DetectorRegime(regime, capacity, remember)
        self.samples = samples
        self.children = children
        self.heldout = heldout
        self.slack = slack
        self.genes = tuple(genes)
        self.gene_sigma = gene_sigma
        self.web = web
        self.reference = reference
        self.fidelity_kind = fidelity
        self.breeding = breeding

    # -- setup ----------------------------------------------------------------------------------------------

    def new_detector(self):
        spec = dict(self.detector)
        return make_detector(spec.pop("kind"), **spec)

    def bind(self, pop) -> None:
        super().bind(pop)
        p = len(pop.member_list)
        if not 0 <= self.heldout < p:
            raise ValueError(f"arena heldout = {self.heldout} must leave at least one of the {p} generators trained on")
        self.trained_ = np.arange(p - self.heldout)
        self.held_ = np.arange(p - self.heldout, p)
        self.scorer_ = ReferenceScores(pop, size=self.reference)
        rng = np.random.default_rng(population_seed(pop.seed, pop.replicate, STREAM))
        draw = getattr(pop.world, "heldout", None) or pop.world.sample
        self.real_test_ = draw(self.samples, rng)
        self.genes_ = None  # set at the first act, when a vector gene's width (the fitted model's outcomes) is known
        self.detector_ = None
        self.archive_: list[dict[str, np.ndarray]] = []  # each round's detector, after its update
        self.rounds_: list[Data] = []  # each round's trained-on generators (test samples, pooled)
        self.champions_: list[Data] = []  # each round's best evader's samples
        self.ciao_ = np.zeros((0, 0))
        self.cache_: list = []
        self.fid0_: float | None = None
        self.web_ = Web(pop, self.web) if self.web else None

    def fidelity(self, models, samples: list[Data] | None = None) -> np.ndarray:
        """``(P,)``: the weighted mean log-likelihood of the real reference set (per token for text) under the
        distribution each generator samples from (its genes in force); or, with ``fidelity = "distance"``, minus
        the :func:`distance` from each generator's ``samples`` (needed then) to the reference set."""
        if self.fidelity_kind == "distance":
            return np.array([-distance(s, self.scorer_.data) for s in samples])
        lp = self.scorer_.log_likelihoods(models, decoded=True)
        w = self.scorer_.weights
        with np.errstate(invalid="ignore"):
            return (lp * w).sum(axis=1) / w.sum()

    # -- the round ------------------------------------------------------------------------------------------

    def act(self, pop, generation: int, rng: np.random.Generator) -> dict[int, list]:
        members = pop.member_list
        if self.genes_ is None:
            self.genes_ = G.initial(pop.make_family, self.genes, len(members), members[0].model)
        for m in members:
            m.model = G.apply(pop.make_family, m.model, self.genes, self.genes_[m.index])
        if self.detector_ is None:
            return {}
        models = pop.models()
        drawn = [m.sample(self.samples, rng) for m in models]
        scores = score_parts(self.detector_, drawn)
        evasion = np.array([1.0 - float(np.mean(s)) for s in scores])
        fidelity = self.fidelity(models, drawn)
        floor = self.fid0_ - self.slack
        plan = (replacements(self.trained_, evasion, fidelity, floor, self.children, rng)
                + replacements(self.held_, evasion, fidelity, floor, self.children, rng))
        if not plan:
            return {}
        g = genomes(models)
        new_genes = self.genes_.copy()
        edges: dict[int, list] = {}
        for lost, a, b in plan:
            vec, w = self.breeding.child(g, a, b, rng)
            new_genes[lost] = G.child(self.genes, self.genes_[a], self.genes_[b], w, self.gene_sigma, rng)
            members[lost].model = G.apply(pop.make_family, g.build(vec), self.genes, new_genes[lost])
            edges[lost] = [Parent(a, 1.0 - w, "merge"), Parent(b, w, "merge")]
        self.genes_ = new_genes
        return edges

    def _fit(self, pop, synthetic: Data, rng: np.random.Generator):
        return self.new_detector().fit(pop.world.sample(self.samples, rng), synthetic, rng)

    def measure(self, pop, generation: int, rng: np.random.Generator) -> dict[int, tuple[dict, dict]]:
        models = pop.models()
        n = self.samples
        per = -(-n // self.trained_.size)
        # one draw per generator: its test items, and for the trained-on ones their share of the next fit
        drawn = [split(m.sample(n + (per if i < self.trained_.size else 0), rng), n) for i, m in enumerate(models)]
        tests = [t for t, _ in drawn]
        newest = concat([drawn[i][1] for i in self.trained_])
        newest = newest.take(n, rng) if len(newest) > n else newest
        fidelity = self.fidelity(models, tests)
        if self.detector_ is None:
            self.fid0_ = float(np.mean(fidelity))
            self.detector_ = self._fit(pop, newest, rng)
        det = self.detector_
        s_real, *scores = score_parts(det, [self.real_test_, *tests])
        t = threshold(s_real)
        evasion = np.array([float(np.mean(s <= t)) for s in scores])
        trained = np.concatenate([scores[i] for i in self.trained_])
        shared = {
            "det_auc": auc(s_real, trained),
            "det_tpr1": tpr_at_fpr(s_real, trained, FPR),
            "evasion_rate": float(evasion[self.trained_].mean()),
            "fidelity": float(np.mean(fidelity[self.trained_])),
            "fidelity_cost": self.fid0_ - float(np.mean(fidelity[self.trained_])),
        }
        if hasattr(det, "converged_"):  # a classifier that stopped at its iteration limit says so here, not on stderr
            shared["det_converged"] = float(det.converged_)
        if self.held_.size:
            held = np.concatenate([scores[i] for i in self.held_])
            shared["det_auc_heldout"] = auc(s_real, held)
            shared["det_tpr1_heldout"] = tpr_at_fpr(s_real, held, FPR)
            shared["evasion_rate_heldout"] = float(evasion[self.held_].mean())
        # archive this round's generators and champion, then the detector moves
        self.rounds_.append(concat([tests[i] for i in self.trained_]).take(n, rng))
        champ = int(self.trained_[np.argmax([1.0 - float(np.mean(scores[i])) for i in self.trained_])])
        self.champions_.append(models[champ].sample(n, rng))
        if generation > 0 and self.regime.refits(generation):
            self.detector_ = self._fit(pop, self.regime.opponents(newest, self.champions_, self.rounds_, n, rng), rng)
        self.archive_.append(self.detector_.state())
        row, col = self._ciao()
        shared["det_generality"] = float(np.mean(col))
        if self.web_ is not None:
            passed = concat([subset(x, np.flatnonzero(s <= t)) for x, s in zip(tests, scores)])
            shared.update(self.web_.round(pop.world, generation, passed if len(passed) else None, rng))
        dists = {"ciao_row": row, "ciao_col": col}
        out = {}
        for m in pop.member_list:
            i = m.index
            own = {"arena_evasion": float(evasion[i]), "arena_fidelity": float(fidelity[i]),
                   "arena_heldout": float(i in self.held_)}
            own.update({f"arena_{name}": v for name, v in G.summary(self.genes, self.genes_[i]).items()})
            out[i] = ({**shared, **own}, dists)
        return out

    def _ciao(self) -> tuple[np.ndarray, np.ndarray]:
        """Grow the CIAO matrix (rows: generator rounds, columns: detector rounds; AUC) by the newest row and
        column; returns them (row: this round's generators against detectors 0..g; column: this round's
        detector against generators 0..g)."""
        g = len(self.rounds_) - 1
        ciao = np.full((g + 1, g + 1), np.nan)
        ciao[:g, :g] = self.ciao_
        newest = self.rounds_[-1]
        for j in range(len(self.cache_), g):  # archived detectors and their real scores (rebuilt after a resume)
            det = self.new_detector().load_state(self.archive_[j])
            self.cache_.append((det, det.score(self.real_test_)))
        for j, (det, s_real) in enumerate(self.cache_):
            ciao[g, j] = auc(s_real, det.score(newest))
        s_real, *old = score_parts(self.detector_, [self.real_test_, newest, *self.rounds_[:g]])
        ciao[g, g] = auc(s_real, old[0])
        for i, s in enumerate(old[1:]):
            ciao[i, g] = auc(s_real, s)
        self.ciao_ = ciao
        return ciao[g, :].copy(), ciao[:, g].copy()

    # -- checkpoints ----------------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {"genes": np.zeros((0, 0)) if self.genes_ is None else self.genes_, "ciao": self.ciao_}
        if self.detector_ is not None:
            arrays.update({f"det.{k}": v for k, v in self.detector_.state().items()})
        for j, st in enumerate(self.archive_):
            arrays.update({f"archive{j}.{k}": v for k, v in st.items()})
        for prefix, items in (("round", self.rounds_), ("champion", self.champions_)):
            for i, d in enumerate(items):
                arrays.update({f"{prefix}{i}.{k}": v for k, v in d.to_arrays().items()})
        meta = {"fid0": self.fid0_, "rounds": len(self.rounds_), "detector": self.detector_ is not None}
        if self.web_ is not None:
            w_arrays, meta["web"] = self.web_.state()
            arrays.update({f"web.{k}": v for k, v in w_arrays.items()})
        return arrays, meta

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore :meth:`state`'s output; ``ValueError`` for a state no run writes (genes, CIAO matrix, rounds
        or detectors that do not fit this arena and generation)."""
        def sub(prefix):
            p = prefix + "."
            return {k[len(p):]: v for k, v in arrays.items() if k.startswith(p)}

        rounds = restored.whole(meta, "rounds", lo=self.pop.generation + 1, hi=self.pop.generation + 1)
        genes = restored.array(arrays, "genes", shape=(None, None)).astype(np.float64)
        if genes.size or not self.genes:  # (0, 0): saved before the first act
            genes = G.check(self.pop.make_family, self.genes, genes, len(self.pop.member_list),
                            self.pop.member_list[0].model)
        self.genes_ = genes if genes.size or not self.genes else None
        self.ciao_ = restored.array(arrays, "ciao", shape=(rounds, rounds), finite=False, lo=0.0, hi=1.0)
        self.fid0_ = restored.number(meta, "fid0", finite=False)  # a truncated generator's log-likelihood can be -inf
        template = Template(self.real_test_)
        self.detector_ = self.new_detector().load_state(sub("det")) if restored.flag(meta, "detector") else None
        self.archive_ = [sub(f"archive{j}") for j in range(rounds)]
        self.cache_ = []
        for st in self.archive_:  # every archived detector must load (a run scores each again, in _ciao)
            det = self.new_detector().load_state(st)
            self.cache_.append((det, det.score(self.real_test_)))
        self.rounds_ = [template.restore(sub(f"round{i}")) for i in range(rounds)]
        self.champions_ = [template.restore(sub(f"champion{i}")) for i in range(rounds)]
        if self.web_ is not None:
            self.web_.load_state(sub("web"), restored.table(meta, "web"))
