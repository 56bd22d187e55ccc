import numpy as np
import pytest

from redqueen.loop import Accumulate, Filter, Lineage, Noise, Replace, Subsample
from redqueen.models import CategoricalFamily, GaussianFamily, gmm, kde
from redqueen.runtime import checkpoint as ck
from redqueen.worlds import gaussian, ring_mixture, zipf

CASES = {
    "categorical-accumulate-noise": (lambda: zipf(100), CategoricalFamily, Accumulate(), (Noise(rate=0.05),)),
    "categorical-subsample": (lambda: zipf(100), CategoricalFamily, Subsample(budget=200), ()),
    "gaussian-replace": (lambda: gaussian(2), GaussianFamily, Replace(), ()),
    "gmm-filter": (lambda: ring_mixture(4), lambda: gmm(components=4), Replace(), (Filter(keep=0.5),)),
    "kde-accumulate": (lambda: ring_mixture(3), lambda: kde(bandwidth=0.4), Accumulate(), ()),
}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.mark.parametrize("name", CASES)
def test_resume_from_checkpoint_is_bitwise_identical(tmp_path, name):
    make_world, fam, regime, curation = CASES[name]
    world = make_world()

    def make():
        return Lineage(world=world, make_family=fam, regime=regime, n=200, seed=4, curation=curation)

    full = [make_step.metrics for make_step in (lambda lin: [lin.step(texts=True) for _ in range(7)])(make())]
    first = make()
    part = [first.step(texts=True).metrics for _ in range(3)]
    ck.save(first, tmp_path / "l.safetensors")
    assert ck.generation_of(tmp_path / "l.safetensors") == 2
    again = make()
    ck.load(again, tmp_path / "l.safetensors")
    rest = [again.step(texts=True).metrics for _ in range(4)]
    assert all(_same(a, b) for a, b in zip(full, part + rest))


def test_damaged_checkpoints_fail_in_one_line(tmp_path):
    lin = Lineage(world=zipf(20), make_family=CategoricalFamily, regime=Replace(), n=50, seed=1)
    lin.step()
    good = ck.save(lin, tmp_path / "good.safetensors")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04\x95pickle?")
    for bad in (truncated, empty, junk, tmp_path / "missing.safetensors"):
        fresh = Lineage(world=zipf(20), make_family=CategoricalFamily, regime=Replace(), n=50, seed=1)
        with pytest.raises(ck.CheckpointError) as e:
            ck.load(fresh, bad)
        assert "\n" not in str(e.value) and str(bad) in str(e.value)
    other = Lineage(world=zipf(20), make_family=CategoricalFamily, regime=Replace(), n=50, seed=1, arm="other")
    with pytest.raises(ck.CheckpointError, match="belongs to arm"):
        ck.load(other, good)


def test_the_serial_runner_spends_a_bounded_share_of_its_time_on_checkpoints(tmp_path, monkeypatch):
    """On a fake clock (a generation costs 0.125 s, a checkpoint 0 or 1 s): the runner flushes every
    FLUSH_SECONDS while checkpoints are cheap, and waits cost / CHECKPOINT_SHARE after a costly one."""
    from redqueen.runtime import config as C
    from redqueen.runtime import runner
    from redqueen.runtime.store import Store

    clock = {"t": 0.0, "saves": 0}
    step, save = runner.step_safely, ck.save

    def slow_step(pop, *, texts):
        clock["t"] += 0.125
        return step(pop, texts=texts)

    def slow_save(*a, **k):
        clock["t"] += clock["save_cost"]
        clock["saves"] += 1
        return save(*a, **k)

    monkeypatch.setattr(runner, "step_safely", slow_step)
    monkeypatch.setattr(ck, "save", slow_save)
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock["t"])
    exp = C.Experiment.model_validate({"name": "flush", "world": {"kind": "zipf", "k": 50}, "family": {"kind": "categorical"},
                                       "n": 200, "generations": 400, "replicates": 1, "seed": 0,
                                       "arms": [{"name": "replace", "regime": "replace"}]})
    # cheap: every 0.5 s = 4 generations; costly: 1 s / 0.05 = 20 s = 160 generations between checkpoints
    for cost, fewest, most in ((0.0, 95, 101), (1.0, 2, 4)):
        clock.update(t=0.0, saves=0, save_cost=cost)
        runner.run_experiment(exp, store=Store(tmp_path / f"runs{cost}"))
        assert fewest <= clock["saves"] <= most, (cost, clock["saves"])
