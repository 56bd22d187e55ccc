"""Every shipped example validates, and every population coupling has an example that builds.

The examples' run times are measured by hand and written in their headers (a timed unit test would
measure the machine's load, not the code).
"""

from pathlib import Path

import pytest

from redqueen.runtime import config as C

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_example_validates(path):
    data = C.read_toml(path)
    if "method" in data or "evolve" in data:  # `redqueen evolve` configs
        from redqueen.evolve.runner import EvolveConfig

        C.validate_as(EvolveConfig, data.get("evolve", data), prefix=str(path))
    else:
        exp = C.load(path)
        assert exp.arms


def _coupling_kinds() -> set[str]:
    import typing

    union = typing.get_args(C.Coupling)[0]
    return {typing.get_args(m.model_fields["kind"].annotation)[0] for m in typing.get_args(union)}


def test_every_coupling_has_an_example_that_builds():
    from redqueen.runtime.build import make_world, plan_arms

    kinds = _coupling_kinds()
    assert kinds == {"migration", "merge", "niches", "quality_diversity", "island_reset"}
    for kind in sorted(kinds) + ["islands"]:
        path = EXAMPLES / (f"population_{kind}.toml" if kind != "islands" else "islands.toml")
        exp = C.load(path)
        used = {c.kind for a in exp.arms for c in a.couplings}
        assert kind in used or kind == "islands", path
        assert exp.arms[0].name == "replace" and exp.arms[0].members == 1, f"{path}: replace comes first, to compare"
        plans = plan_arms(exp, make_world(exp.world))  # families that cannot merge are refused here
        assert max(p.members for p in plans) > 1
