"""The char-LM job's settings, each declared once: :class:`CharLMSettings`, whose every field
holds its default, its doc (the job flag's help; conf/charlm.toml says the same) and the values
it may take. ``jobs/train_charlm.py``'s flags and TOML keys and
:func:`sparknn.charlm.train.train` read it."""

from dataclasses import dataclass

from sparknn.backend import BACKENDS
from sparknn.config import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    JobSettings,
    one_of,
    setting,
)
from sparknn.corpus import SHIPPED_CORPUS
from sparknn.errors import SparknnError


@dataclass(frozen=True)
class CharLMSettings(JobSettings):
    """Every setting of a char-LM run (names as in the job's flags and TOML keys)."""

    # data
    corpus: str = setting(
        str(SHIPPED_CORPUS),
        "text files, directories or globs (plain, .gz, .bz2) or Parquet with a `text` column; "
        "unset, the *Dubliners* shipped inside sparknn (sparknn/data/dubliners.txt)",
    )
    strip_gutenberg: bool = setting(
        True, "keep only the book between Project Gutenberg's START/END markers"
    )
    seq_len: int = setting(
        100,
        "characters per training example (inputs); a window holds seq_len + 1 characters",
        AT_LEAST_ONE,
    )
    val_fraction: float = setting(
        0.05,
        "fraction of windows held out for validation (chosen by a fixed hash of the window index)",
        FRACTION,
    )
    val_max_windows: int = setting(
        512,
        "at most this many validation windows are scored at each evaluation (0 = all)",
        NON_NEGATIVE,
    )
    min_char_count: int = setting(
        2, "characters seen fewer times than this map to one unknown symbol", NON_NEGATIVE
    )
    partitions: int = setting(
        2,
        "data partitions of the encoded corpus; each keeps its windows resident on an executor",
        AT_LEAST_ONE,
    )
    # model
    hidden: int = setting(128, "LSTM units per layer", AT_LEAST_ONE)
    layers: int = setting(1, "number of stacked LSTM layers", AT_LEAST_ONE)
    embedding_dim: int = setting(32, "character-embedding width", AT_LEAST_ONE)
    dtype: str = setting(
        "float32", "parameter precision: float32 or float64", one_of(("float32", "float64"))
    )
    backend: str = setting(
        "numpy", "compute backend on executors and driver: numpy, opencl or auto", one_of(BACKENDS)
    )
    # optimisation (Nadam on the driver)
    batch_size: int = setting(
        64, "global minibatch: windows per step, summed over all partitions", AT_LEAST_ONE
    )
    lr: float = setting(0.002, "Nadam learning rate", POSITIVE)
    clipnorm: float = setting(
        5.0, "gradient clipping by global norm (0 = no clipping)", NON_NEGATIVE
    )
    epochs: int = setting(
        1, "passes over the training windows; max_steps > 0 stops earlier", NON_NEGATIVE
    )
    max_steps: int = setting(0, "stop after this many steps (0 = after epochs)", NON_NEGATIVE)
    seed: int = setting(
        0,
        "seeds initialisation and the batch order (batch at step t is a function of seed and t)",
        NON_NEGATIVE,
    )
    # output
    output: str = setting(
        "runs/charlm",
        "output directory: metrics.csv, checkpoints/, samples/, model.npz + vocab.json",
    )
    checkpoint_every: int = setting(
        200,
        "write a checkpoint every N steps (0 = never); resume continues from the newest one",
        NON_NEGATIVE,
    )
    resume: bool = setting(False, "continue the run whose checkpoints are in output")
    overwrite: bool = setting(
        False,
        "an existing output directory is an error unless overwrite = true (it is then replaced)",
    )
    log_every: int = setting(10, "log a progress line every N steps", AT_LEAST_ONE)
    eval_every: int = setting(
        0,
        "also evaluate validation loss every N steps (0 = only at the end of each epoch)",
        NON_NEGATIVE,
    )
    sample_length: int = setting(
        300, "characters generated per temperature in each epoch's samples", AT_LEAST_ONE
    )
    master: str = setting(
        "",
        "Spark master; empty = the one spark-submit was given (or local[2] outside spark-submit)",
    )

    def __post_init__(self):
        super().__post_init__()
        if self.resume and self.overwrite:
            raise SparknnError(
                "pass --resume (continue the run in --output) or --overwrite, not both"
            )
        if self.epochs < 1 and not self.max_steps:
            raise SparknnError("need --epochs >= 1 or --max-steps >= 1")
