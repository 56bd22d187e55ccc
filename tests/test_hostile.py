"""Hostile input: 200+ malformed configs and data files through the CLI, and numerical blow-up inside a run.

Each malformed input must end in one line on stderr and exit code 2, with the
results folder left consistent (no run recorded). A model that produces NaN
ends its own arm as 'diverged' while the other arms go on.
"""

import copy
import math

import numpy as np
import pytest
import tomli_w

from redqueen.cli import main
from redqueen.runtime.store import Store

VALID = {
    "name": "fuzz", "seed": 1, "generations": 2, "n": 50, "replicates": 1,
    "world": {"kind": "zipf", "k": 20, "s": 1.0},
    "family": {"kind": "categorical", "alpha": 0.0, "temperature": 1.0, "top_k": 0, "top_p": 1.0},
    "arms": [{"name": "a", "regime": "fresh", "real_fraction": 0.1, "real_source": "world",
              "curation": [{"kind": "noise", "rate": 0.1}], "family": {"alpha": 0.1}}],
}
BAD_VALUES = ["oops", -1, -(10**30), 10**30, math.nan, math.inf, -math.inf, [], {}, [1, 2], {"a": 1}, True, 1e308, ""]
PATHS = [("name",), ("seed",), ("generations",), ("n",), ("replicates",), ("world", "kind"), ("world", "k"),
         ("world", "s"), ("family", "kind"), ("family", "alpha"), ("family", "temperature"), ("family", "top_k"),
         ("family", "top_p"), ("arms",), ("arms", 0, "name"), ("arms", 0, "regime"), ("arms", 0, "real_fraction"),
         ("arms", 0, "real_source"), ("arms", 0, "curation", 0, "rate"), ("arms", 0, "curation", 0, "kind"),
         ("arms", 0, "family", "alpha"), ("world",), ("family",)]


def _set(d, path, value):
    for p in path[:-1]:
        d = d[p]
    d[path[-1]] = value


def _invalid(path, value) -> bool:
    """Whether setting ``path`` to ``value`` must be rejected (a few bad values are fine for some keys)."""
    ok = {("name",): lambda v: isinstance(v, str) and v != "", ("arms", 0, "name"): lambda v: isinstance(v, str) and v}
    if path in ok:
        return not ok[path](value)
    if path == ("world", "s") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return not (0 <= value <= 10) or math.isnan(value)
    if path in (("seed",),) and isinstance(value, int) and not isinstance(value, bool):
        return not 0 <= value <= 2**63 - 1
    if path == ("family", "alpha") or path == ("arms", 0, "family", "alpha"):
        return not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf)
    return True


def _cases():
    cases = []
    for path in PATHS:
        for value in BAD_VALUES:
            if _invalid(path, value) and not (isinstance(value, bool) and path[-1] in ("top_k",)):
                d = copy.deepcopy(VALID)
                _set(d, path, value)
                cases.append((f"{'.'.join(map(str, path))}={value!r}", d))
    for where in ((), ("world",), ("family",), ("arms", 0), ("arms", 0, "curation", 0)):
        d = copy.deepcopy(VALID)
        target = d
        for p in where:
            target = target[p]
        target["unexpected_key"] = 1
        cases.append((f"unknown key in {where}", d))
    for key in ("world", "family", "arms"):
        d = copy.deepcopy(VALID)
        del d[key]
        cases.append((f"missing {key}", d))
    return cases


CASES = _cases()


def _toml(d) -> str:
    # TOML has no NaN-free null; nan/inf are valid TOML floats, so they reach the validator
    return tomli_w.dumps(d)


def test_enough_cases():
    assert len(CASES) + len(FILES) >= 200


