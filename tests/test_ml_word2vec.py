"""sparknn.ml.Word2Vec: pyspark.ml.feature.Word2Vec's behaviour, the job's vectors, Pipelines."""

import numpy as np
import pyarrow as pa
import pytest

from sparknn.backend import get_backend
from sparknn.backend.documents import document_means
from sparknn.corpus.chars import NotText
from sparknn.errors import SparknnError
from sparknn.ml import Word2Vec, Word2VecModel
from sparknn.ml.word2vec import document_vectors, lookup_table
from sparknn.word2vec.encoding import cut_sentences
from sparknn.word2vec.vectors import WordVectors
from sparknn.word2vec.vocab import EmptyVocabulary

# Small and quick: the numpy backend, one epoch, few dimensions.
QUICK = dict(vectorSize=4, minCount=1, maxIter=1, backend="numpy", seed=3)


def mllib_document_vector(row, vectors: dict, size: int) -> np.ndarray:
    """MLlib's Word2VecModel.transform for one row, written out plainly."""
    total = np.zeros(size)
    for word in row:
        if word in vectors:
            total += vectors[word].astype(np.float64)
    return total / len(row) if row else total


def labelled_text(spark, rows=40, seed=0):
    """Two 'books' with their own words and some shared ones: label = book."""
    rng = np.random.default_rng(seed)
    data = []
    for i in range(rows):
        label = i % 2
        own = [f"{'ab'[label]}{k}" for k in rng.integers(0, 6, 4)]
        shared = [f"s{k}" for k in rng.integers(0, 4, 3)]
        words = own + shared
        rng.shuffle(words)
        data.append((i, " ".join(words), float(label)))
    return spark.createDataFrame(data, "id long, text string, label double")


def test_mllib_doctest_behaviour(spark, tmp_path):
    """pyspark.ml.feature.Word2Vec's doctest, through sparknn's classes."""
    sent = ("a b " * 100 + "a c " * 10).split(" ")
    doc = spark.createDataFrame([(sent,), (sent,)], ["sentence"])
    word2vec = Word2Vec(vectorSize=5, seed=42, inputCol="sentence", outputCol="model")
    word2vec.setBackend("numpy")
    assert word2vec.setMaxIter(10) is word2vec and word2vec.getMaxIter() == 10
    word2vec.clear(word2vec.maxIter)
    model = word2vec.fit(doc)
    assert model.getMinCount() == 5
    assert model.setInputCol("sentence") is model

    vectors = model.getVectors().collect()
    # "" (the split's last token) occurs twice, below minCount.
    assert [row.word for row in vectors] == ["a", "b", "c"]
    for row in vectors:
        np.testing.assert_array_equal(row.vector.toArray(), model.wordVectors.vector(row.word))
    synonyms = model.findSynonymsArray("a", 2)
    assert [word for word, _ in synonyms] == [w for w, _ in model.wordVectors.most_similar("a")]
    assert {word for word, _ in synonyms} == {"b", "c"}
    frame = model.findSynonyms("a", 2).collect()
    assert [(row.word, row.similarity) for row in frame] == synonyms
    by_vector = model.findSynonymsArray(model.getVectors().first().vector, 1)
    assert by_vector[0][0] == "a"  # a vector's synonyms may include its own word

    table = {row.word: row.vector.toArray() for row in vectors}
    np.testing.assert_allclose(
        model.transform(doc).head().model.toArray(), mllib_document_vector(sent, table, 5)
    )

    word2vec.save(str(tmp_path / "word2vec"))
    loaded_estimator = Word2Vec.load(str(tmp_path / "word2vec"))
    assert loaded_estimator.getVectorSize() == word2vec.getVectorSize() == 5
    assert loaded_estimator.getNumPartitions() == word2vec.getNumPartitions()
    assert loaded_estimator.getBackend() == "numpy"
    model.save(f"file://{tmp_path / 'word2vec-model'}")
    loaded = Word2VecModel.load(str(tmp_path / "word2vec-model"))
    assert loaded.getVectors().first().word == model.getVectors().first().word
    assert loaded.getVectors().first().vector == model.getVectors().first().vector
    assert loaded.transform(doc).take(1) == model.transform(doc).take(1)
    np.testing.assert_array_equal(loaded.wordVectors.counts, model.wordVectors.counts)


