"""Word-vector queries against hand-computed cosines, file formats, and the CLIs."""

import numpy as np
import pytest

from sparknn.cli import main as sparknn_main
from sparknn.errors import SparknnError
from sparknn.word2vec.formats import save_model, save_word2vec_binary, save_word2vec_text
from sparknn.word2vec.vectors import WordVectors, load_vectors, rankdata, spearman

WORDS = ["king", "queen", "man", "woman", "apple"]
# king = royal + male, queen = royal + female, ...: queen - king + man = woman exactly.
VECTORS = np.array(
    [
        [1.0, 1.0, 0.0, 0.1],
        [1.0, -1.0, 0.0, 0.1],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [-1.0, 0.1, -1.0, 0.5],
    ],
    dtype=np.float32,
)


@pytest.fixture()
def wv():
    return WordVectors(WORDS, VECTORS, counts=[50, 40, 30, 20, 10])


def cos(u, v):
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


def test_similarity_and_most_similar_match_hand_computed_cosines(wv):
    assert wv.similarity("king", "queen") == pytest.approx(cos(VECTORS[0], VECTORS[1]), abs=1e-6)
    result = wv.most_similar("king", topn=4)
    expected = sorted(
        ((w, cos(VECTORS[0], VECTORS[i])) for i, w in enumerate(WORDS) if w != "king"),
        key=lambda item: -item[1],
    )
    assert [w for w, _ in result] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in result], [s for _, s in expected], atol=1e-6)
    assert len(wv.most_similar("king", topn=2)) == 2
    assert "king" in wv and "prince" not in wv
    np.testing.assert_array_equal(wv.vector("apple"), VECTORS[4])


def test_analogies_3cosadd_and_3cosmul(wv):
    assert wv.analogy("king", "queen", "man")[0][0] == "woman"
    assert wv.analogy("king", "queen", "man", method="3cosmul")[0][0] == "woman"
    # 3CosMul score by hand for the candidates, question words excluded.
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    c = (1 + unit @ unit[[0, 1, 2]].T) / 2
    scores = c[:, 1] * c[:, 2] / (c[:, 0] + 1e-3)
    got = dict(wv.analogy("king", "queen", "man", method="3cosmul", topn=2))
    assert got["woman"] == pytest.approx(scores[3], rel=1e-5)
    assert got["apple"] == pytest.approx(scores[4], rel=1e-5)
    with pytest.raises(SparknnError, match="3cosadd, 3cosmul"):
        wv.analogy("king", "queen", "man", method="pairdirection")


def test_doesnt_match_and_unknown_word_suggestions(wv):
    assert wv.doesnt_match(["king", "queen", "man", "apple"]) == "apple"
    with pytest.raises(SparknnError, match="'kinq' not in vocabulary.*did you mean: king"):
        wv.most_similar("kinq")