@pytest.mark.parametrize("label, data", CASES, ids=[c[0] for c in CASES])
def test_malformed_config(tmp_path, capsys, label, data):
    cfg = tmp_path / "c.toml"
    cfg.write_text(_toml(data))
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 2, label
    err = capsys.readouterr().err.strip()
    assert err.startswith("redqueen: ") and "\n" not in err and "Traceback" not in err, err
    assert not (out / "runs.db").exists() or Store(out).runs() == []


TEXT_BASE = 'generations = 1\nn = 5\n[family]\nkind = "ngram"\n[[arms]]\nname = "a"\n[world]\nkind = "text"\ncorpus = "CORPUS"\n'
FILES = {
    "empty config": b"",
    "binary config": bytes(range(256)) * 4,
    "truncated toml": b'seed = 1\n[world\nkind = "zipf"',
    "latin-1 config": 'name = "caf\xe9"\n'.encode("latin-1"),
    "huge junk": b"x = " + b"9" * 2_000_000,
    "array of tables as table": b"[[world]]\nkind = 'zipf'\n",
    "empty corpus": b"",
    "binary corpus": b"\x00\x01\x02\xff" * 100,
    "whitespace corpus": b"   \n\n \t\n",
    "non-utf8 corpus": "d\xe9j\xe0 vu\n".encode("latin-1"),
}


@pytest.mark.parametrize("label", list(FILES))
def test_malformed_files(tmp_path, capsys, label):
    out = tmp_path / "runs"
    cfg = tmp_path / "c.toml"
    if label.endswith("corpus"):
        corpus = tmp_path / "corpus.txt"
        corpus.write_bytes(FILES[label])
        cfg.write_text(TEXT_BASE.replace("CORPUS", str(corpus)))
    else:
        cfg.write_bytes(FILES[label])
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 2, label
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert not (out / "runs.db").exists() or Store(out).runs() == []


def test_directory_as_corpus_and_missing_corpus(tmp_path, capsys):
    for corpus in (tmp_path, tmp_path / "missing.txt"):
        cfg = tmp_path / "c.toml"
        cfg.write_text(TEXT_BASE.replace("CORPUS", str(corpus)))
        assert main(["run", str(cfg), "-q", "--no-report", "-o", str(tmp_path / "runs")]) == 2
        assert "\n" not in capsys.readouterr().err.strip()


class ExplodingDensity:
    """A plug-in density whose fit returns NaN parameters when ``explode`` is set."""

    def __init__(self, explode: bool = False):
        self.explode = explode

    def get_params(self, deep=True):
        return {"explode": self.explode}

    def set_params(self, **p):
        self.__dict__.update(p)
        return self

    def fit(self, x):
        self.mean_ = np.full(x.shape[1], np.nan) if self.explode else x.mean(0)
        self.std_ = x.std(0) + 1e-9
        return self

    def sample(self, n, random_state=None):
        rng = np.random.default_rng(random_state)
        return self.mean_ + self.std_ * rng.standard_normal((n, self.mean_.shape[0]))

    def score_samples(self, x):
        z = (x - self.mean_) / self.std_
        return -0.5 * (z**2).sum(1) - np.log(self.std_).sum()


def test_nan_model_diverges_its_arm_only(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'generations = 4\nn = 200\n[world]\nkind = "gaussian"\nd = 2\n[family]\nkind = "plugin"\n'
        'cls = "test_hostile:ExplodingDensity"\n[[arms]]\nname = "stable"\n'
        '[[arms]]\nname = "exploding"\nfamily = { params = { explode = true } }\n'
    )
    out = tmp_path / "runs"
    assert main(["run", str(cfg), "-q", "--no-report", "-o", str(out)]) == 0
    recs = Store(out).records("latest")
    stable = [r for r in recs if r.arm == "stable"]
    exploding = [r for r in recs if r.arm == "exploding"]
    assert [r.generation for r in stable] == list(range(5)) and all(r.status == "ok" for r in stable)
    assert len(exploding) == 1 and exploding[0].status == "diverged" and "NaN" in exploding[0].reason
    assert Store(out).run("latest").status == "done"
