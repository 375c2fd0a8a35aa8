"""Write notebooks/*.ipynb (without outputs) from the cell sources below.

The notebooks are generated so that their code stays reviewable as plain Python and the
committed .ipynb files never carry stale outputs. After editing a cell here:

    python notebooks/build_notebooks.py

tests/test_notebooks.py checks that the committed notebooks match this script, then runs them.
"""

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def md(text):
    return new_markdown_cell(text.strip("\n"))


def code(text):
    return new_code_cell(text.strip("\n"))


# --------------------------------------------------------------------------- classic networks

CLASSIC = [
    md("""
# Classic networks with sparknn

Small networks everyone has met, written with sparknn's Keras-familiar API: the 9-line
network, XOR, OR/AND with softmax, a regression with `summary()`, and dropout. The last
section trains the 9-line network data-parallel on Spark and checks that it ends with
exactly the weights of the single-process run.
"""),
    code("""
import numpy as np

import sparknn
from sparknn import Sequential, to_categorical
from sparknn.nn import layers, losses, optimizers

print("sparknn", sparknn.__version__)
"""),
    md("""
## The 9-line network

One sigmoid unit without bias, weights `2*np.random.random((3,1))-1` after
`np.random.seed(1)`, and 10,000 full-batch steps of `w += X.T @ ((y - o) * o * (1 - o))`.
That update is SGD with learning rate 1 on the batch *sum* of ½(y−o)², so we ask for the
`sum` reduction instead of Keras' mean. float64, like the original.
"""),
    code("""
X = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]], dtype=float)
y = np.array([[0, 1, 1, 0]]).T

np.random.seed(1)
initial_weights = 2 * np.random.random((3, 1)) - 1

nine_line = Sequential(
    [layers.Dense(1, activation="sigmoid", use_bias=False, input_dim=3)], dtype="float64"
)
nine_line.set_weights([initial_weights])
nine_line.compile(losses.HalfSquaredError(reduction="sum"), optimizers.SGD(learning_rate=1.0))
nine_line.fit(X, y, epochs=10_000, batch_size=4, shuffle=False, verbose=0)

prediction = nine_line.predict(np.array([[1, 0, 0]]))[0, 0]
print(f"prediction for [1, 0, 0]: {prediction:.8f}")
"""),
    md("""
## XOR: one hidden layer

XOR is not linearly separable, so one unit cannot learn it; a 3-4-1 sigmoid network can.
"""),
    code("""
X_xor = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
y_xor = np.array([[0, 1, 1, 0]]).T

xor = Sequential(
    [layers.Dense(4, activation="sigmoid", input_dim=3), layers.Dense(1, activation="sigmoid")],
    seed=1,
    dtype="float64",
)
xor.compile(losses.HalfSquaredError(reduction="sum"), optimizers.SGD(1.0, momentum=0.9))
xor.fit(X_xor, y_xor, epochs=3000, batch_size=4, shuffle=False, verbose=0)

out = xor.predict(X_xor)[:, 0]
print("outputs:", np.round(out, 3), "targets:", y_xor[:, 0])
print(f"mean absolute error: {np.abs(out - y_xor[:, 0]).mean():.4f}")
"""),
    md("""
## OR and AND with a softmax layer

Two output units with softmax and categorical cross-entropy, plain SGD with learning rate 0.2.
"""),
    code("""
X_gate = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
for name, op in [("OR", np.bitwise_or), ("AND", np.bitwise_and)]:
    labels = op(X_gate[:, 0].astype(int), X_gate[:, 1].astype(int))
    gate = Sequential([layers.Dense(2, activation="softmax", input_dim=2)], seed=0)
    gate.compile("categorical_crossentropy", optimizers.SGD(0.2), metrics=["accuracy"])
    gate.fit(X_gate, to_categorical(labels, 2), epochs=500, batch_size=4, verbose=0)
    loss, accuracy = gate.evaluate(X_gate, to_categorical(labels, 2))
    predicted = gate.predict(X_gate).argmax(axis=1)
    print(f"{name}: predicted {predicted}, target {labels}, accuracy {accuracy:.0%}")
"""),
    md("""
## A Keras-style regression

`Dense(2, activation="relu", input_dim=5)` has 5×2 weights + 2 biases = 12 parameters and
`Dense(1)` has 2 + 1 = 3, as Keras counts them.
"""),
    code("""
rng = np.random.default_rng(0)
features = rng.normal(size=(400, 5))
target = features @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + 0.3 + 0.1 * rng.normal(size=400)
x_train, x_val = features[:300], features[300:]
y_train, y_val = target[:300, None], target[300:, None]

regression = Sequential([layers.Dense(2, activation="relu", input_dim=5), layers.Dense(1)], seed=0)
regression.compile(loss="mse", optimizer=optimizers.Adam(0.01))
regression.summary()
history = regression.fit(
    x_train, y_train, epochs=60, batch_size=32, validation_data=(x_val, y_val), verbose=0
)
print(
    f"final mse: train {history.history['loss'][-1]:.3f}, "
    f"validation {history.history['val_loss'][-1]:.3f} (target variance {y_val.var():.3f})"
)
"""),
    code("""
import matplotlib.pyplot as plt

plt.figure(figsize=(5, 3))
plt.plot(history.history["loss"], label="train")
plt.plot(history.history["val_loss"], label="validation")
plt.xlabel("epoch")
plt.ylabel("mse")
plt.yscale("log")
plt.legend()
plt.tight_layout()
plt.show()
"""),
    md("""
## Dropout

Inverted dropout: during training each unit is zeroed with probability `rate` and the
survivors are scaled by 1/(1−rate), so at inference the layer is the identity and
predictions are deterministic. Two identical models on a small, noisy classification
problem, with and without dropout (on data this small the accuracy difference is mostly
noise; the point is the mechanics):
"""),
    code("""
rng = np.random.default_rng(1)
points = rng.normal(size=(240, 20))
classes = (points[:, 0] + points[:, 1] ** 2 - 1 + 0.5 * rng.normal(size=240) > 0).astype(int)
p_train, p_val = points[:80], points[80:]
c_train, c_val = to_categorical(classes[:80], 2), to_categorical(classes[80:], 2)


def classifier(dropout_rate):
    stack = [layers.Dense(64, activation="relu", input_dim=20)]
    if dropout_rate:
        stack.append(layers.Dropout(dropout_rate))
    stack.append(layers.Dense(2, activation="softmax"))
    model = Sequential(stack, seed=3)
    model.compile("categorical_crossentropy", optimizers.Adam(0.01), metrics=["accuracy"])
    model.fit(p_train, c_train, epochs=150, batch_size=16, verbose=0)
    return model


for rate in (0.0, 0.5):
    model = classifier(rate)
    _, train_acc = model.evaluate(p_train, c_train)
    _, val_acc = model.evaluate(p_val, c_val)
    print(f"dropout {rate:.1f}: train accuracy {train_acc:.2f}, validation accuracy {val_acc:.2f}")

print("inference is deterministic:", np.array_equal(model.predict(p_val), model.predict(p_val)))
"""),
]

