import pytest

from redqueen.runtime import config as C

BASE = {
    "world": {"kind": "zipf", "k": 50},
    "family": {"kind": "categorical"},
    "arms": [{"name": "replace"}],
}


def _with(**changes):
    d = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in BASE.items()}
    d.update(changes)
    return d


def test_default_demo_is_valid():
    exp = C.load(C.default_path())
    assert len(exp.arms) >= 4 and exp.world.kind == "wordfreq"


@pytest.mark.parametrize(
    "data, expected",
    [
        (_with(bogus=1), "bogus: unknown key"),
        (_with(world={"kind": "zipf", "k": 1}), "world.k: Input should be greater than or equal to 2 (got 1)"),
        (_with(world={"kind": "zipf", "kk": 3}), "world.kk: unknown key"),
        (_with(world={"kind": "nope"}), "world"),
        (_with(generations="many"), "generations: Input should be a valid integer"),
        (_with(n=-5), "n: Input should be greater than or equal to 2"),
        (_with(arms=[]), "arms: List should have at least 1 item"),
        (_with(arms=[{"name": "a"}, {"name": "a"}]), "arm names must be unique; repeated: a"),
        (_with(arms=[{"name": "a", "regime": "sideways"}]), "arms.a.regime: Input should be 'replace'"),
        (_with(arms=[{"name": "a", "real_fraction": float("nan")}]), "arms.a.real_fraction"),
        (_with(arms=[{"name": "a", "curation": [{"kind": "filter", "keep": 0}]}]), "arms.a.curation[0].keep"),
        (_with(arms=[{"name": "a", "family": {"alpha": -1}}]), "arms.a.family.alpha: Input should be greater"),
        (_with(arms=[{"name": "a", "family": {"kind": "gaussian"}}]), "cannot change the family kind"),
        (_with(family={"kind": "gaussian"}), "family 'gaussian' cannot model world 'zipf'; use one of: categorical"),
        (_with(family={"kind": "plugin", "cls": "os.system"}), "family.cls: String should match pattern"),
        ({}, "required key is missing"),
    ],
)
def test_bad_configs_get_one_line_naming_the_key(data, expected):
    with pytest.raises(C.ConfigError) as e:
        C.validate(data)
    msg = str(e.value)
    assert expected in msg
    assert "\n" not in msg


def test_bad_files(tmp_path):
    with pytest.raises(C.ConfigError, match="no such config file"):
        C.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [")
    with pytest.raises(C.ConfigError, match="not valid TOML"):
        C.load(bad)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(C.ConfigError, match="not UTF-8"):
        C.load(binary)


def test_arm_family_overrides_merge():
    exp = C.validate(_with(arms=[{"name": "smooth", "family": {"alpha": 0.5}}]))
    assert exp.arm_family(exp.arms[0]).alpha == 0.5
    assert exp.family.alpha == 0.0


def test_keys_reference_lists_every_world_and_family():
    ref = C.keys_reference()
    for kind in ("zipf", "wordfreq", "gaussian", "mixture", "digits", "text", "categorical", "gmm", "kde", "ngram",
                 "plugin", "noise", "filter"):
        assert f'kind = "{kind}"' in ref


def test_docs_config_is_the_generated_reference():
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "docs" / "config.md"
    assert docs.read_text() == C.DOCS_HEADER + C.keys_reference(), "regenerate: redqueen keys > docs/config.md"


@pytest.mark.parametrize("arms, expected", [
    ([{"name": "b b", "couplings": [{"kind": "merge", "children": 0}], "members": 3}], "arms.b b.couplings[0].children:"),
    ([{"name": "b", "curation": [{"kind": "noise", "rate": 0.1}, {"kind": "filter", "keep": 2}]}],
     "arms.b.curation[1].keep:"),
    ([{"name": "b", "curation": [{"kind": "noise", "rate": 0.1}, {"kind": "substitute", "rate": 0.5}]}],
     "arms.b.curation[1]: attacks on a watermark"),  # a check after pydantic's: the same form
    ([{"name": "b", "members": 3, "couplings": [{"kind": "niches", "score": "coverage"},
                                                {"kind": "migration", "rate": 2}]}], "arms.b.couplings[1].rate:"),
    ([{"name": "b"}, {"regime": "x"}], "arms[1].name: required key is missing"),  # no name to call it by
])
def test_every_error_names_an_arm_and_its_steps_one_way(arms, expected):
    """pydantic's locations (arms.0.curation.1.keep) read as the later checks write keys: the arm by name, a
    list's item by index."""
    with pytest.raises(C.ConfigError) as e:
        C.validate(_with(arms=arms))
    assert str(e.value).startswith(expected), str(e.value)


def test_a_config_with_several_problems_names_every_key_in_its_one_line():
    """'(and 1 more problem(s))' hid where the others were: a user fixed one and met the next, one run at a time."""
    data = {"generations": 2, "n": 10, "foo": 1, "world": {"kind": "zipf", "k": 0}, "family": {"kind": "categorical"},
            "arms": [{"name": "a", "bar": 2}]}
    with pytest.raises(C.ConfigError) as e:
        C.validate(data)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("world.k: ") and msg.endswith("(and 2 more problems: arms.a.bar, foo)")
    with pytest.raises(C.ConfigError) as e:
        C.validate({**data, "foo": None, "arms": [{"name": "a"}]} | {"foo": 1})
    assert str(e.value).endswith("(and 1 more problem: foo)")