def test_the_same_vectors_as_the_job_on_the_same_tokens(spark, tmp_path):
    from pyspark.sql import functions as F

    from sparknn.word2vec.settings import Settings
    from sparknn.word2vec.spark import train_spark

    rng = np.random.default_rng(5)
    lines = [" ".join(f"w{k}" for k in rng.zipf(1.5, 8) % 40) for _ in range(300)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    settings = Settings(vector_size=8, min_count=2, epochs=2, partitions=2, backend="numpy", seed=7)
    job = train_spark(spark, str(corpus), settings, verbose=False)

    tokens = spark.read.text(str(corpus)).select(F.split("value", " ").alias("tokens"))
    estimator = Word2Vec(
        inputCol="tokens", vectorSize=8, minCount=2, maxIter=2, numPartitions=2, seed=7,
        backend="numpy",
    )  # fmt: skip
    model = estimator.fit(tokens)
    assert job.metadata["rounds"] > 1
    assert model.wordVectors.words == job.vocab.words
    assert np.array_equal(model.wordVectors.vectors, job.vectors)


def test_transform_is_mllibs_formula_with_empty_rows_and_unknown_words(spark):
    rng = np.random.default_rng(0)
    words = ["x", "y", "z"]
    vectors = rng.standard_normal((3, 4)).astype(np.float32)
    model = Word2VecModel(WordVectors(words, vectors)).setInputCol("t").setOutputCol("v")
    rows = [["x", "y", "oov"], [], ["z"], ["oov"], ["x", "x", "z", "y"]]
    frame = spark.createDataFrame(
        [(i, row) for i, row in enumerate(rows)], "i int, t array<string>"
    )
    got = [row.v.toArray() for row in model.transform(frame).orderBy("i").collect()]
    table = dict(zip(words, vectors, strict=True))
    for row, vector in zip(rows, got, strict=True):
        np.testing.assert_allclose(vector, mllib_document_vector(row, table, 4), rtol=1e-12)
    assert not got[1].any() and not got[3].any()
    with_null = spark.createDataFrame([(0, ["x"]), (1, None)], "i int, t array<string>")
    with pytest.raises(Exception, match="inputCol 't' holds a null row"):
        model.transform(with_null).collect()

    # Directly, on each backend, with offsets that do not start at 0.
    rows += [["x", "oov", "z"] * 5, ["y"] * 3]
    arrow_rows = pa.array(rows, pa.list_(pa.string())).slice(1)
    expected = np.array([mllib_document_vector(row, table, 4) for row in rows[1:]])
    for backend in ("numpy", "auto"):
        got = document_vectors(
            arrow_rows, pa.array(words), lookup_table(vectors), get_backend(backend)
        )
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_document_means_of_rows_of_mixed_lengths_in_any_chunking():
    """The numpy reference sorts rows by length into padded chunks, and cuts rows longer
    than a chunk: each row still gets its own MLlib vector, in the rows' order."""
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(30)]
    vectors = rng.standard_normal((30, 6)).astype(np.float32)
    table = dict(zip(words, vectors, strict=True))
    vocabulary_and_unknown = words + ["oov1", "oov2"]
    rows = [list(rng.choice(vocabulary_and_unknown, size=rng.integers(0, 13))) for _ in range(200)]
    expected = np.array([mllib_document_vector(row, table, 6) for row in rows])
    ids = np.array([words.index(w) if w in table else 30 for row in rows for w in row])
    lengths = np.array([len(row) for row in rows])
    for chunk_tokens in (1, 5, 12, 13, 64, None):
        got = document_means(lookup_table(vectors), ids, lengths, chunk_tokens)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_transform_equals_mllibs_transform_of_the_same_vectors(spark):
    """MLlib's own Word2VecModel and sparknn's, holding the same vectors, give the same
    document vectors: bit for bit where the OpenCL kernel adds (MLlib's order), to 1e-12
    with numpy's sums."""
    from pyspark.ml.feature import Word2Vec as MLlibWord2Vec

    rng = np.random.default_rng(5)
    vocabulary = [f"w{i}" for i in range(40)]
    sentences = [list(rng.choice(vocabulary, size=rng.integers(1, 30))) for _ in range(300)]
    frame = spark.createDataFrame(
        [(i, s) for i, s in enumerate(sentences)], "i int, t array<string>"
    )
    mllib = MLlibWord2Vec(vectorSize=16, minCount=3, inputCol="t", outputCol="v", seed=1).fit(frame)
    learned = {row.word: row.vector.toArray() for row in mllib.getVectors().collect()}
    words = sorted(learned)
    vectors = np.array([learned[w] for w in words], np.float32)  # MLlib's floats, exactly
    queries = frame.union(spark.createDataFrame([(300, []), (301, ["oov", "w1"])], frame.schema))
    want = [r.v.toArray() for r in mllib.transform(queries).orderBy("i").collect()]
    for backend in ("auto", "numpy"):
        model = Word2VecModel(WordVectors(words, vectors)).setInputCol("t").setOutputCol("v")
        got = [
            r.v.toArray()
            for r in model.setBackend(backend).transform(queries).orderBy("i").collect()
        ]
        if get_backend(backend).name == "numpy":  # no OpenCL device: auto is numpy too
            np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-12, atol=1e-15)
        else:
            np.testing.assert_array_equal(np.array(got), np.array(want))