CLASSIC_SPARK = [
    md("""
## The same network, data-parallel on Spark

`sparknn.ml.NeuralNetwork` trains a compiled `Sequential` on a Spark DataFrame, and
`Sequential.fit` accepts a DataFrame directly (its features and label columns, default
`features` and `label`), so the Keras habit carries over. The rows are split over
partitions that stay resident in a long-lived barrier stage; per step every task returns the
gradient *sum* over the rows of the batch it holds, and the driver adds the sums and takes
the optimizer step: the two calls `fit` makes in one process. Here the four rows go to two
partitions for the same 10,000 full-batch steps (one step per epoch), and the weights should
come out as those of the single-process run.

(For a model that is not a `Sequential`, or data that is not rows, write a replica: the
contract is `sparknn.distributed.Replica`, driven by `sparknn.distributed.trainer.fit`.)
"""),
    code("""
import os

MASTER = os.environ.get("SPARKNN_NB_MASTER", "local[2]")  # or spark://127.0.0.1:7077
SPARK_STEPS = int(os.environ.get("SPARKNN_NB_SPARK_STEPS", 10_000))
"""),
    code("""
def nine_line_model():
    model = Sequential(
        [layers.Dense(1, activation="sigmoid", use_bias=False, input_dim=3)], dtype="float64"
    )
    model.set_weights([initial_weights])
    model.compile(losses.HalfSquaredError(reduction="sum"), optimizers.SGD(learning_rate=1.0))
    return model


single = nine_line_model()
single.fit(X, y, epochs=SPARK_STEPS, batch_size=4, shuffle=False, verbose=0)

spark = sparknn.session(MASTER, app_name="sparknn-classic-networks")
rows = spark.createDataFrame(
    [(features.tolist(), float(label)) for features, label in zip(X, y[:, 0], strict=True)],
    "features array<double>, label double",
)
distributed = nine_line_model()
distributed.fit(rows, epochs=SPARK_STEPS, batch_size=4, shuffle=False, numPartitions=2)

print(f"{SPARK_STEPS} steps on {MASTER} over 2 partitions")
print("weights, Spark:         ", distributed.get_weights()[0].ravel())
print("weights, single process:", single.get_weights()[0].ravel())
print(
    "same weights as the single-process run:",
    np.allclose(distributed.params, single.params, rtol=1e-12, atol=0),
)
print(f"Spark prediction for [1, 0, 0]: {distributed.predict(np.array([[1, 0, 0]]))[0, 0]:.8f}")
spark.stop()
"""),
]


