"""Provenance in the loop: real draws tagged with their generation, the mixed curation stage, and what it did.

With provenance on (an arm with a ``web`` regime, a mixed-stage curation step, or ``provenance = true``)
every item carries its origin (:mod:`redqueen.data`): real items ``(generation, REAL)``, synthetic
items ``(generation, member)`` of the model that emitted them. The training-set phase then records,
per member and generation, what its training set is made of and what the mixed stage removed,
measured against those tags (the filters never see them):

* ``train_synthetic_share`` -- synthetic share of the training set the model is fitted to;
* ``train_real_items``, ``train_synthetic_items`` -- its item counts;
* ``train_synthetic_age`` -- mean age in generations of its synthetic items (1 = the last model's);
* ``mix_synthetic_share`` -- the share before the mixed stage (only with mixed-stage steps);
* ``filter_precision``, ``filter_recall``, ``filter_fpr``, ``filter_removed`` -- the mixed stage's
  realised precision (share of what it removed that was synthetic), recall (share of synthetic
  removed), false-positive rate (share of real removed) and the items it removed
  (:func:`redqueen.metrics.filter_quality`'s definitions, on item counts);
* ``pool_synthetic_share``, ``pool_items`` -- the synthetic share and size of the regime's pool
  (the web, for the ``web`` regime) after this generation's arrivals;
* ``radioactivity_z``, ``radioactivity_p``, ``radioactivity_green_share`` -- with ``radioactivity``
  samples asked for (a watermarked family on text), Sander et al. (2024)'s test of whether this
  generation's training set taught a model the watermark: the family *without* its watermark is
  fitted to the training set and sampled, and its distinct (context, token) tuples are tested for
  a green bias under the family's key (:func:`redqueen.watermark.radioactivity`). Its randomness
  comes from a stream of its own (spawn key ``(replicate, 4, member, generation)``), so asking for
  it changes no other number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redqueen.data import REAL, Composition, Data


@dataclass(frozen=True)
class Tagged:
    """A world whose draws are tagged as real items of ``generation`` (what a regime sees with provenance on)."""

    world: object
    generation: int

    def sample(self, n: int, rng: np.random.Generator) -> Data:
        return self.world.sample(n, rng).tag(self.generation, REAL)

    def __getattr__(self, name):
        return getattr(self.world, name)


def mixed_stage(steps, data: Data, model, world, rng: np.random.Generator) -> Data:
    """The mixed-stage curation steps in order on the mixed training set ``data`` (each ``apply``)."""
    for step in steps:
        data = step.apply(data, model, world, rng)
    return data


def removal(before: Composition, after: Composition) -> dict[str, float]:
    """What went from ``before`` to ``after``, against provenance: precision, recall, false-positive rate, removed
    (:func:`redqueen.metrics.filter_quality` on the four cells removed/kept x synthetic/real; ``nan`` where
    nothing is behind a ratio)."""
    from redqueen.metrics.detection import filter_quality

    hit, lost_real = before.synthetic - after.synthetic, before.real - after.real
    q = filter_quality(np.array([True, False, True, False]), np.array([True, True, False, False]),
                       np.array([hit, after.synthetic, lost_real, after.real], dtype=np.float64))
    return {"filter_precision": q.precision, "filter_recall": q.recall, "filter_fpr": q.false_positive_rate,
            "filter_removed": q.removed}


def synthetic_age(comp: Composition, generation: int) -> float:
    """Mean age of the synthetic items, in generations since the model that made them was fitted."""
    ages = [(generation - g, c) for (g, m), c in comp.by_origin if m != REAL]
    total = sum(c for _, c in ages)
    return sum(a * c for a, c in ages) / total if total else float("nan")


def training_metrics(train: Data, mixed: Data | None, pool: Data | None, generation: int) -> dict[str, float]:
    """The provenance metrics of one training set (see the module docstring); ``mixed`` is the set before
    the mixed stage (``None`` without one), ``pool`` the regime's pool to report (``None``: none)."""
    comp = train.composition()
    out = {"train_synthetic_share": comp.synthetic_share, "train_real_items": float(comp.real),
           "train_synthetic_items": float(comp.synthetic),
           "train_synthetic_age": synthetic_age(comp, generation)}
    if mixed is not None:
        before = mixed.composition()
        out["mix_synthetic_share"] = before.synthetic_share
        out.update(removal(before, comp))
    if pool is not None:
        p = pool.composition()
        out.update(pool_synthetic_share=p.synthetic_share, pool_items=float(p.items))
    return out


def radioactivity_metrics(pop, member, train: Data) -> dict[str, float]:
    """Sander et al.'s radioactivity test of ``train`` (see the module docstring); ``pop.radioactivity`` samples."""
    from redqueen.watermark import as_watermark, radioactivity

    family = pop.make_family()
    wm = as_watermark(family.watermark)
    family.watermark = None
    rng = np.random.default_rng(np.random.SeedSequence(pop.seed, spawn_key=(pop.replicate, 4, member.index,
                                                                            pop.generation)))
    samples = family.fit(train.untracked(), rng).sample(pop.radioactivity, rng)
    r = radioactivity(wm, samples, vocab_size=len(train.vocab))
    return {"radioactivity_z": r.z, "radioactivity_p": r.p_value, "radioactivity_green_share": r.green_share}
