"""Atomic training checkpoints: parameters, optimizer state, step, and a compatibility record.

A checkpoint is one ``.npz`` (no pickle) written to a temporary name in the same directory and
moved into place with ``os.replace``, so a crash leaves either the previous checkpoint or the
new one, never half of one. Batches are a function of (seed, step), so no RNG state is needed.
"""

import json
import re
from pathlib import Path

import numpy as np

from sparknn.errors import SparknnError
from sparknn.nn.serialization import UNREADABLE, write_npz_atomic

NAME = re.compile(r"step-(\d{8})\.npz$")


def save_checkpoint(directory, step: int, params, optimizer_state: dict, meta: dict, keep=2):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {"params": params, **{f"optimizer/{k}": v for k, v in optimizer_state.items()}}
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "step": step}).encode(), dtype=np.uint8)
    write_npz_atomic(directory / f"step-{step:08d}.npz", arrays)
    for old in sorted(checkpoints(directory))[:-keep]:
        old.unlink(missing_ok=True)


def checkpoints(directory) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if NAME.match(p.name))


def load_checkpoint(path):
    """Return ``(step, params, optimizer_state, meta)``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            params = data["params"]
            state = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("optimizer/")}
    except UNREADABLE as error:
        raise SparknnError(f"cannot read checkpoint {path}: {error}") from None
    return int(meta["step"]), params, state, meta


def check_compatible(meta: dict, expected: dict, path) -> None:
    """Refuse to resume when anything that shapes the run differs from the checkpoint."""
    expected = json.loads(json.dumps(expected))  # compare as stored: tuples become lists
    for key, value in expected.items():
        if meta.get(key) != value:
            raise SparknnError(
                f"cannot resume from {path}: {key} is {meta.get(key)!r} in the checkpoint "
                f"but {value!r} now"
            )