def test_cut_sentences_into_pieces_of_at_most_max_length():
    starts = np.array([0, 3, 10], dtype=np.int64)  # lengths 3, 7, 2 over 12 tokens
    np.testing.assert_array_equal(cut_sentences(starts, 12, 3), [0, 3, 6, 9, 10])
    np.testing.assert_array_equal(cut_sentences(starts, 12, 7), [0, 3, 10])


def test_pipeline_saves_and_loads_with_the_same_predictions(spark, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import Tokenizer

    frame = labelled_text(spark)
    pipeline = Pipeline(
        stages=[
            Tokenizer(inputCol="text", outputCol="words"),
            Word2Vec(inputCol="words", outputCol="features", **QUICK),
            LogisticRegression(maxIter=20),
        ]
    )
    fitted = pipeline.fit(frame)
    before = fitted.transform(frame).orderBy("id").select("features", "prediction").collect()
    fitted.write().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert isinstance(loaded.stages[1], Word2VecModel)
    after = loaded.transform(frame).orderBy("id").select("features", "prediction").collect()
    assert after == before
    pipeline.write().save(str(tmp_path / "estimator"))
    again = Pipeline.load(str(tmp_path / "estimator")).getStages()[1]
    assert isinstance(again, Word2Vec) and again.getVectorSize() == QUICK["vectorSize"]


def test_cross_validator_picks_a_vector_size(spark):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import Tokenizer
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    word2vec = Word2Vec(inputCol="words", outputCol="features", **QUICK)
    pipeline = Pipeline(
        stages=[Tokenizer(inputCol="text", outputCol="words"), word2vec, LogisticRegression()]
    )
    grid = ParamGridBuilder().addGrid(word2vec.vectorSize, [2, 3]).build()
    tuned = CrossValidator(
        estimator=pipeline, estimatorParamMaps=grid, evaluator=BinaryClassificationEvaluator(),
        numFolds=2, seed=1,
    ).fit(labelled_text(spark, rows=20))  # fmt: skip
    assert len(tuned.avgMetrics) == 2
    best = tuned.bestModel.stages[1]
    assert best.getVectorSize() == [2, 3][int(np.argmax(tuned.avgMetrics))]
    assert best.wordVectors.vector_size == best.getVectorSize()


def test_a_word2vec_binary_file_in_a_pipeline(spark, tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import Tokenizer

    from sparknn.word2vec.formats import save_word2vec_binary

    rng = np.random.default_rng(1)
    words = [f"{book}{k}" for book in "ab" for k in range(6)] + [f"s{k}" for k in range(4)]
    vectors = rng.standard_normal((len(words), 3)).astype(np.float32)
    save_word2vec_binary(tmp_path / "vectors.bin", words, vectors)
    pretrained = Word2VecModel.fromWord2VecFile(str(tmp_path / "vectors.bin"))
    assert pretrained.getVectorSize() == 3 and pretrained.wordVectors.words == words
    pretrained.setInputCol("words").setOutputCol("features")
    frame = labelled_text(spark)
    fitted = Pipeline(
        stages=[Tokenizer(inputCol="text", outputCol="words"), pretrained, LogisticRegression()]
    ).fit(frame)
    first = fitted.transform(frame).orderBy("id").first()
    table = dict(zip(words, vectors, strict=True))
    np.testing.assert_allclose(
        first.features.toArray(), mllib_document_vector(first.words, table, 3), rtol=1e-12
    )

    pretrained.saveWord2VecFile(str(tmp_path / "again.bin"), binary=True)
    pretrained.saveWord2VecFile(str(tmp_path / "again.txt"))
    again = Word2VecModel.fromWord2VecFile(str(tmp_path / "again.bin")).wordVectors
    assert again.words == words and np.array_equal(again.vectors, vectors)
    as_text = Word2VecModel.fromWord2VecFile(str(tmp_path / "again.txt")).wordVectors
    np.testing.assert_allclose(as_text.vectors, vectors, rtol=1e-5)


@pytest.mark.parametrize(
    "schema, rows, params, message",
    [
        ("t string", [("a b",)], {}, "inputCol 't' must be array<string>, found string"),
        ("t array<string>", [(["a"],), (None,)], {}, "column 't' holds a null row"),
        ("t array<string>", [(["a", None],)], {}, "column 't' holds a null word"),
        ("t array<string>", [(["a", "b"],)], {"minCount": 5}, "minCount=5"),
        ("t array<string>", [([],)], {}, "inputCol 't' is empty: no tokens found"),
        ("t array<string>", [(["a", "\x00"],)], {}, "inputCol 't' holds the word NUL"),
        ("t array<string>", [(["a"],)], {"maxSentenceLength": -1}, "maxSentenceLength must"),
        ("t array<string>", [(["a"],)], {"merge": "median"}, "merge must be one of"),
        ("t array<string>", [(["a"],)], {"vectorSize": 0}, "vectorSize must be >= 1, got 0"),
        ("t array<string>", [(["a"],)], {"backend": "gpu"}, "backend must be one of"),
        ("u array<string>", [(["a"],)], {}, "inputCol 't' is not a column"),
    ],
)
def test_bad_input_is_one_clear_error(spark, schema, rows, params, message):
    frame = spark.createDataFrame(rows, schema)
    estimator = Word2Vec(inputCol="t", **{**QUICK, "minCount": 1, **params})
    with pytest.raises(SparknnError) as raised:
        estimator.fit(frame)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_nothing_to_train_on_and_text_that_is_not_text_are_typed_errors(spark):
    """Callers (the job among them) tell these apart by type, not by their messages."""
    few = spark.createDataFrame([(["a", "b", "a"],)], "t array<string>")
    with pytest.raises(EmptyVocabulary) as raised:
        Word2Vec(inputCol="t", **{**QUICK, "minCount": 3}).fit(few)
    assert (raised.value.corpus_words, raised.value.min_count) == (3, 3)
    assert str(raised.value).endswith("lower minCount")
    binary = spark.createDataFrame([(["a", "\x00"],)], "t array<string>")
    with pytest.raises(NotText):
        Word2Vec(inputCol="t", **QUICK).fit(binary)


def test_from_settings_makes_every_training_setting_a_param():
    """Each field of Settings is a Param (SETTING_OF_PARAM) or read by the job alone; the
    estimator fromSettings makes trains with exactly those settings and never cuts a row."""
    from dataclasses import fields

    from sparknn.ml.word2vec import JOB_ONLY_SETTINGS, SETTING_OF_PARAM
    from sparknn.word2vec.settings import Settings

    names = {item.name for item in fields(Settings)}
    assert sorted(names) == sorted([*SETTING_OF_PARAM.values(), *JOB_ONLY_SETTINGS])
    defaults = {item.name: item.default for item in fields(Settings)}
    changed = {}
    for item in fields(Settings):  # a value other than the default for every setting
        value = item.default
        if item.name in JOB_ONLY_SETTINGS:
            continue
        if isinstance(value, bool):
            changed[item.name] = not value
        elif isinstance(value, (int, float)):
            changed[item.name] = value + (1 if item.name != "merge_eta" else 0.001)
        else:
            changed[item.name] = {"backend": "numpy", "merge": "sum"}[item.name]
    settings = Settings(**{**defaults, **changed})
    estimator = Word2Vec.fromSettings(settings, inputCol="tokens", vectorSize=7)
    assert estimator.getInputCol() == "tokens" and estimator.getMaxSentenceLength() == 0
    assert estimator._job_settings() == Settings(**{**defaults, **changed, "vector_size": 7})
    for param, setting in SETTING_OF_PARAM.items():
        assert estimator.isSet(param), param
        assert getattr(estimator, f"get{param[0].upper()}{param[1:]}")() == (
            7 if param == "vectorSize" else changed[setting]
        )
    assert Word2Vec()._job_settings() == Settings()  # the Params' defaults are the job's


def test_the_job_is_the_estimator_and_keeps_the_vectors_of_train_spark(spark, tmp_path):
    """jobs/train_word2vec.py (read_tokens -> Word2Vec.fromSettings -> save_output) writes
    train_spark's vectors bit for bit, lines of over 1000 words uncut (MLlib would cut them:
    maxSentenceLength), and train_spark's metadata."""
    import json
    import os
    import sys

    from sparknn.word2vec.formats import load_model_dir
    from sparknn.word2vec.settings import Settings
    from sparknn.word2vec.spark import train_spark

    rng = np.random.default_rng(11)
    lines = [" ".join(f"W{k}" for k in rng.zipf(1.3, n) % 80) for n in [1500, 40, 0, 2500, 7]]
    lines = (lines + ["", "A b. C, d!"]) * 3
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    flags = {"vector_size": 8, "min_count": 2, "epochs": 2, "partitions": 2, "seed": 4}
    flags.update(backend="numpy", tokenizer="unicode", lowercase=False, sync_words=500)
    argv = ["--corpus", str(corpus), "--output", str(tmp_path / "out"), "--export-binary"]
    argv.append("--no-lowercase")
    for key, value in flags.items():
        if key != "lowercase":
            argv += [f"--{key.replace('_', '-')}", str(value)]
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "jobs"))
    from train_word2vec import main

    assert main(argv) == 0
    settings = Settings(**flags, export_binary=True)
    reference = train_spark(spark, str(corpus), settings, verbose=False)
    words, vectors, counts = load_model_dir(tmp_path / "out")
    assert words == reference.vocab.words and "W0" in words and "w0" not in words
    assert counts.tolist() == reference.vocab.counts.tolist()
    assert np.array_equal(vectors, reference.vectors)
    assert reference.metadata["rounds"] > 1
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert list(metadata) == list(reference.metadata)
    assert metadata["settings"] == json.loads(json.dumps(reference.metadata["settings"]))
    for key in ("rounds", "partition_words", "corpus_words", "vocabulary_size", "corpus"):
        assert metadata[key] == reference.metadata[key], key
    assert (tmp_path / "out" / "vectors.bin").is_file()