# --------------------------------------------------------------------------- Spark ML

SPARK_ML = [
    md("""
# Training your own network on a Spark DataFrame

`sparknn.ml.NeuralNetwork` is a Spark ML Estimator: give it a compiled `sparknn.Sequential`,
`fit` a DataFrame, and get back a `NeuralNetworkModel`, a Transformer whose `transform` adds
predictions on the executors. It works inside a `Pipeline`, saves with `write().save(path)`,
and keeps the Keras `History` as `model.history`. Two examples: a regression with validation
(the classic-networks notebook's, now on a DataFrame), and a text classifier that tells
passages of three books apart, from Spark ML's `Tokenizer` to an `Embedding` and an `LSTM`.
"""),
    code("""
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import CountVectorizer, Tokenizer
from pyspark.sql import functions as F

import sparknn
from sparknn import Sequential
from sparknn.corpus import labelled_passages
from sparknn.ml import NeuralNetwork
from sparknn.nn import layers, optimizers


def setting(name, default):
    \"\"\"A notebook parameter: SPARKNN_NB_<NAME> from the environment, else the default.\"\"\"
    return type(default)(os.environ.get(f"SPARKNN_NB_{name}", default))


MASTER = setting("MASTER", "local[2]")
DATA = Path(setting("DATA", "../../shared/data"))  # the shared corpora, beside the checkout
REGRESSION_EPOCHS = setting("REGRESSION_EPOCHS", 60)
PASSAGES = setting("PASSAGES", 150)  # passages per book
TEXT_EPOCHS = setting("TEXT_EPOCHS", 8)

spark = sparknn.session(MASTER, app_name="sparknn-spark-ml")
print("Spark", spark.version, "master", spark.sparkContext.master)
"""),
    md("""
## A regression on a DataFrame, with validation

The same data and network as the classic-networks notebook's Keras-style regression. The
features are an `array<double>` column (a `pyspark.ml.linalg` vector works too);
`validationFraction` holds out a fixed share of the rows, scored on the executors after each
epoch.
"""),
    code("""
rng = np.random.default_rng(0)
features = rng.normal(size=(400, 5))
target = features @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + 0.3 + 0.1 * rng.normal(size=400)
table = spark.createDataFrame(
    [(row.tolist(), float(value)) for row, value in zip(features, target, strict=True)],
    "features array<double>, label double",
)

regression = Sequential([layers.Dense(2, activation="relu", input_dim=5), layers.Dense(1)], seed=0)
regression.compile(loss="mse", optimizer=optimizers.Adam(0.01))
fitted_regression = NeuralNetwork(
    model=regression,
    batchSize=32,
    epochs=REGRESSION_EPOCHS,
    validationFraction=0.25,
    numPartitions=2,
    seed=0,
).fit(table)
loss = fitted_regression.history["loss"]
val_loss = fitted_regression.history["val_loss"]
print(f"{len(loss)} epochs; final mse: train {loss[-1]:.3f}, validation {val_loss[-1]:.3f}")
fitted_regression.transform(table).select("label", "prediction").show(3)
"""),
    md("""
## A text classifier: which book is a passage from?

Passages of 40 words from the King James Bible, Shakespeare and Joyce's *Ulysses*, labelled
by book (`sparknn.corpus.labelled_passages` draws them from the shared corpora). Spark ML's
`Tokenizer` splits them into words, a `CountVectorizer` fitted on the training passages picks
the vocabulary, and a small UDF turns each passage into a fixed number of token ids (0 for
padding and words outside the vocabulary). The network is `Embedding -> LSTM ->
Dense(softmax)`.
"""),
    code("""
BOOKS = ("bible", "shakespeare", "ulysses")
WORDS_PER_PASSAGE, SEQ_LEN, VOCAB = 40, 40, 2000

labelled = labelled_passages(
    DATA, BOOKS, WORDS_PER_PASSAGE, tokens=PASSAGES * len(BOOKS) * WORDS_PER_PASSAGE
)
texts = spark.createDataFrame(labelled)
train_texts, test_texts = texts.randomSplit([0.8, 0.2], seed=1)
print(f"{len(labelled)} passages; e.g. {labelled.text[0][:70]}...")
"""),
    code("""
tokenizer = Tokenizer(inputCol="text", outputCol="words")
vocabulary = (
    CountVectorizer(inputCol="words", outputCol="counts", vocabSize=VOCAB, minDF=2)
    .fit(tokenizer.transform(train_texts))
    .vocabulary
)
word_ids = {word: i + 1 for i, word in enumerate(vocabulary)}  # 0: padding and unknown words


@F.udf("array<int>")
def token_ids(words):
    ids = [word_ids.get(word, 0) for word in words[:SEQ_LEN]]
    return ids + [0] * (SEQ_LEN - len(ids))


def encoded(frame):
    return tokenizer.transform(frame).withColumn("features", token_ids("words"))


classifier = Sequential(
    [
        layers.Embedding(len(vocabulary) + 1, 16, input_length=SEQ_LEN),
        layers.LSTM(16),
        layers.Dense(len(BOOKS), activation="softmax"),
    ],
    seed=0,
)
classifier.compile("sparse_categorical_crossentropy", optimizers.Adam(0.01), metrics=["accuracy"])
fitted_classifier = NeuralNetwork(
    model=classifier,
    batchSize=32,
    epochs=TEXT_EPOCHS,
    validationFraction=0.2,
    numPartitions=2,
    seed=0,
).fit(encoded(train_texts))
history = fitted_classifier.history
print(f"{len(vocabulary)} words in the vocabulary; {len(history['loss'])} epochs")
print(
    f"last epoch: accuracy {history['accuracy'][-1]:.2f}, "
    f"validation accuracy {history['val_accuracy'][-1]:.2f}"
)
"""),
    md("""
`transform` predicts on the executors; the test passages were never seen in training:
"""),
    code("""
predicted = fitted_classifier.transform(encoded(test_texts)).cache()
test_accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predicted)
print(f"test accuracy: {test_accuracy:.2f} (chance {1 / len(BOOKS):.2f})")
predicted.select("text", "label", "prediction").show(5, truncate=50)
"""),
    code("""
figure, axes = plt.subplots(1, 2, figsize=(9, 3))
for axis, title, logs in (
    (axes[0], "regression (mse)", fitted_regression.history),
    (axes[1], "text classifier (cross-entropy)", fitted_classifier.history),
):
    axis.plot(logs["loss"], label="loss")
    axis.plot(logs["val_loss"], label="val_loss")
    axis.set_title(title)
    axis.set_xlabel("epoch")
    axis.legend()
plt.tight_layout()
plt.show()
"""),
    code("""
spark.stop()
"""),
]


