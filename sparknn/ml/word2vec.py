"""``Word2Vec``: sparknn's word2vec as a Spark ML Estimator, a drop-in for
``pyspark.ml.feature.Word2Vec`` (MLlib's Param names, model methods and ``transform``).

>>> sent = ("a b " * 100 + "a c " * 10).split(" ")
>>> doc = spark.createDataFrame([(sent,), (sent,)], ["sentence"])
>>> model = Word2Vec(vectorSize=5, seed=42, inputCol="sentence", outputCol="model").fit(doc)
>>> model.findSynonymsArray("a", 2)              # [('b', ...), ('c', ...)]
>>> model.transform(doc).head().model            # the row's word vectors summed / its length
>>> model.wordVectors.most_similar("a")          # sparknn's query object
>>> model.write().save(path); Word2VecModel.load(path)
>>> Word2VecModel.fromWord2VecFile("vectors.bin")  # pretrained vectors into a Pipeline

Training is :func:`sparknn.word2vec.spark.train_tokens`: skip-gram with negative sampling,
in exact rounds over ``numPartitions`` replicas (or ``hogwild`` on one host). The word2vec job
is this estimator (``Word2Vec.fromSettings(settings, inputCol="tokens")`` on
:func:`sparknn.word2vec.job.read_tokens`), so it gives the same vectors for a seed.
"""

import uuid
from collections.abc import Iterator
from dataclasses import fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import VectorUDT, _convert_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasMaxIter, HasOutputCol, HasSeed, HasStepSize
from pyspark.ml.util import MLReadable, MLWritable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf
from pyspark.sql.types import ArrayType, StringType

from sparknn.backend import get_backend
from sparknn.config import problem
from sparknn.corpus.chars import NotText
from sparknn.errors import SparknnError
from sparknn.ml.data import dense_vectors
from sparknn.ml.persistence import StageReader, StageWriter, data_path
from sparknn.word2vec import encoding
from sparknn.word2vec.formats import as_json, save_word2vec_binary, save_word2vec_text
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.spark import train_tokens
from sparknn.word2vec.vectors import WordVectors, load_vectors
from sparknn.word2vec.vocab import EmptyVocabulary

# Each training Param and the job setting it is: Settings holds the default of both, so the
# estimator and the job train alike when nothing is set. Two of MLlib's defaults would hurt
# here: numPartitions=1 trains on one replica (several train in parallel, at a small cost in
# accuracy), and maxIter=1 is one epoch, too few for a small corpus.
SETTING_OF_PARAM = {
    "vectorSize": "vector_size", "windowSize": "window", "minCount": "min_count",
    "numPartitions": "partitions", "stepSize": "alpha", "maxIter": "epochs", "seed": "seed",
    "negative": "negative", "sample": "sample", "minAlpha": "min_alpha", "backend": "backend",
    "hogwild": "hogwild", "sharedNegatives": "shared_negatives", "maxVocab": "max_vocab",
    "syncWords": "sync_words", "syncStartWords": "sync_start_words",
    "warmupWords": "warmup_words", "chunkWords": "chunk_words", "merge": "merge",
    "mergeEta": "merge_eta", "sendMinUpdates": "send_min_updates",
}  # fmt: skip
# The settings that are not the estimator's: how the job reads text into tokens, and what it
# writes besides the vectors. Every other setting is a Param above.
JOB_ONLY_SETTINGS = ("lowercase", "tokenizer", "strip_gutenberg_headers", "export_binary")
_DEFAULTS = {item.name: item.default for item in fields(Settings)}
_RULES = {item.name: item.metadata["rule"] for item in fields(Settings)}
MAX_SENTENCE_LENGTH = 1000  # MLlib's default
NEVER_CUT = 0  # maxSentenceLength that keeps every row whole, as the job does
# A seed is any long, as in MLlib; the job's seeds are >= 0, so a negative one wraps.
_SEED_RANGE = 2**64

_tables_on_executor: dict[str, tuple] = {}
_TABLE_CACHE_SIZE = 4  # models whose lookup tables one Python worker keeps