def test_read_tokens_frames_train_from_their_lines_as_other_frames_of_their_tokens(
    spark, tmp_path, monkeypatch
):
    """The estimator tokenizes a frame of read_tokens from its lines, in one pass; the same
    tokens in any other frame (here: selected from it, which drops the short cut) give the
    same vectors, and text that is not UTF-8 is refused either way."""
    from sparknn.word2vec import encoding
    from sparknn.word2vec.job import TOKENS, read_tokens
    from sparknn.word2vec.settings import Settings

    rng = np.random.default_rng(3)
    lines = [" ".join(f"W{k}" for k in rng.zipf(1.4, n) % 60) for n in rng.integers(0, 30, 200)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    settings = Settings(vector_size=8, min_count=2, epochs=2, partitions=3, seed=9, backend="numpy")
    frame = read_tokens(spark, str(corpus), Settings())
    passes = []
    real = encoding.tokenize_lines
    monkeypatch.setattr(encoding, "tokenize_lines", lambda *args: passes.append(1) or real(*args))
    direct = Word2Vec.fromSettings(settings, inputCol=TOKENS).fit(frame).wordVectors
    assert passes == [1]  # from the lines
    plain = frame.select(TOKENS)
    other = Word2Vec.fromSettings(settings, inputCol=TOKENS).fit(plain).wordVectors
    assert direct.words == other.words and "w0" in direct.words  # lowercased
    assert np.array_equal(direct.vectors, other.vectors)
    assert np.array_equal(direct.counts, other.counts) and passes == [1]
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"a b a b\nc \xff d\n")
    tokens = read_tokens(spark, str(binary), Settings())
    for given in (tokens, tokens.select(TOKENS)):
        with pytest.raises(NotText):
            Word2Vec.fromSettings(Settings(min_count=1), inputCol=TOKENS).fit(given)


