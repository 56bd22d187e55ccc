"""Every input format an audit or a text world reads, each with a malformed twin that fails in one line."""

import json

import numpy as np
import pytest

from redqueen.io import ReadError, detect_kind, iter_texts, read_set, tokenize
from redqueen.worlds.text import TextWorld

RNG = np.random.default_rng


def write_text(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_images(folder, shapes, mode="L"):
    Image = pytest.importorskip("PIL.Image")
    folder.mkdir()
    for i, shape in enumerate(shapes):
        a = (np.arange(np.prod(shape)).reshape(shape) * (i + 1) % 256).astype(np.uint8)
        Image.fromarray(a, mode=None).convert(mode).save(folder / f"img{i}.png")
    return folder


# --- good inputs --------------------------------------------------------------------------------


def good_inputs(tmp):
    """kind -> (path, kwargs, expected number of items)."""
    out = {}
    out["text"] = (write_text(tmp / "a.txt", ["In the beginning.", "", "And God said, let there be light."]), {}, 2)
    jl = tmp / "a.jsonl"
    jl.write_text("\n".join(json.dumps({"id": i, "body": f"line {i} here"}) for i in range(5)) + "\n")
    out["jsonl"] = (jl, {"field": "body"}, 5)
    folder = tmp / "texts"
    folder.mkdir()
    write_text(folder / "b.txt", ["second file"])
    write_text(folder / "a.txt", ["first file", "more"])
    out["text folder"] = (folder, {}, 3)
    csv = tmp / "t.csv"
    csv.write_text("x,y,label\n1,2,a\n3,4,b\n5,6.5,c\n")
    out["csv"] = (csv, {}, 3)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1.0, 2.0], "b": [3, 4], "s": ["u", "v"]}), tmp / "t.parquet")
    out["parquet"] = (tmp / "t.parquet", {}, 2)
    np.save(tmp / "e.npy", RNG(0).normal(size=(7, 4)).astype(np.float32))
    out["embeddings npy"] = (tmp / "e.npy", {}, 7)
    np.save(tmp / "imgs.npy", RNG(0).integers(0, 255, (6, 3, 3)).astype(np.uint8))
    out["images npy"] = (tmp / "imgs.npy", {}, 6)
    np.savez(tmp / "z.npz", x=np.ones((4, 2)))
    out["npz"] = (tmp / "z.npz", {}, 4)
    out["image folder"] = (make_images(tmp / "imgs", [(4, 5)] * 3), {}, 3)
    return out


def test_every_good_format_reads(tmp_path):
    for name, (path, kw, n) in good_inputs(tmp_path).items():
        s = read_set(path, rng=RNG(0), **kw)
        assert s.n_items == n, name
        assert len(s.sha256) == 64
        if name in ("text", "jsonl", "text folder"):
            assert s.kind == "text" and len(s.items) == n
        else:
            assert s.x.shape[0] == n and s.x.dtype == np.float64
    assert read_set(tmp_path / "t.csv", rng=RNG(0)).x.tolist() == [[1, 2], [3, 4], [5, 6.5]]  # label column skipped
    assert read_set(tmp_path / "imgs.npy", rng=RNG(0)).x.shape == (6, 9)
    img = read_set(tmp_path / "imgs", rng=RNG(0)).x
    assert img.shape == (3, 20) and 0 <= img.min() and img.max() <= 1
    assert list(iter_texts(tmp_path / "texts")) == ["first file", "more", "second file"]  # sorted by path


def test_kinds_are_detected(tmp_path):
    g = good_inputs(tmp_path)
    assert [detect_kind(g[k][0]) for k in ("text", "jsonl", "text folder", "csv", "parquet", "npz", "image folder")] \
        == ["text", "text", "text", "table", "table", "arrays", "images"]


# --- malformed twins ----------------------------------------------------------------------------