def test_evaluate_word_analogies_sections(wv, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text(
        ": royalty\nking queen man woman\nKING QUEEN MAN WOMAN\nking queen man apple\n"
        ": other\nking prince man woman\n"
    )
    accuracy, sections = wv.evaluate_word_analogies(questions)
    assert [s["section"] for s in sections] == ["royalty", "other", "Total accuracy"]
    assert (sections[0]["correct"], sections[0]["total"]) == (2, 3)  # case-insensitive
    assert sections[1]["skipped"] == 1 and sections[1]["total"] == 0
    assert accuracy == pytest.approx(2 / 3)
    # Restricting the vocabulary to 3 words makes every question out of vocabulary.
    assert wv.evaluate_word_analogies(questions, restrict_vocab=3)[1][-1]["skipped"] == 4


def test_rank_and_spearman_match_hand_computed_values():
    np.testing.assert_array_equal(rankdata([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # d = rank differences (0, -2, 1, 1): rho = 1 - 6*6/(4*15) = 0.4 (no ties)
    assert spearman([1, 2, 3, 4], [1, 4, 2, 3]) == pytest.approx(0.4)


def test_evaluate_word_pairs(wv, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "# comment\nking\tqueen\t8\nking\tapple\t1\nman\twoman\t7\n"
        "queen\tapple\t2\nking\tunicorn\t5\n"
    )
    result = wv.evaluate_word_pairs(pairs)
    model = [
        cos(VECTORS[0], VECTORS[1]),
        cos(VECTORS[0], VECTORS[4]),
        cos(VECTORS[2], VECTORS[3]),
        cos(VECTORS[1], VECTORS[4]),
    ]
    assert result["spearman"] == pytest.approx(spearman(model, [8, 1, 7, 2]))
    assert result["pearson"] == pytest.approx(np.corrcoef(model, [8, 1, 7, 2])[0, 1], abs=1e-6)
    assert result["oov_ratio"] == pytest.approx(20.0) and result["pairs"] == 4
    pairs.write_text("king\tqueen\thigh\n")
    with pytest.raises(SparknnError, match="not a number"):
        wv.evaluate_word_pairs(pairs)


def test_save_and_load_round_trips(wv, tmp_path):
    save_model(tmp_path / "model", WORDS, [50, 40, 30, 20, 10], VECTORS, {"a": 1}, binary=True)
    for path in ("model", "model/vectors.txt", "model/vectors.bin"):
        loaded = load_vectors(tmp_path / path)
        assert loaded.words == WORDS
        np.testing.assert_allclose(loaded.vectors, VECTORS, rtol=1e-5)
    assert load_vectors(tmp_path / "model").counts.tolist() == [50, 40, 30, 20, 10]
    assert not list((tmp_path / "model").glob(".*"))  # no temp files left behind


def test_files_load_in_gensim(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    words = ["alpha", "beta", "café"]
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    save_word2vec_text(tmp_path / "v.txt", words, vectors)
    save_word2vec_binary(tmp_path / "v.bin", words, vectors)
    for name, binary in (("v.txt", False), ("v.bin", True)):
        kv = gensim_models.KeyedVectors.load_word2vec_format(tmp_path / name, binary=binary)
        assert list(kv.index_to_key) == words
        np.testing.assert_allclose(kv.vectors, vectors, rtol=1e-5)
    # ... and sparknn reads what gensim writes (gensim omits word2vec.c's newlines in binary).
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    np.testing.assert_allclose(load_vectors(tmp_path / "g.bin").vectors, vectors, rtol=1e-6)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "first line must be"),
        (b"two 4\n", "first line must be"),
        (b"2 3\nking 1 2 3\nqueen 1 2\n", r":3: expected a word and 3 numbers, got 2"),
        (b"1 2\nking 1 x\n", "not a number"),
        (b"3 2\nking 1 2\nqueen 3 4\n", "header declares 3 vectors, file has 2"),
        (b"2 2\nking \x00\x00\x80?\x00\x00\x80?\nqueenqueen", "truncated at vector 2 of 2"),
    ],
)
def test_malformed_vector_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.vec"
    path.write_bytes(content)
    with pytest.raises(SparknnError, match=message):
        load_vectors(path)


def test_missing_and_inconsistent_model_dirs(tmp_path):
    with pytest.raises(SparknnError, match="vectors not found"):
        load_vectors(tmp_path / "nope")
    save_model(tmp_path / "m", WORDS, [1] * 5, VECTORS, {})
    (tmp_path / "m" / "vocab.tsv").write_text("king\t1\nqueen\t1\n")
    with pytest.raises(SparknnError, match=r"shape \(5, 4\) but vocab.tsv lists 2 words"):
        load_vectors(tmp_path / "m")


def test_cli_neighbors_analogy_evaluate(tmp_path, capsys):
    save_model(tmp_path / "m", WORDS, [1] * 5, VECTORS, {})
    model = str(tmp_path / "m")
    assert sparknn_main(["neighbors", model, "king", "--topn", "2"]) == 0
    out = capsys.readouterr().out
    assert "nearest to 'king'" in out and "cosine" in out and len(out.strip().splitlines()) == 4
    assert sparknn_main(["analogy", model, "king", "queen", "man"]) == 0
    assert "woman" in capsys.readouterr().out
    (tmp_path / "q.txt").write_text(": s\nking queen man woman\n")
    (tmp_path / "p.tsv").write_text("king\tqueen\t8\nking\tapple\t1\nman\twoman\t7\n")
    assert (
        sparknn_main(
            [
                "evaluate",
                model,
                "--analogies",
                str(tmp_path / "q.txt"),
                "--pairs",
                str(tmp_path / "p.tsv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Total accuracy" in out and "spearman" in out
    assert sparknn_main(["neighbors", model, "kinq"]) == 2
    assert "did you mean: king" in capsys.readouterr().err


def test_most_similar_on_a_large_model_uses_argpartition_correctly():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5000, 16)).astype(np.float32)
    wv = WordVectors([f"w{i}" for i in range(5000)], vectors)
    scores = wv.normed @ wv.normed[7]
    scores[7] = -np.inf
    expected = np.argsort(-scores)[:10]
    assert [w for w, _ in wv.most_similar("w7", topn=10)] == [f"w{i}" for i in expected]


def gensim_analogy_correct(words, vectors, questions, restrict_vocab):
    """gensim's evaluate_word_analogies(case_insensitive=True) for one section, transcribed
    loop by loop (keyedvectors.py): the reference for the vectorised version."""
    words, vectors = words[:restrict_vocab], vectors[:restrict_vocab]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ok_vocab = {w.upper(): i for i, w in reversed(list(enumerate(words)))}
    correct = 0
    for line in questions:
        a, b, c, expected = (w.upper() for w in line.split())
        if not {a, b, c, expected} <= ok_vocab.keys():
            continue
        mean = unit[ok_vocab[b]] + unit[ok_vocab[c]] - unit[ok_vocab[a]]
        dists = unit @ (mean / np.linalg.norm(mean))
        excluded = {ok_vocab[a], ok_vocab[b], ok_vocab[c]}
        candidates = [i for i in range(len(words)) if i not in excluded]
        ranked = sorted(candidates, key=lambda i: -dists[i])
        predicted = None
        for i in ranked[:5]:
            predicted = words[i].upper()
            if predicted not in {a, b, c}:
                break
        correct += predicted == expected
    return correct


def test_case_insensitive_analogies_answer_as_gensim(tmp_path):
    """A case variant of a question word is never the answer; one of the expected word is a
    right answer (the old code answered 'King' and marked 'Woman' wrong)."""
    unit = lambda v: np.asarray(v, np.float32) / np.linalg.norm(v)  # noqa: E731
    king, queen = unit([1, 1, 0, 0, 0]), unit([1, -1, 0, 0.2, 0])
    man, woman = unit([0, 1, 1, 0, 0]), unit([0, -1, 1, 0, 0])
    King = unit([1, -1, 0, 0, 0.05])  # nearly woman - man + king: ahead of queen  # noqa: N806
    Woman = unit(queen - king + man)  # exactly queen - king + man: ahead of woman  # noqa: N806
    words = ["king", "queen", "man", "woman", "King", "Woman", "apple"]
    vectors = np.stack([king, queen, man, woman, King, Woman, unit([-1, 0, -1, 0, 1])])
    wv = WordVectors(words, vectors)
    # The premises: each question's best candidate is the variant, the plain word next.
    assert [w for w, _ in wv.most_similar(["woman", "king"], ["man"], topn=2)] == ["King", "queen"]
    assert [w for w, _ in wv.most_similar(["queen", "man"], ["king"], topn=2)] == ["Woman", "woman"]
    questions = tmp_path / "q.txt"
    questions.write_text(": a\nman woman king queen\n: b\nking queen man woman\n")
    accuracy, sections = wv.evaluate_word_analogies(questions)
    assert [s["correct"] for s in sections] == [1, 1, 2] and accuracy == 1.0
    _, sections = wv.evaluate_word_analogies(questions, case_insensitive=False)
    assert [s["correct"] for s in sections] == [0, 0, 0]  # 'King', 'Woman': other words


def test_case_insensitive_analogies_count_as_gensim_on_many_variants(tmp_path):
    rng = np.random.default_rng(7)
    base = [f"word{i}" for i in range(40)]
    variants = [w.upper() for w in base[:25]] + [w.capitalize() for w in base[10:30]]
    words = base + variants  # every variant less frequent than its plain word
    vectors = rng.standard_normal((len(words), 6)).astype(np.float32)
    vectors[40:] = vectors[[int(w[4:]) for w in variants]] + 0.3 * rng.standard_normal((45, 6))
    wv = WordVectors(words, vectors)
    lines = [" ".join(rng.choice(base, 4, replace=False)) for _ in range(300)]
    # Questions mixing plain and variant spellings, some with words beyond restrict_vocab.
    lines += [" ".join(rng.choice(words, 4, replace=False)) for _ in range(300)]
    questions = tmp_path / "q.txt"
    questions.write_text(": random\n" + "\n".join(lines) + "\n")
    for restrict_vocab in (len(words), 60):
        _, sections = wv.evaluate_word_analogies(questions, restrict_vocab=restrict_vocab)
        want = gensim_analogy_correct(words, vectors, lines, restrict_vocab)
        assert sections[0]["correct"] == want and want > 0