def test_a_save_that_fails_leaves_nothing_at_the_path(spark, tmp_path, monkeypatch):
    import sparknn.ml.word2vec as ml_word2vec

    with pytest.raises(SparknnError, match="holds no vectors"):
        Word2VecModel().write().save(str(tmp_path / "empty"))
    assert not (tmp_path / "empty").exists()

    # the vectors failing to write after the metadata (their path is taken): the metadata goes
    taken = tmp_path / "taken"
    taken.write_text("")
    monkeypatch.setattr(ml_word2vec, "data_path", lambda path, name: str(taken))
    model = Word2VecModel(WordVectors(["a", "b"], np.eye(2, dtype=np.float32)))
    with pytest.raises(Exception, match="already exists"):
        model.write().save(str(tmp_path / "model"))
    assert not (tmp_path / "model").exists()


def test_a_save_onto_a_saved_model_keeps_it_unless_overwrite(spark, tmp_path):
    """As Spark's writers: an existing path is an error that leaves it as it was; with
    ``overwrite()`` it is replaced."""
    path = str(tmp_path / "model")
    first = Word2VecModel(WordVectors(["a", "b"], np.eye(2, dtype=np.float32)))
    first.write().save(path)
    second = Word2VecModel(WordVectors(["c", "d"], np.eye(2, dtype=np.float32)))
    with pytest.raises(SparknnError, match="exists already: write\\(\\).overwrite\\(\\)"):
        second.write().save(path)
    assert Word2VecModel.load(path).wordVectors.words == ["a", "b"]
    second.write().overwrite().save(path)
    assert Word2VecModel.load(path).wordVectors.words == ["c", "d"]