def malformed(tmp):
    """name -> (path, kwargs, a regex the one-line message matches)."""
    out = {}
    (tmp / "empty.txt").write_text("\n\n  \n")
    out["empty text"] = (tmp / "empty.txt", {}, r"empty\.txt: no text")
    (tmp / "blob.txt").write_bytes(b"ELF\x00\x01\x02binary")
    out["binary text"] = (tmp / "blob.txt", {}, r"not UTF-8 text.*NUL byte on line 1")
    (tmp / "latin.txt").write_bytes(b"ok\ncaf\xe9\n")
    out["latin-1 text"] = (tmp / "latin.txt", {}, r"not UTF-8 text \(line 2")
    jl = tmp / "bad.jsonl"
    jl.write_text('{"body": "a"}\n{"body": "b"\n')
    out["broken jsonl"] = (jl, {"field": "body"}, r"line 2 is not JSON")
    jl2 = tmp / "wrong.jsonl"
    jl2.write_text('{"body": "a"}\n')
    out["wrong field"] = (jl2, {"field": "text"}, r"line 1 has no field 'text' \(fields: body\); pass --field")
    jl3 = tmp / "num.jsonl"
    jl3.write_text('{"body": 3}\n')
    out["non-string field"] = (jl3, {"field": "body"}, r"field 'body' is a int, not a string")
    write_text(tmp / "plain.txt", ["a"])
    out["field on plain text"] = (tmp / "plain.txt", {"field": "x"}, r"--field 'x' is for JSONL")
    (tmp / "nofiles").mkdir()
    (tmp / "nofiles" / "x.bin").write_bytes(b"1")
    out["folder without text"] = (tmp / "nofiles", {"kind": "text"}, r"folder without \.txt")
    (tmp / "ragged.csv").write_text("x,y\n1,2\n3,4,5\n")
    out["ragged csv"] = (tmp / "ragged.csv", {}, r"cannot read the table.*same number of fields")
    (tmp / "words.csv").write_text("a,b\nx,y\n")
    out["csv without numbers"] = (tmp / "words.csv", {}, r"no numeric columns")
    (tmp / "holes.csv").write_text("a,b\n1,\n2,3\n")
    out["csv with holes"] = (tmp / "holes.csv", {}, r"column 'b' has 1 empty cell")
    (tmp / "header.csv").write_text("a,b\n")
    out["csv header only"] = (tmp / "header.csv", {}, r"no rows")
    (tmp / "fake.parquet").write_bytes(b"not parquet at all")
    out["broken parquet"] = (tmp / "fake.parquet", {}, r"cannot read the table")
    (tmp / "fake.npy").write_bytes(b"\x93NUMPY garbage")
    out["broken npy"] = (tmp / "fake.npy", {}, r"not a numpy file")
    np.save(tmp / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out["object npy"] = (tmp / "obj.npy", {}, r"not a plain numeric array")
    np.save(tmp / "nan.npy", np.array([[1.0, np.nan]]))
    out["npy with nan"] = (tmp / "nan.npy", {}, r"NaN or infinite value\(s\) \(first in row 0\)")
    np.save(tmp / "none.npy", np.zeros((0, 3)))
    out["empty npy"] = (tmp / "none.npy", {}, r"no rows")
    np.savez(tmp / "two.npz", a=np.ones(2), b=np.ones(2))
    out["npz without --field"] = (tmp / "two.npz", {}, r"holds arrays a, b; pass --field")
    out["npz wrong --field"] = (tmp / "two.npz", {"field": "c"}, r"has no array 'c'")
    make_images(tmp / "mixed", [(4, 5), (4, 5), (5, 5)])
    out["images of mixed sizes"] = (tmp / "mixed", {}, r"images of mixed sizes.*img2\.png")
    (tmp / "broken_img").mkdir()
    (tmp / "broken_img" / "x.png").write_bytes(b"\x89PNG not really")
    out["unreadable image"] = (tmp / "broken_img", {}, r"x\.png: not a readable image")
    out["missing file"] = (tmp / "nowhere.txt", {}, r"nowhere\.txt: no such file")
    out["unknown kind"] = (tmp / "plain.txt", {"kind": "audio"}, r"--kind 'audio' is unknown")
    return out


def test_every_malformed_twin_fails_in_one_line(tmp_path):
    for name, (path, kw, pattern) in malformed(tmp_path).items():
        with pytest.raises(ReadError, match=pattern) as info:
            read_set(path, rng=RNG(0), **kw)
        assert "\n" not in str(info.value), name


def test_reservoir_sample_is_uniform_seeded_and_in_order(tmp_path):
    path = write_text(tmp_path / "many.txt", [f"item {i}" for i in range(2000)])
    a = read_set(path, sample=100, rng=RNG(1))
    b = read_set(path, sample=100, rng=RNG(1))
    c = read_set(path, sample=100, rng=RNG(2))
    assert a.items == b.items != c.items and len(a.items) == 100 and a.n_items == 2000
    idx = [int(s.split()[1]) for s in a.items]
    assert idx == sorted(idx)
    assert a.n_tokens == 4000 and a.counts["item"] == 2000  # whole-file counts, not the sample's
    # uniformity: over many seeds each item is kept with probability 100/2000 (chi-square on deciles)
    hits = np.zeros(10)
    for seed in range(60):
        for i in (int(s.split()[1]) for s in read_set(path, sample=100, rng=RNG(seed)).items):
            hits[i // 200] += 1
    from scipy.stats import chisquare

    assert chisquare(hits).pvalue > 1e-3


def test_tokenizer_is_the_text_worlds():
    assert tokenize("And God said, Let there be light: don't.") == \
        ["and", "god", "said", ",", "let", "there", "be", "light", ":", "don't", "."]


def test_text_world_from_jsonl_folder_and_saved_dataset(tmp_path):
    lines = [f"the {w} sat on the mat ." for w in ("cat", "dog", "cow", "hen", "pig", "ram", "ewe", "fox")] * 5
    jl = tmp_path / "c.jsonl"
    jl.write_text("\n".join(json.dumps({"t": s}) for s in lines))
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_text(folder / "part1.txt", lines[:20])
    write_text(folder / "part2.txt", lines[20:])
    plain = write_text(tmp_path / "c.txt", lines)
    ref = TextWorld(corpus=str(plain), heldout_fraction=0.2)
    for w in (TextWorld(corpus=str(jl), field="t", heldout_fraction=0.2),
              TextWorld(corpus=str(folder), heldout_fraction=0.2)):
        assert w.vocab == ref.vocab and np.array_equal(w.train.tokens, ref.train.tokens)
    with pytest.raises(ValueError, match="has no field 'text'"):
        TextWorld(corpus=str(jl))
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"t": lines}),
                          "test": datasets.Dataset.from_dict({"t": lines[:3]})}).save_to_disk(str(tmp_path / "ds"))
    w = TextWorld(corpus=str(tmp_path / "ds"), field="t", heldout_fraction=0.2)
    assert np.array_equal(w.train.tokens, ref.train.tokens)
    assert len(TextWorld(corpus=str(tmp_path / "ds"), field="t", split="test", heldout_fraction=0.2).train) <= 3
    with pytest.raises(ValueError, match="no split 'dev'"):
        TextWorld(corpus=str(tmp_path / "ds"), field="t", split="dev")
    with pytest.raises(ValueError, match="no column 'text'"):
        TextWorld(corpus=str(tmp_path / "ds"))
    assert read_set(tmp_path / "ds", field="t", rng=RNG(0)).n_items == 40
