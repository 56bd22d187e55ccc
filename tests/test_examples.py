"""Every shipped example (and every benchmark config) validates, and every population coupling has an
example that builds.

The examples' run times are measured by hand and written in their headers (a timed unit test would
measure the machine's load, not the code).
"""

from pathlib import Path

import pytest

from redqueen.runtime import config as C

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.toml")) + sorted((EXAMPLES.parent / "benchmarks").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[f"{p.parent.name}/{p.stem}" for p in CONFIGS])
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


#: where each coupling kind's example lives (population_<kind>.toml unless named here)
EXAMPLE_OF = {"m2n2": "evolve_digits_runtime.toml", "ga": "evolve_digits_runtime.toml",
              "map_elites": "evolve_digits_runtime.toml", "cma": "evolve_digits_runtime.toml",
              "arena": "arena_text.toml"}


@pytest.mark.parametrize("kind", sorted(_coupling_kinds()) + ["islands"])
def test_every_coupling_has_an_example_that_builds(kind):
    from redqueen.runtime.build import make_world, plan_arms

    path = EXAMPLES / ("islands.toml" if kind == "islands" else EXAMPLE_OF.get(kind, f"population_{kind}.toml"))
    exp = C.load(path)
    used = {c.kind for a in exp.arms for c in a.couplings}
    assert kind in used or kind == "islands", path
    plans = plan_arms(exp, make_world(exp.world))  # families that cannot merge are refused here
    assert max(p.members for p in plans) > 1
    if kind not in EXAMPLE_OF:  # the population cures are read against replace
        assert exp.arms[0].name == "replace" and exp.arms[0].members == 1, f"{path}: replace comes first, to compare"
