"""The text world: KJV and local-file corpora, splits, vocabulary cap and input errors."""

import numpy as np
import pytest

from redqueen.data import Sequences
from redqueen.worlds import text as text_mod
from redqueen.worlds.text import UNK, TextWorld, kjv_verses


@pytest.fixture(scope="module")
def kjv():
    return TextWorld()


@pytest.fixture
def small_file(tmp_path):
    path = tmp_path / "corpus.txt"
    lines = ["The cat sat on the mat.", "", "A dog barked, loudly!", "The dog's bone.   ", "cat and dog"] * 8
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_kjv_verses_have_no_indices():
    verses = kjv_verses()
    assert len(verses) > 24000
    assert verses[0] == "In the beginning God created the heavens and the earth."
    assert not any(v[:1].isdigit() for v in verses)
    assert not any(":" in v and v.split(":")[0][-1:].isdigit() and v.split(":")[1][:1].isdigit() for v in verses)


def test_kjv_contract(kjv):
    s = kjv.sample(40, np.random.default_rng(0))
    assert isinstance(s, Sequences) and len(s) == 40
    assert s.lengths().min() >= 1 and s.lengths().max() <= kjv.max_len
    assert kjv.log_prob(s) is None
    v = len(kjv.vocab)
    assert v == kjv.vocab_size + 1 and kjv.type_labels[0] == UNK
    p = kjv.type_probs()
    assert p.shape == (v,) and np.isclose(p.sum(), 1) and np.all(p > 0)
    t = kjv.types(s)
    assert t.shape == (v,) and t.sum() == s.lengths().sum()
    assert "the" in s.vocab.tokens and "," in s.vocab.tokens
    assert kjv.describe()["train_sequences"] + kjv.describe()["heldout_sequences"] == len(kjv_verses())


def test_kjv_determinism(kjv):
    a = kjv.sample(25, np.random.default_rng(7))
    b = kjv.sample(25, np.random.default_rng(7))
    c = kjv.sample(25, np.random.default_rng(8))
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.offsets, b.offsets)
    assert not np.array_equal(a.offsets, c.offsets) or not np.array_equal(a.tokens, c.tokens)


def test_kjv_heldout_is_disjoint_and_fixed(kjv):
    held = kjv.heldout()
    assert 0.08 < len(held) / (len(held) + len(kjv.train)) < 0.12
    some = kjv.heldout(10, np.random.default_rng(0))
    assert len(some) == 10
    train_texts = {kjv.train.decode(i) for i in range(len(kjv.train))}
    held_texts = [held.decode(i) for i in range(200)]
    # verses repeat in the Bible, but most held-out verses are not in the training split
    assert sum(t not in train_texts for t in held_texts) > 180
    assert np.array_equal(TextWorld().heldout().tokens, held.tokens)


def test_kjv_is_cached(kjv):
    again = TextWorld()
    assert again.train is kjv.train


def test_char_level_kjv():
    w = TextWorld(level="char", max_len=40)
    s = w.sample(5, np.random.default_rng(0))
    assert s.vocab.joiner == "" and all(len(t) == 1 for t in s.vocab.tokens)
    assert UNK not in w.vocab.tokens  # fewer than vocab_size characters: no cap, no <unk>
    assert s.lengths().max() <= 40
    assert s.decode(0) == s.decode(0).lower()


def test_file_corpus_lines(small_file):
    w = TextWorld(corpus=str(small_file), heldout_fraction=0.0, max_len=4)
    assert len(w.train) == 32  # empty lines skipped
    assert len(w.heldout()) == 0
    s = w.sample(10, np.random.default_rng(0))
    assert s.lengths().max() <= 4
    assert w.train.decode(0) == "the cat sat on"
    assert "'" not in w.vocab.tokens and "dog's" in w.vocab.tokens and "!" not in w.vocab.tokens  # cut by max_len
    assert "!" in TextWorld(corpus=str(small_file), heldout_fraction=0.0).vocab.tokens


def test_file_corpus_sentences_and_cap(small_file):
    w = TextWorld(corpus=small_file, unit="sentence", vocab_size=4, heldout_fraction=0.0)
    # "the" is most frequent; ".", "cat" and "dog" tie and come in alphabetical order
    assert w.vocab.tokens == (UNK, "the", ".", "cat", "dog")
    assert w.type_probs()[0] > 0.4  # many tokens fall outside a 4-token vocabulary
    texts = {w.train.decode(i) for i in range(len(w.train))}
    assert "<unk> dog <unk> <unk> <unk> <unk>" in texts  # "A dog barked, loudly!" is a sentence
    assert "cat <unk> dog the cat <unk> <unk> the <unk> ." in texts  # a line without a full stop runs on


def test_file_is_reloaded_when_changed(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("one two\n", encoding="utf-8")
    assert TextWorld(corpus=str(path), heldout_fraction=0).vocab.tokens == ("one", "two")
    path.write_text("three four five\n", encoding="utf-8")
    assert len(TextWorld(corpus=str(path), heldout_fraction=0).vocab) == 3


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"does not exist.*UTF-8 text file"):
        TextWorld(corpus=str(tmp_path / "nope.txt"))


@pytest.mark.parametrize("content", [b"", b"\n   \n\t\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"empty\.txt.*no text"):
        TextWorld(corpus=str(path))


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"caf\xe9 au lait\n"])
def test_binary_or_non_utf8_file(tmp_path, content):
    path = tmp_path / "blob.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"blob\.bin.*not UTF-8 text.*convert"):
        TextWorld(corpus=str(path))


def test_folder_without_text_files_is_not_a_corpus(tmp_path):
    (tmp_path / "notes.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="folder without .txt or .jsonl files"):
        TextWorld(corpus=str(tmp_path))


def test_bad_options():
    with pytest.raises(ValueError, match="level"):
        TextWorld(level="byte")
    with pytest.raises(ValueError, match="unit"):
        TextWorld(unit="paragraph")
    with pytest.raises(ValueError, match="heldout_fraction"):
        TextWorld(heldout_fraction=1.0)


def test_cache_is_keyed_on_parameters(small_file):
    before = text_mod._load.cache_info().misses
    a = TextWorld(corpus=str(small_file), vocab_size=5)
    b = TextWorld(corpus=str(small_file), vocab_size=6)
    c = TextWorld(corpus=str(small_file), vocab_size=6)
    assert len(a.vocab) == 6 and len(b.vocab) == 7 and c.train is b.train
    assert text_mod._load.cache_info().misses == before + 2