# --------------------------------------------------------------------------- Word2Vec in a Pipeline

WORD2VEC_PIPELINE = [
    md("""
# Word2Vec in a Spark ML Pipeline: sparknn's and MLlib's side by side

`sparknn.ml.Word2Vec` takes the Params of MLlib's `pyspark.ml.feature.Word2Vec` and fits a
`Word2VecModel` whose `transform` is MLlib's (per row, the sum of its words' vectors divided
by its number of words), so changing the import is the whole migration. Here both feed the
same classifier, `Tokenizer -> Word2Vec -> LogisticRegression`, that tells passages of four
books apart; the Params are equal, and fit time and test accuracy are printed side by side.
`bench/ml_word2vec.py` measures the same at larger sizes (bench/RESULTS.md).
"""),
    code("""
import os
import time
from pathlib import Path

import pandas as pd
from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import Tokenizer
from pyspark.ml.feature import Word2Vec as MLlibWord2Vec

import sparknn
from sparknn.corpus import labelled_passages
from sparknn.ml import Word2Vec


def setting(name, default):
    \"\"\"A notebook parameter: SPARKNN_NB_<NAME> from the environment, else the default.\"\"\"
    return type(default)(os.environ.get(f"SPARKNN_NB_{name}", default))


MASTER = setting("MASTER", "local[2]")
DATA = Path(setting("DATA", "../../shared/data"))  # the shared corpora, beside the checkout
TOKENS = setting("TOKENS", 200_000)  # words in the labelled text set
EPOCHS = setting("EPOCHS", 5)  # maxIter, for both

spark = sparknn.session(MASTER, app_name="sparknn-word2vec-pipeline")
print("Spark", spark.version, "master", spark.sparkContext.master)
"""),
    md("""
## Passages labelled by book

`sparknn.corpus.labelled_passages` cuts the King James Bible, Shakespeare, *Ulysses* and
*Dubliners* into passages of 40 words (verse numbers and Gutenberg licences removed) and
draws about `TOKENS` words of them, the books sharing equally; the same seed gives the same
rows. Every fifth passage is held out for testing.
"""),
    code("""
BOOKS = ("bible", "shakespeare", "ulysses", "dubliners")
rows = labelled_passages(DATA, BOOKS, words_per_passage=40, tokens=TOKENS, seed=0)
held_out = rows.index % 5 == 0
train = spark.createDataFrame(rows[~held_out]).repartition(2).cache()
test = spark.createDataFrame(rows[held_out]).cache()
print(f"{train.count()} training and {test.count()} test passages of {len(BOOKS)} books")
print(rows.groupby("label").size().rename(dict(enumerate(BOOKS))).to_dict())
"""),
    md("""
## The same Pipeline, two Word2Vecs

Equal Params for both. MLlib trains skip-gram with hierarchical softmax; sparknn trains
skip-gram with negative sampling (its own Params, `negative` and `sample`, keep their
defaults). Each `fit` is the whole Pipeline's, from the call to the fitted `PipelineModel`;
the first fit of each in a session also starts its Python workers or JIT-compiles its code.
"""),
    code("""
PARAMS = dict(
    vectorSize=100, windowSize=5, minCount=5, maxIter=EPOCHS, numPartitions=2, stepSize=0.025,
    seed=1,
)  # fmt: skip


def pipeline(word2vec_class):
    return Pipeline(
        stages=[
            Tokenizer(inputCol="text", outputCol="words"),
            word2vec_class(inputCol="words", outputCol="features", **PARAMS),
            LogisticRegression(maxIter=100),
        ]
    )


accuracy = MulticlassClassificationEvaluator(metricName="accuracy")
fitted, results = {}, []
for name, word2vec_class in (("MLlib", MLlibWord2Vec), ("sparknn", Word2Vec)):
    start = time.perf_counter()
    fitted[name] = pipeline(word2vec_class).fit(train)
    seconds = time.perf_counter() - start
    results.append(
        {
            "Word2Vec": name,
            "fit seconds": round(seconds, 1),
            "test accuracy": round(accuracy.evaluate(fitted[name].transform(test)), 3),
        }
    )
print(f"Params: {PARAMS}")
pd.DataFrame(results).set_index("Word2Vec")
"""),
    md("""
## The vectors themselves

The fitted `Word2VecModel` is the Pipeline's second stage. It answers MLlib's
`findSynonyms`, and `wordVectors` is sparknn's query object (`most_similar`, `similarity`,
analogies), which needs no Spark.
"""),
    code("""
vectors = fitted["sparknn"].stages[1]
vectors.findSynonyms("king", 5).show()
print("MLlib's:", [word for word, _ in fitted["MLlib"].stages[1].findSynonymsArray("king", 5)])
print("similarity(king, lord):", round(float(vectors.wordVectors.similarity("king", "lord")), 3))
"""),
    code("""
spark.stop()
"""),
]


