"""The driver loop of synchronous data-parallel SGD, with atomic checkpoints and resume.

Per step t: the batch is ``schedule.batch(t)``; the gradient source (this process or a
barrier stage, :mod:`sparknn.distributed.sources`) returns the summed gradient and the example
count; ``model.apply_gradients(grad_sum, n)`` takes the optimizer step on the driver. The same
loop runs single-process and on Spark, so the two differ only in the order gradient sums are
added.
"""

import logging
import time
from dataclasses import dataclass

import numpy as np

from sparknn.distributed.checkpoint import (
    check_compatible,
    checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from sparknn.divergence import DivergenceCheck
from sparknn.errors import SparknnError

log = logging.getLogger(__name__)


@dataclass
class StepStats:
    step: int  # 1-based: number of updates applied after this step
    epoch: int
    loss: float  # mean loss per example (nats per character for the char-LM)
    examples: int
    compute_seconds: float  # slowest task's gradient computation
    framework_seconds: float  # everything else of the exchange: transfer, waiting, summing
    update_seconds: float  # the optimizer step on the driver
    seconds: float  # wall time of the whole step
    correct: float = 0.0  # summed accuracy of the examples (models with metrics=["accuracy"])


def fit(
    model,
    source,
    schedule,
    max_steps: int,
    start_step: int = 0,
    on_step=None,
    checkpoint_dir=None,
    checkpoint_every: int = 0,
    checkpoint_meta: dict | None = None,
):
    """Run steps ``start_step .. max_steps-1``; ``on_step(StepStats)`` after each.

    A step whose loss has diverged (:mod:`sparknn.divergence`) raises :class:`SparknnError`
    before its update. A checkpoint holds parameters whose loss has been checked: the one
    after ``s`` updates is written at step ``s + 1``, once that step's loss (theirs) passed,
    and the last one once the final parameters are found finite; so a diverging run leaves
    its last good checkpoint as it was.
    """
    divergence = DivergenceCheck()

    def checkpoint(updates):
        if checkpoint_dir is not None and checkpoint_every and updates % checkpoint_every == 0:
            save_checkpoint(
                checkpoint_dir, updates, model.params, model.optimizer.get_state(),
                checkpoint_meta or {},
            )  # fmt: skip

    for step in range(start_step, max_steps):
        windows = schedule.batch(step)
        start = time.perf_counter()
        loss, grad, n, compute = source.gradient(step, windows, model.params, version=step)
        exchanged = time.perf_counter()
        if n == 0:
            raise SparknnError(f"step {step}: no task held any window of the batch")
        divergence.check(loss / n, f"step {step + 1}")
        if step > start_step:  # the parameters after `step` updates have a good loss
            checkpoint(step)
        model.apply_gradients(grad, n)
        if step == max_steps - 1 and not np.isfinite(model.params).all():  # no next loss
            divergence.fail(f"parameters became non-finite at step {step + 1}")
        done = time.perf_counter()
        stats = StepStats(
            step=step + 1,
            epoch=schedule.epoch_of(step),
            loss=loss / n,
            examples=n,
            compute_seconds=compute,
            framework_seconds=max(0.0, exchanged - start - compute),
            update_seconds=done - exchanged,
            seconds=done - start,
            correct=source.correct,
        )
        if on_step is not None:
            on_step(stats)
    if max_steps > start_step:
        checkpoint(max_steps)
    return model


def resume(model, checkpoint_dir, expected_meta: dict) -> int:
    """Load the newest readable checkpoint into ``model``; return the step to continue from.

    An unreadable newer one (truncated by a full disk, say) is passed over with a line on
    stderr naming it and the checkpoint used instead."""
    found = checkpoints(checkpoint_dir)
    if not found:
        raise SparknnError(f"--resume: no checkpoint in {checkpoint_dir}")
    unreadable = []
    for path in reversed(found):
        try:
            step, params, optimizer_state, meta = load_checkpoint(path)
            break
        except SparknnError as error:
            unreadable.append(str(error))
    else:
        raise SparknnError(f"--resume: no readable checkpoint in {checkpoint_dir}: {unreadable[0]}")
    for problem in unreadable:
        # A warning: seen on stderr even where no one set up logging (Python's last resort).
        log.warning(f"resume: {problem}; resuming from {path.name}")
    check_compatible(meta, expected_meta, path)
    if params.shape != model.params.shape:
        raise SparknnError(
            f"cannot resume from {path}: it has {params.size} parameters, "
            f"the model {model.params.size}"
        )
    model.params[...] = params
    model.optimizer.set_state(optimizer_state)
    return step