class _Word2VecParams(HasStepSize, HasMaxIter, HasSeed, HasInputCol, HasOutputCol):
    """Params shared by :class:`Word2Vec` and :class:`Word2VecModel`: MLlib's, then
    sparknn's. Defaults: the word2vec job's (:data:`SETTING_OF_PARAM`)."""

    vectorSize = Param(
        Params._dummy(), "vectorSize", "the dimension of the word vectors (>= 1)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    numPartitions = Param(
        Params._dummy(), "numPartitions",
        "replicas trained in parallel (>= 1); each row goes to one; the vectors for a seed "
        "depend on it",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    minCount = Param(
        Params._dummy(), "minCount",
        "the minimum number of times a token must appear to be in the vocabulary (>= 0)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    windowSize = Param(
        Params._dummy(), "windowSize", "context words on each side of a word (>= 1)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    maxSentenceLength = Param(
        Params._dummy(), "maxSentenceLength",
        "a row longer than this many in-vocabulary words is trained as pieces of this many "
        "(0: never cut, as the word2vec job trains its lines)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    negative = Param(
        Params._dummy(), "negative", "negative samples per (word, context) pair (>= 1)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    sample = Param(
        Params._dummy(), "sample", "threshold for subsampling frequent words (0: none)",
        typeConverter=TypeConverters.toFloat,
    )  # fmt: skip
    minAlpha = Param(
        Params._dummy(), "minAlpha", "the learning rate stepSize decays to, linearly (>= 0)",
        typeConverter=TypeConverters.toFloat,
    )  # fmt: skip
    backend = Param(
        Params._dummy(), "backend", "compute backend on the executors: numpy, opencl or auto",
        typeConverter=TypeConverters.toString,
    )  # fmt: skip
    hogwild = Param(
        Params._dummy(), "hogwild",
        "all replicas update one shared model in place (one host only; not reproducible)",
        typeConverter=TypeConverters.toBoolean,
    )  # fmt: skip
    sharedNegatives = Param(
        Params._dummy(), "sharedNegatives",
        "one set of negative samples per window instead of per pair (faster)",
        typeConverter=TypeConverters.toBoolean,
    )  # fmt: skip

    maxVocab = Param(
        Params._dummy(), "maxVocab",
        "keep only the most frequent maxVocab words after minCount (0: no limit)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    syncWords = Param(
        Params._dummy(), "syncWords",
        "tokens each replica trains per round before the replicas' changes are merged",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    syncStartWords = Param(
        Params._dummy(), "syncStartWords",
        "the first rounds' tokens per replica, growing to syncWords by half-way",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    warmupWords = Param(
        Params._dummy(), "warmupWords",
        "the first round's tokens; rounds double from it (0: no warm-up)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    chunkWords = Param(
        Params._dummy(), "chunkWords",
        "numpy backend: tokens per pair-generation chunk (one learning rate each)",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip
    merge = Param(
        Params._dummy(), "merge", "how the replicas' row changes merge: adaptive, sum or mean",
        typeConverter=TypeConverters.toString,
    )  # fmt: skip
    mergeEta = Param(
        Params._dummy(), "mergeEta",
        "adaptive merge: modelled per-update contraction of a row (0 < mergeEta < 1)",
        typeConverter=TypeConverters.toFloat,
    )  # fmt: skip
    sendMinUpdates = Param(
        Params._dummy(), "sendMinUpdates",
        "a replica sends an output row once it was updated this often since last sent",
        typeConverter=TypeConverters.toInt,
    )  # fmt: skip

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(
            **{param: _DEFAULTS[setting] for param, setting in SETTING_OF_PARAM.items()},
            maxSentenceLength=MAX_SENTENCE_LENGTH,
        )

    def getVectorSize(self) -> int:
        return self.getOrDefault(self.vectorSize)

    def getNumPartitions(self) -> int:
        return self.getOrDefault(self.numPartitions)

    def getMinCount(self) -> int:
        return self.getOrDefault(self.minCount)

    def getWindowSize(self) -> int:
        return self.getOrDefault(self.windowSize)

    def getMaxSentenceLength(self) -> int:
        return self.getOrDefault(self.maxSentenceLength)

    def getNegative(self) -> int:
        return self.getOrDefault(self.negative)

    def getSample(self) -> float:
        return self.getOrDefault(self.sample)

    def getMinAlpha(self) -> float:
        return self.getOrDefault(self.minAlpha)

    def getBackend(self) -> str:
        return self.getOrDefault(self.backend)

    def getHogwild(self) -> bool:
        return self.getOrDefault(self.hogwild)

    def getSharedNegatives(self) -> bool:
        return self.getOrDefault(self.sharedNegatives)

    def getMaxVocab(self) -> int:
        return self.getOrDefault(self.maxVocab)

    def getSyncWords(self) -> int:
        return self.getOrDefault(self.syncWords)

    def getSyncStartWords(self) -> int:
        return self.getOrDefault(self.syncStartWords)

    def getWarmupWords(self) -> int:
        return self.getOrDefault(self.warmupWords)

    def getChunkWords(self) -> int:
        return self.getOrDefault(self.chunkWords)

    def getMerge(self) -> str:
        return self.getOrDefault(self.merge)

    def getMergeEta(self) -> float:
        return self.getOrDefault(self.mergeEta)

    def getSendMinUpdates(self) -> int:
        return self.getOrDefault(self.sendMinUpdates)


class Word2Vec(Estimator, _Word2VecParams, MLReadable, MLWritable):
    """Learns a vector per word from a DataFrame column of ``array<string>`` (``inputCol``:
    one sentence a row, e.g. ``pyspark.ml.feature.Tokenizer``'s output); ``fit`` returns a
    :class:`Word2VecModel`. MLlib's Params keep their meaning; every default is the word2vec
    job's (``sparknn.word2vec.settings.Settings``), which differs from MLlib's for two:
    ``numPartitions`` (MLlib: 1) and ``maxIter``, the epochs (MLlib: 1): several partitions
    train in parallel, and one epoch is too few for a small corpus (set ``numPartitions`` to
    the executor slots for speed; the vectors for a seed depend on it). ``seed`` defaults to
    the job's, not to a hash of the class name.
    Skip-gram with negative sampling (``negative``, ``sample``, ``minAlpha``) replaces MLlib's
    hierarchical softmax.
    """

    # Defaults live in _Word2VecParams: keyword_only passes only the arguments given.
    @keyword_only
    def __init__(
        self, *, vectorSize=None, minCount=None, numPartitions=None, stepSize=None, maxIter=None,
        seed=None, inputCol=None, outputCol=None, windowSize=None, maxSentenceLength=None,
        negative=None, sample=None, minAlpha=None, backend=None, hogwild=None,
        sharedNegatives=None, maxVocab=None, syncWords=None, syncStartWords=None,
        warmupWords=None, chunkWords=None, merge=None, mergeEta=None, sendMinUpdates=None,
    ):  # fmt: skip
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(
        self, *, vectorSize=None, minCount=None, numPartitions=None, stepSize=None, maxIter=None,
        seed=None, inputCol=None, outputCol=None, windowSize=None, maxSentenceLength=None,
        negative=None, sample=None, minAlpha=None, backend=None, hogwild=None,
        sharedNegatives=None, maxVocab=None, syncWords=None, syncStartWords=None,
        warmupWords=None, chunkWords=None, merge=None, mergeEta=None, sendMinUpdates=None,
    ):  # fmt: skip
        return self._set(**self._input_kwargs)

    def setVectorSize(self, value):
        return self._set(vectorSize=value)

    def setNumPartitions(self, value):
        return self._set(numPartitions=value)

    def setMinCount(self, value):
        return self._set(minCount=value)

    def setWindowSize(self, value):
        return self._set(windowSize=value)

    def setMaxSentenceLength(self, value):
        return self._set(maxSentenceLength=value)

    def setMaxIter(self, value):
        return self._set(maxIter=value)

    def setInputCol(self, value):
        return self._set(inputCol=value)

    def setOutputCol(self, value):
        return self._set(outputCol=value)

    def setSeed(self, value):
        return self._set(seed=value)

    def setStepSize(self, value):
        return self._set(stepSize=value)

    def setNegative(self, value):
        return self._set(negative=value)

    def setSample(self, value):
        return self._set(sample=value)

    def setMinAlpha(self, value):
        return self._set(minAlpha=value)

    def setBackend(self, value):
        return self._set(backend=value)

    def setHogwild(self, value):
        return self._set(hogwild=value)

    def setSharedNegatives(self, value):
        return self._set(sharedNegatives=value)

    def setMaxVocab(self, value):
        return self._set(maxVocab=value)

    def setSyncWords(self, value):
        return self._set(syncWords=value)

    def setSyncStartWords(self, value):
        return self._set(syncStartWords=value)

    def setWarmupWords(self, value):
        return self._set(warmupWords=value)

    def setChunkWords(self, value):
        return self._set(chunkWords=value)

    def setMerge(self, value):
        return self._set(merge=value)

    def setMergeEta(self, value):
        return self._set(mergeEta=value)

    def setSendMinUpdates(self, value):
        return self._set(sendMinUpdates=value)

    def write(self):
        return StageWriter(self)

    @classmethod
    def read(cls):
        return StageReader(cls)

    @classmethod
    def fromSettings(cls, settings: Settings, **params) -> "Word2Vec":
        """The estimator that trains as the word2vec job does with ``settings``: every
        training setting as its Param (:data:`SETTING_OF_PARAM`), rows never cut
        (``maxSentenceLength=0``), then ``params`` (e.g. ``inputCol``). The settings the job
        alone reads (:data:`JOB_ONLY_SETTINGS`: tokenizing text, ``export_binary``) have no
        Param."""
        values = {param: getattr(settings, setting) for param, setting in SETTING_OF_PARAM.items()}
        return cls(**{**values, "maxSentenceLength": NEVER_CUT, **params})

    def _job_settings(self) -> Settings:
        """The Params as the word2vec job's settings; a value out of range is a SparknnError
        naming the Param."""
        values = {}
        for param, setting in SETTING_OF_PARAM.items():
            value = self.getOrDefault(param)
            if param == "seed":
                value %= _SEED_RANGE
            why = problem(value, _RULES[setting])
            if why:
                raise SparknnError(f"Word2Vec: {param} {why}, got {value!r}")
            values[setting] = value
        if self.getMaxSentenceLength() < 0:
            raise SparknnError(
                f"Word2Vec: maxSentenceLength must be >= 0 (0: never cut), got "
                f"{self.getMaxSentenceLength()}"
            )
        return Settings(**values)

    def _fit(self, dataset):
        settings = self._job_settings()
        if not self.isDefined(self.inputCol):
            raise SparknnError("Word2Vec needs inputCol: a column of array<string>")
        column = self.getInputCol()
        _check_tokens_column(dataset.schema, column)
        source = f"inputCol {column!r}"
        try:
            result = train_tokens(
                dataset.sparkSession, dataset, column, settings,
                max_sentence_length=self.getMaxSentenceLength() or None, verbose=True,
            )  # fmt: skip
        except EmptyVocabulary as error:
            raise error.named(source, "minCount") from None
        except NotText:
            raise NotText(
                f"{source} holds the word NUL ('\\x00'), the mark of text that is not UTF-8 "
                "(sparknn.word2vec.job.read_tokens puts it on such lines)"
            ) from None
        words = WordVectors(result.vocab.words, result.vectors, result.vocab.counts)
        model = Word2VecModel(words, trainingMetadata=result.metadata)
        return self._copyValues(model)


class Word2VecModel(Model, _Word2VecParams, MLReadable, MLWritable):
    """Word vectors as a Transformer: ``transform`` adds ``outputCol``, per row the sum of
    its in-vocabulary words' vectors divided by its number of tokens (MLlib's document
    vector; an empty row gives a zero vector), summed by ``backend``'s ``document_means`` on
    the executors (OpenCL: MLlib's values bit for bit). ``wordVectors`` is sparknn's query object
    (:class:`~sparknn.word2vec.vectors.WordVectors`: ``most_similar``, analogies,
    evaluations); ``trainingMetadata`` what its training reported (rounds, timings, corpus
    statistics, as the job's metadata.json; None for vectors made elsewhere).
    ``write().save(path)`` / ``Word2VecModel.load(path)`` work on any path Spark can write,
    without pickle, the training metadata with the vectors.
    """

    def __init__(self, wordVectors=None, trainingMetadata=None):
        super().__init__()
        self.wordVectors = wordVectors
        # As JSON values: what a save writes is what the model holds.
        self.trainingMetadata = None if trainingMetadata is None else as_json(trainingMetadata)
        if wordVectors is not None:
            self._set(vectorSize=wordVectors.vector_size)

    @classmethod
    def fromWord2VecFile(cls, path) -> "Word2VecModel":
        """A model of the vectors in a word2vec text or binary file (or a sparknn output
        directory) on the driver's file system; set ``inputCol``/``outputCol`` to use it."""

        return cls(load_vectors(path))

    def saveWord2VecFile(self, path, binary: bool = False):
        """Write the vectors as a word2vec text file (``binary``: word2vec.c's binary format)
        on the driver's file system, complete or not at all."""

        save = save_word2vec_binary if binary else save_word2vec_text
        save(path, self._vectors().words, self._vectors().vectors)

    def setInputCol(self, value):
        return self._set(inputCol=value)

    def setOutputCol(self, value):
        return self._set(outputCol=value)

    def setBackend(self, value):
        """The backend ``transform`` sums document vectors with on the executors (``auto``:
        the OpenCL kernel where there is a device, numpy otherwise)."""
        return self._set(backend=value)

    def getVectors(self):
        """DataFrame ``word: string, vector: vector``, most frequent word first."""
        table = _vectors_table(self._vectors())
        frame = SparkSession.active().createDataFrame(table.select(["word", "vector"]))
        return frame.select("word", array_to_vector("vector").alias("vector"))

    def findSynonyms(self, word, num: int):
        """DataFrame ``word: string, similarity: double`` of the ``num`` words closest (by
        cosine) to ``word``, a word (never its own synonym) or a vector."""
        return SparkSession.active().createDataFrame(
            self.findSynonymsArray(word, num), "word string, similarity double"
        )

    def findSynonymsArray(self, word, num: int):
        """``[(word, similarity), ...]``, as :meth:`findSynonyms`, best first."""
        if isinstance(word, str):
            return self._vectors().most_similar(word, topn=num)
        vector = _convert_to_vector(word).toArray()
        if len(vector) != self._vectors().vector_size:
            raise SparknnError(
                f"findSynonyms: the vector has {len(vector)} dimensions, the model "
                f"{self._vectors().vector_size}"
            )
        return self._vectors().similar_by_vector(vector, topn=num)

    def write(self):
        extra = {"trainingMetadata": self.trainingMetadata}
        return StageWriter(self, extra=extra, prepare_data=self._vectors_to_save)

    @classmethod
    def read(cls):
        return StageReader(cls, load_data=_load_vectors)

    def _vectors(self):
        if self.wordVectors is None:
            raise SparknnError("this Word2VecModel holds no vectors")
        return self.wordVectors

    def _vectors_to_save(self):
        """A ``(spark, path) -> None`` writing the vectors (made before anything is written)."""
        table = _vectors_table(self._vectors(), np.float32)

        def save(spark, path):
            spark.createDataFrame(table).write.parquet(data_path(path, "vectors"))

        return save

    def _transform(self, dataset):
        column = self.getInputCol()
        _check_tokens_column(dataset.schema, column)
        vectors = self._vectors()
        broadcast = dataset.sparkSession.sparkContext.broadcast((vectors.words, vectors.vectors))
        average = _average_udf(uuid.uuid4().hex, broadcast, column, self.getBackend())
        return dataset.withColumn(self.getOutputCol(), average(F.col(column)))


# -- input ------------------------------------------------------------------------------------


def _check_tokens_column(schema, column: str):
    if column not in schema.names:
        raise SparknnError(f"inputCol {column!r} is not a column (columns: {schema.names})")
    found = schema[column].dataType
    if not (isinstance(found, ArrayType) and isinstance(found.elementType, StringType)):
        raise SparknnError(
            f"inputCol {column!r} must be array<string>, found {found.simpleString()} "
            "(split text into words first, e.g. with pyspark.ml.feature.Tokenizer)"
        )


# -- transform on the executors ---------------------------------------------------------------


def _average_udf(key, broadcast, column, backend_name):
    """An iterator Arrow UDF: a row of tokens -> MLlib's document vector (a dense Vector),
    a batch at a time in Arrow and the backend's ``document_means``, with no Python loop
    over rows or tokens."""

    def average(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        words, vectors = _tables_on_executor_for(key, broadcast)
        backend = get_backend(backend_name)
        for rows in batches:
            if rows.null_count:
                raise SparknnError(f"inputCol {column!r} holds a null row")
            yield dense_vectors(document_vectors(rows, words, vectors, backend))

    return arrow_udf(average, VectorUDT())


def _tables_on_executor_for(key, broadcast):
    tables = _tables_on_executor.get(key)
    if tables is None:
        while len(_tables_on_executor) >= _TABLE_CACHE_SIZE:
            del _tables_on_executor[next(iter(_tables_on_executor))]
        words, vectors = broadcast.value
        tables = (pa.array(words, pa.string()), lookup_table(vectors))
        _tables_on_executor[key] = tables
    return tables


def document_vectors(rows, words, table, backend) -> np.ndarray:
    """MLlib's ``Word2VecModel.transform``: per row of tokens, the sum (in float64) of its
    in-vocabulary words' vectors times ``1 / len(row)``; zeros for an empty row. ``rows``:
    an Arrow list<string> array without nulls; ``words``: an Arrow string array of the
    vocabulary; ``table``: :func:`lookup_table` of its vectors; ``backend`` computes the
    sums (:meth:`~sparknn.backend.documents.DocumentOps.document_means`)."""
    lengths = pc.list_value_length(rows).to_numpy(zero_copy_only=False).astype(np.int64)
    unknown = len(table) - 1  # the zero row
    ids = pc.fill_null(pc.index_in(pc.list_flatten(rows), value_set=words), unknown)
    return backend.document_means(table, ids.to_numpy(), lengths)


def lookup_table(vectors: np.ndarray) -> np.ndarray:
    """The table :func:`document_vectors` reads: the ``(V, d)`` vectors (float32, as
    the model holds them: MLlib also sums float vectors as doubles) and a row of zeros,
    which out-of-vocabulary tokens and padding read."""
    return np.concatenate([vectors, np.zeros((1, vectors.shape[1]), vectors.dtype)])


# -- persistence ------------------------------------------------------------------------------


def _vectors_table(word_vectors, dtype=np.float64):
    """The vectors as an Arrow table: ``id`` (the row), ``word``, ``count`` (null when
    unknown) and ``vector`` (a list of ``dtype``), in record batches of at most
    :data:`~sparknn.word2vec.encoding.BLOCK_BYTES` of vectors (at least a row) each, which
    Spark keeps as they are: no batch, offset or Java array nears 2^31 bytes, whatever the
    vocabulary x vectorSize."""
    n, d = word_vectors.vectors.shape
    rows = _rows_per_batch(d, dtype)
    counts = word_vectors.counts
    schema = pa.schema(
        [
            ("id", pa.int64()), ("word", pa.string()), ("count", pa.int64()),
            ("vector", pa.list_(pa.from_numpy_dtype(dtype))),
        ]
    )  # fmt: skip
    batches = []
    for start in range(0, n, rows):
        end = min(start + rows, n)
        block = word_vectors.vectors[start:end].astype(dtype, copy=False).reshape(-1)
        offsets = pa.array(np.arange(end - start + 1) * d, pa.int32())
        batches.append(
            pa.record_batch(
                [
                    pa.array(np.arange(start, end, dtype=np.int64)),
                    pa.array(word_vectors.words[start:end], pa.string()),
                    pa.array(
                        counts[start:end] if counts is not None else [None] * (end - start),
                        pa.int64(),
                    ),
                    pa.ListArray.from_arrays(offsets, pa.array(block)),
                ],
                schema=schema,
            )
        )
    return pa.Table.from_batches(batches, schema)


def _rows_per_batch(d: int, dtype) -> int:
    """Vectors of ``d`` ``dtype`` values in one batch of at most BLOCK_BYTES (at least one)."""
    return max(1, encoding.BLOCK_BYTES // (d * np.dtype(dtype).itemsize))


def _load_vectors(stage, spark, path, metadata):
    """Reads the vectors :meth:`Word2VecModel.write` saved into ``stage``, a batch at a time
    (Spark's Arrow batches held to :data:`~sparknn.word2vec.encoding.BLOCK_BYTES`), each row
    put in its place by ``id``: no array of all the vectors but the result."""
    d = stage.getVectorSize()
    frame = spark.read.parquet(data_path(path, "vectors"))
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    previous = spark.conf.get(key)
    spark.conf.set(key, str(_rows_per_batch(d, np.float32)))
    try:
        table = frame.toArrow()
    finally:
        spark.conf.set(key, previous)
    n = table.num_rows
    words, vectors, counts = [None] * n, np.empty((n, d), np.float32), np.empty(n, np.int64)
    known_counts = True
    for batch in table.to_batches():
        ids = batch.column("id").to_numpy()
        vectors[ids] = batch.column("vector").flatten().to_numpy().reshape(len(ids), d)
        for i, word in zip(ids.tolist(), batch.column("word").to_pylist(), strict=True):
            words[i] = word
        known_counts = known_counts and not batch.column("count").null_count
        if known_counts:
            counts[ids] = batch.column("count").to_numpy()
    stage.wordVectors = WordVectors(words, vectors, counts if known_counts else None)
    stage.trainingMetadata = metadata.get("trainingMetadata")
