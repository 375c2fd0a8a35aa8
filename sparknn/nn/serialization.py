"""Saving and loading models: one ``.npz`` holding the JSON config, the parameter vector and
the optimizer's named state arrays. Loading never unpickles (``allow_pickle=False``); writing
goes to a temporary file in the same directory and is renamed into place, so a crash never
leaves a half-written model behind.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from sparknn.errors import SparknnError
from sparknn.files import atomic_file

FORMAT = "sparknn.model/1"
_OPTIMIZER_PREFIX = "optimizer/"
# What reading a truncated or damaged .npz raises: zipfile's BadZipFile (or EOFError,
# NotImplementedError for some damaged headers), numpy's ValueError, KeyError for a lost array.
UNREADABLE = (OSError, ValueError, KeyError, EOFError, NotImplementedError, zipfile.BadZipFile)


def save_model(model, path) -> None:
    write_npz_atomic(path, model_arrays(model))


def model_arrays(model) -> dict:
    """What a model file holds, as the arrays ``np.savez`` takes: the config, the weights and
    the optimizer's state."""
    if not model.built:
        raise SparknnError("cannot save a model without weights: build it or fit it first")
    config = {"format": FORMAT, "model": model.get_config()}
    arrays = {"config": np.array(json.dumps(config)), "params": model.params}
    if model.optimizer is not None:
        for name, value in model.optimizer.get_state().items():
            arrays[_OPTIMIZER_PREFIX + name] = value
    return arrays


def write_npz_atomic(path, arrays: dict) -> None:
    """``np.savez`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    path = Path(path)
    if not path.parent.is_dir():
        raise SparknnError(f"cannot write {path}: directory {path.parent} does not exist")
    with atomic_file(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_model(path, from_config, backend=None):
    """The model saved at ``path``: ``from_config(config, backend=backend)`` (for example
    ``Sequential.from_config``) rebuilt from the saved config, with its weights and optimizer
    state."""
    path = Path(path)
    if not path.is_file():
        raise SparknnError(f"no model file at {path}")
    return read_model(path, path, from_config, backend)


def read_model(source, name, from_config, backend=None):
    """The model in the ``.npz`` ``source`` (a path or a binary file object), as
    :func:`load_model` rebuilds it; ``name`` names the source in error messages."""
    try:
        with np.load(source, allow_pickle=False) as data:
            config = json.loads(str(data["config"]))
            params = data["params"]
            opt_state = {
                key[len(_OPTIMIZER_PREFIX) :]: data[key]
                for key in data.files
                if key.startswith(_OPTIMIZER_PREFIX)
            }
    except UNREADABLE as error:
        raise SparknnError(
            f"{name} is not a sparknn model file, or is truncated or damaged ({error})"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise SparknnError(f"{name}: unsupported model format {found!r}")
    try:
        model = from_config(config["model"], backend=backend)
    except (KeyError, TypeError, ValueError) as error:
        raise SparknnError(f"{name}: the model's config is damaged ({error!r})") from None
    if params.shape != model.params.shape:
        raise SparknnError(
            f"{name}: parameter vector has {params.size} values, "
            f"the config needs {model.params.size}"
        )
    model.params[...] = params
    if model.optimizer is not None and opt_state:
        model.optimizer.set_state(opt_state)
    return model