# --------------------------------------------------------------------------- quick start

QUICKSTART_INTRO = [
    md("""
# sparknn quick start: a char-LSTM and word2vec on a local Spark cluster

This notebook connects to a local standalone Spark cluster (starting one if none is running),
trains a character-level LSTM language model on Joyce's *Dubliners* and samples from it,
then trains word2vec on the same text and looks at nearest neighbours.

Sizes are small so it runs in minutes on a laptop; every size can be changed below or with
the `SPARKNN_NB_*` environment variables (the test suite runs this notebook with tiny ones).
"""),
    code("""
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import sparknn
from sparknn.corpus import SHIPPED_CORPUS
from sparknn.spark import cluster


def setting(name, default):
    \"\"\"A notebook parameter: SPARKNN_NB_<NAME> from the environment, else the default.\"\"\"
    return type(default)(os.environ.get(f"SPARKNN_NB_{name}", default))


CORPUS = Path(setting("CORPUS", str(SHIPPED_CORPUS))).resolve()  # Dubliners, shipped
MASTER = setting("MASTER", "")  # e.g. local[2] to skip the standalone cluster
WORKERS = setting("WORKERS", 2)  # workers of the local cluster, 1 core and 1 GB each
LM_STEPS = setting("LM_STEPS", 400)  # synchronous SGD steps of the char-LSTM
LM_HIDDEN = setting("LM_HIDDEN", 128)  # LSTM units
LM_SEQ_LEN = setting("LM_SEQ_LEN", 100)  # characters per training window
LM_BATCH = setting("LM_BATCH", 64)  # windows per step, summed over partitions
LM_EVAL_EVERY = setting("LM_EVAL_EVERY", 50)  # steps between validation losses
W2V_EPOCHS = setting("W2V_EPOCHS", 30)
W2V_DIMS = [int(d) for d in setting("W2V_DIMS", "64,256").split(",")]
print(f"corpus {CORPUS} ({CORPUS.stat().st_size / 1e6:.1f} MB)")
"""),
    md("""
## Connect to a local cluster

`sparknn.spark.cluster.start` starts a standalone master and workers on 127.0.0.1 (the same as
`sparknn cluster start --workers 2` in a shell), or returns the cluster already running.
It stays up after this notebook; stop it with `sparknn cluster stop`.
"""),
    code("""
if not MASTER:
    info = cluster.start(workers=WORKERS, cores=1, memory="1g")
    print(info.describe())
    MASTER = info.master_url

spark = sparknn.session(MASTER, app_name="sparknn-quickstart")
print("Spark", spark.version, "master", spark.sparkContext.master)
"""),
]

