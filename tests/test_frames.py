"""DataFrames and figures for notebooks."""

import numpy as np
import pytest

import redqueen

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    exp = redqueen.validate({"seed": 1, "generations": 6, "n": 50, "replicates": 3,
                             "world": {"kind": "zipf", "k": 20}, "family": {"kind": "categorical"},
                             "arms": [{"name": "replace"}, {"name": "accumulate", "regime": "accumulate"}]})
    return redqueen.run_experiment(exp, store=redqueen.Store(tmp_path_factory.mktemp("runs")))


def test_to_frame_and_store_frame_agree_with_trajectory(result):
    f = result.to_frame()
    assert len(f) == 2 * 3 * 7 and list(f.columns[:4]) == ["arm", "replicate", "member", "generation"]
    g = redqueen.Store(result.folder).frame(result.run_id[:10])
    assert g.attrs["run_id"] == result.run_id
    pd.testing.assert_frame_equal(f.reset_index(drop=True), g.reset_index(drop=True), check_like=True)
    h = f[f.arm == "replace"].pivot(index="replicate", columns="generation", values="heterozygosity").to_numpy()
    assert np.array_equal(h, result.trajectory("replace", "heterozygosity"))


def test_plot_returns_a_figure_with_theory(result):
    from matplotlib.figure import Figure

    fig = redqueen.plot.metric(result, "heterozygosity")
    assert isinstance(fig, Figure)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "replace" in labels and "replace (theory)" in labels
    store_fig = redqueen.plot.metric((redqueen.Store(result.folder), "latest"), "kl", theory=False)
    assert [line.get_label() for line in store_fig.axes[0].lines] == ["replace", "accumulate"]
    with pytest.raises(KeyError, match="no record has metric 'nope'"):
        redqueen.plot.metric(result, "nope")
