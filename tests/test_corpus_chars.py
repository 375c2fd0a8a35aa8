"""Character corpus: vocabulary, encoding and windows over the global stream, split, errors."""

import gzip

import numpy as np
import pytest

from sparknn.corpus import read_text
from sparknn.corpus.chars import UNKNOWN, CharVocab, build_corpus, gather_examples
from sparknn.distributed import BatchSchedule
from sparknn.errors import SparknnError


@pytest.fixture(scope="module")
def small_text(dubliners_path, tmp_path_factory):
    """~30 KB of Dubliners split over three files (one gzipped), so partitions vary."""
    text = dubliners_path.read_text(encoding="utf-8").lstrip("\ufeff")[:30000]
    lines = text.split("\n")
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3]]
    thirds.append(lines[2 * len(lines) // 3 :])
    folder = tmp_path_factory.mktemp("corpus")
    paths = []
    for i, chunk in enumerate(thirds):
        body = "\n".join(chunk) + "\n"
        path = folder / (f"part{i}.txt.gz" if i == 1 else f"part{i}.txt")
        if i == 1:
            with gzip.open(path, "wt", encoding="utf-8") as handle:
                handle.write(body)
        else:
            path.write_text(body, encoding="utf-8")
        paths.append(path)
    stream = "".join("\n".join(chunk) + "\n" for chunk in thirds)
    return [str(p) for p in paths], stream


def test_vocab_maps_rare_characters_to_unknown():
    vocab = CharVocab.from_counts({"a": 5, "b": 1, "c": 3}, min_count=2)
    assert vocab.chars == (UNKNOWN, "a", "c")
    assert vocab.encode("abcx").tolist() == [1, 0, 2, 0]
    assert vocab.decode(vocab.encode("caca")) == "caca"
    assert vocab.dtype == np.uint8


def test_windows_match_the_text_whatever_the_partitioning(spark, small_text):
    paths, stream = small_text
    layouts = {}
    for partitions in (1, 3):
        corpus = build_corpus(
            read_text(spark, paths), seq_len=40, partitions=partitions, tasks=min(partitions, 2)
        )
        assert corpus.n_chars == len(stream)
        assert corpus.n_windows == (len(stream) - 41) // 40 + 1
        shards = corpus.shards.collect()
        assert len(shards) == partitions
        windows = np.array([0, 1, 7, corpus.n_windows // 2, corpus.n_windows - 1])
        x, y = gather_examples(shards, windows)
        for row, w in enumerate(windows):  # reference: slice the text read by plain Python
            assert corpus.vocab.decode(x[row]) == stream[w * 40 : w * 40 + 40]
            assert corpus.vocab.decode(y[row]) == stream[w * 40 + 1 : w * 40 + 41]
        layouts[partitions] = (corpus.vocab, corpus.train_windows, corpus.val_windows)
        corpus.unpersist()
    assert layouts[1][0] == layouts[3][0]
    np.testing.assert_array_equal(layouts[1][1], layouts[3][1])
    np.testing.assert_array_equal(layouts[1][2], layouts[3][2])
    n_val, n_all = len(layouts[1][2]), len(layouts[1][1]) + len(layouts[1][2])
    assert 0 < n_val < 0.15 * n_all  # val_fraction 0.05 by a hash: roughly, never all


def test_batches_are_a_function_of_seed_and_step():
    train = np.arange(100, 200)
    a, b = BatchSchedule(train, 30, seed=1), BatchSchedule(train, 30, seed=1)
    assert a.steps_per_epoch == 3
    np.testing.assert_array_equal(a.batch(4), b.batch(4))
    epoch = np.concatenate([a.batch(t) for t in range(3)])
    assert len(set(epoch.tolist())) == 90 and set(epoch.tolist()) <= set(train.tolist())
    assert not np.array_equal(a.batch(0), BatchSchedule(train, 30, seed=2).batch(0))


def test_missing_empty_short_and_invalid_corpora(spark, tmp_path):
    with pytest.raises(SparknnError, match="corpus not found"):
        read_text(spark, str(tmp_path / "nope.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(SparknnError, match="empty"):
        build_corpus(read_text(spark, str(empty)), seq_len=10, paths=str(empty))
    short = tmp_path / "short.txt"
    short.write_text("tiny\n")
    with pytest.raises(SparknnError, match="fewer than one window"):
        build_corpus(read_text(spark, str(short)), seq_len=10, paths=str(short))
    bad = tmp_path / "bad.txt"
    bad.write_bytes("caf\u00e9 ok\n".encode() + b"broken \xff byte\n")
    with pytest.raises(SparknnError, match=r"bad\.txt: invalid UTF-8 at byte offset 16"):
        build_corpus(read_text(spark, str(bad)), seq_len=3, paths=str(bad))


def test_strip_gutenberg_keeps_the_book_only():
    from sparknn.corpus.reader import strip_gutenberg

    book = (
        "\ufeffThe Project Gutenberg EBook of Dubliners\nlicense text\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK DUBLINERS ***\n\n\n"
        "Produced by David Reed, Karol Pietrzak, and\nDavid Widger\n\n\n"
        "DUBLINERS\n\nThere was no hope for him this time.\n\n"
        "End of the Project Gutenberg EBook of Dubliners, by James Joyce\n\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK DUBLINERS ***\nmore license text\n"
    )
    assert strip_gutenberg(book).strip() == ("DUBLINERS\n\nThere was no hope for him this time.")
    # Without markers the text is left whole, credit line included.
    plain = "Produced by a cooperative.\n\nChapter 1\n"
    assert strip_gutenberg(plain) == plain