QUICKSTART_CHARLM = [
    md("""
## A character-level LSTM language model

`sparknn.charlm.train.train` is the whole run of `jobs/train_charlm.py`: the corpus is read
and encoded once by Spark and stays resident on the executors, split into contiguous ranges
of the character stream; one long-lived barrier stage serves the training steps (per step
the driver sends the parameters to each task, each task returns the gradient sum over its
share of the batch, and the driver takes the Nadam step; see `docs/ARCHITECTURE.md`). It
writes metrics.csv, samples and the model to its output folder; its `on_step` hook feeds the
progress bar and the curves here after every step.
"""),
    code("""
from tqdm import tqdm

from sparknn.charlm import bits_per_char, load_charlm, sample
from sparknn.charlm.settings import CharLMSettings
from sparknn.charlm.train import train
from sparknn.logs import setup_console_logging

setup_console_logging()  # the run's own lines: corpus and model sizes, each epoch's sample
lm_settings = CharLMSettings(
    corpus=str(CORPUS),
    seq_len=LM_SEQ_LEN,
    hidden=LM_HIDDEN,
    batch_size=LM_BATCH,
    lr=0.004,
    max_steps=LM_STEPS,
    eval_every=LM_EVAL_EVERY,
    val_max_windows=256,
    log_every=LM_STEPS,  # the bar shows the progress
    checkpoint_every=0,
    output=str(Path(setting("OUTPUT", "../runs/quickstart")).resolve() / "charlm"),
    overwrite=True,  # a rerun replaces this notebook's own earlier output
)
curves = {"step": [], "train": [], "val_step": [], "val": []}


def on_step(stats, val_loss):
    curves["step"].append(stats.step)
    curves["train"].append(stats.loss)
    if val_loss is not None:
        curves["val_step"].append(stats.step)
        curves["val"].append(val_loss)
    val = f"{curves['val'][-1]:.3f}" if curves["val"] else "-"
    bar.set_postfix(loss=f"{stats.loss:.3f}", val_loss=val, refresh=False)
    bar.update()


started = time.perf_counter()
with tqdm(total=LM_STEPS, desc="char-LSTM", unit="step") as bar:
    model_path = train(lm_settings, spark, on_step=on_step)
print(
    f"{LM_STEPS} steps in {time.perf_counter() - started:.0f} s; validation loss "
    f"{curves['val'][-1]:.3f} nats = {bits_per_char(curves['val'][-1]):.3f} bits per character"
)
model, vocab = load_charlm(model_path)
model.summary()
"""),
    code("""
plt.figure(figsize=(7, 3.5))
plt.plot(curves["step"], curves["train"], alpha=0.5, label="train (per batch)")
plt.plot(curves["val_step"], curves["val"], "o-", label="validation")
plt.xlabel("step")
plt.ylabel("cross-entropy (nats per character)")
plt.legend()
plt.tight_layout()
plt.show()
"""),
    md("""
### Sampling

Low temperatures pick the likeliest next character (safe, repetitive); high temperatures
flatten the distribution (inventive, misspelt). Each line continues the same prompt.
"""),
    code("""
PROMPT = "The night was "
rng = np.random.default_rng(0)
for temperature in (0.2, 0.5, 0.8, 1.0, 1.2):
    text = sample(model, vocab, PROMPT, length=160, temperature=temperature, rng=rng)
    print(f"--- temperature {temperature}\\n{PROMPT}{text}\\n")
"""),
]

