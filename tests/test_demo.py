"""The quick-start job, with tiny sizes, on the shared test session."""

import re

import pytest

from sparknn.charlm import load_charlm
from sparknn.demo import QUERIES, DemoSettings, run_demo
from sparknn.errors import SparknnError
from sparknn.word2vec.vectors import load_vectors

SCORED = r"(\S+) (-?\d\.\d{3})"


def test_demo_prints_neighbour_tables_and_samples(spark, dubliners_path, tmp_path, capsys):
    settings = DemoSettings.quick()
    (tmp_path / "word2vec").mkdir()  # an earlier demo's output is replaced
    (tmp_path / "word2vec" / "vectors.npy").write_text("from an earlier demo")
    (tmp_path / "word2vec" / "stale.txt").write_text("from an earlier demo")
    (tmp_path / "charlm" / "checkpoints").mkdir(parents=True)
    (tmp_path / "charlm" / "metrics.csv").write_text("from an earlier demo")
    (tmp_path / "charlm" / "checkpoints" / "step-00000004.npz").write_text("an earlier demo's")
    run_demo(spark, dubliners_path, settings, tmp_path)
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == list(QUERIES))
    rows = lines[header + 2 : header + 2 + settings.neighbours]
    for row in rows:
        assert len(re.findall(SCORED, row)) == len(QUERIES), row
    # Each column is sorted by similarity, most similar first.
    scores = [[float(s) for _, s in re.findall(SCORED, row)] for row in rows]
    for column in zip(*scores, strict=True):
        assert list(column) == sorted(column, reverse=True)

    # The printed table is what the saved model answers.
    vectors = load_vectors(tmp_path / "word2vec")
    first_row = re.findall(SCORED, rows[0])
    for word, (neighbour, score) in zip(QUERIES, first_row, strict=True):
        best, cosine = vectors.most_similar(word, topn=1)[0]
        assert (best, round(cosine, 3)) == (neighbour, float(score))
    assert not (tmp_path / "word2vec" / "stale.txt").exists()

    # Samples at every temperature, from the char-LM saved beside it.
    for temperature in ("0.2", "0.5", "1.0", "1.2"):
        assert f"----- temperature {temperature} -----" in out
    model, vocab = load_charlm(tmp_path / "charlm")
    assert not (tmp_path / "charlm" / "checkpoints").exists()
    assert model.layers[-1].units == len(vocab)
    assert f"sparknn neighbors {tmp_path / 'word2vec'}" in out


def test_demo_leaves_folders_it_did_not_write_alone(spark, dubliners_path, tmp_path):
    mine = tmp_path / "word2vec" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("not a demo output")
    with pytest.raises(SparknnError, match="is not an earlier demo's output"):
        run_demo(spark, dubliners_path, DemoSettings.quick(), tmp_path)
    assert mine.read_text() == "not a demo output"