QUICKSTART_WORD2VEC = [
    md("""
## word2vec: skip-gram with negative sampling

Executors tokenize and count the corpus, keep their share of it encoded in memory, and train
on it in rounds; the driver merges the rows each partition changed (see
`docs/word2vec-design.md`). Progress lines go to stderr.
"""),
    code("""
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.spark import train_spark
from sparknn.word2vec.vectors import WordVectors


def train_vectors(vector_size):
    settings = Settings(  # the job's defaults (conf/word2vec.toml) but for these
        vector_size=vector_size,
        epochs=W2V_EPOCHS,
        tokenizer="unicode",  # words without punctuation
        strip_gutenberg_headers=True,
    )
    started = time.perf_counter()
    result = train_spark(spark, str(CORPUS), settings)
    print(
        f"{vector_size} dims: {len(result.vocab):,} words in {time.perf_counter() - started:.0f} s"
    )
    return WordVectors(result.vocab.words, result.vectors, result.vocab.counts)


vectors = {W2V_DIMS[0]: train_vectors(W2V_DIMS[0])}
"""),
    md("""
### Nearest neighbours

In the style of word2vec's `distance` tool: the words closest to each query by cosine
similarity.
"""),
    code("""
QUERIES = ["night", "drink", "eyes", "dublin", "aunt"]


def neighbour_table(wv, word, topn=8):
    if word not in wv:
        print(f"{word!r} is not in the vocabulary")
        return
    print(f"Word: {word}  Position in vocabulary: {wv.index[word]}\\n")
    print(f"{'Word':>40}  Cosine similarity")
    print("-" * 60)
    for other, score in wv.most_similar(word, topn=topn):
        print(f"{other:>40}  {score:.4f}")
    print()


for word in QUERIES:
    neighbour_table(vectors[W2V_DIMS[0]], word)
"""),
    md("""
### 64 vs 256 dimensions

The same training with wider vectors. On a corpus this small (about 70,000 words) the extra
dimensions mostly cost time; the neighbour lists side by side:
"""),
    code("""
import pandas as pd

for dims in W2V_DIMS[1:]:
    vectors[dims] = train_vectors(dims)

rows = {}
for word in QUERIES:
    for dims, wv in vectors.items():
        if word in wv:
            rows[(word, f"{dims} dims")] = [
                f"{other} {score:.2f}" for other, score in wv.most_similar(word, topn=5)
            ]
pd.DataFrame(rows).T
"""),
    md("""
### A 2-D map of some words

Principal components of the (unit-length) vectors, from numpy's SVD.
"""),
    code("""
WORDS = (
    "night morning evening day saturday christmas "
    "aunt uncle wife husband mother father sister daughter son "
    "whisky stout porter glass drink bottle "
    "eyes face hands hair head voice "
    "gabriel kate julia mary jane freddy "
    "dublin city street church house room door window"
).split()

wv = vectors[W2V_DIMS[0]]
shown = [w for w in WORDS if w in wv]
points = np.stack([wv.vector(w, norm=True) for w in shown])
centred = points - points.mean(axis=0)
_, _, components = np.linalg.svd(centred, full_matrices=False)
xy = centred @ components[:2].T

plt.figure(figsize=(8, 6))
plt.scatter(xy[:, 0], xy[:, 1], s=8)
for (x, y), word in zip(xy, shown, strict=True):
    plt.annotate(word, (x, y), fontsize=9)
plt.title(f"{len(shown)} words, first two principal components ({W2V_DIMS[0]} dims)")
plt.tight_layout()
plt.show()
"""),
    md("""
Save the vectors in sparknn's format (the same files `jobs/train_word2vec.py --output` writes)
and load them back, as `sparknn neighbors DIR WORD...` does from a shell:
"""),
    code("""
from sparknn.word2vec.formats import save_model

saved = Path(setting("OUTPUT", "../runs/quickstart")).resolve() / f"word2vec-{W2V_DIMS[0]}"
# overwrite: a rerun replaces this notebook's own earlier output
save_model(saved, wv.words, wv.counts, wv.vectors, {"corpus": str(CORPUS)}, overwrite=True)
reloaded = sparknn.load_vectors(saved)
print(f"saved to {saved}; reloaded {len(reloaded):,} words")
print(f"try:  sparknn neighbors {saved} night drink")
print(
    "same neighbours after reload:",
    reloaded.most_similar("night", topn=5) == wv.most_similar("night", topn=5),
)
"""),
]

QUICKSTART_END = [
    code("""
spark.stop()
print("done; the local cluster keeps running until 'sparknn cluster stop'")
"""),
]

QUICKSTART = QUICKSTART_INTRO + QUICKSTART_CHARLM + QUICKSTART_WORD2VEC + QUICKSTART_END


NOTEBOOKS = {
    "classic_networks.ipynb": CLASSIC + CLASSIC_SPARK,
    "quickstart.ipynb": QUICKSTART,
    "spark_ml.ipynb": SPARK_ML,
    "word2vec_pipeline.ipynb": WORD2VEC_PIPELINE,
}


def build(name: str) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=NOTEBOOKS[name])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{Path(name).stem}-{index:02d}"  # stable ids: no churn in diffs
    return notebook


def main(out_dir: Path = HERE) -> int:
    for name in NOTEBOOKS:
        nbformat.write(build(name), out_dir / name)
        print(f"wrote {out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
