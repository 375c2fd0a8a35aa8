"""When training has diverged: the one rule every training loop stops by.

A loss that is no longer finite has diverged; so has one that grew ``EXPLODED`` times past
the first positive loss the loop saw (a learning rate far too large can keep the parameters and the
loss finite, at 1e31, for ever). ``Model.fit``, the distributed trainer's loop (char-LM) and
word2vec's rounds each check every loss with a :class:`DivergenceCheck` before they use it.
"""

import math

from sparknn.errors import SparknnError

# How many times the first loss a later loss may be before training counts as diverged.
EXPLODED = 1e6


class DivergenceCheck:
    """Raises :class:`SparknnError` for a loss that has diverged (see the module docstring).

    ``advice`` ends the message: what the user can change (the learning rate's name)."""

    def __init__(self, advice: str = "lower the learning rate or set clipnorm"):
        self.advice = advice
        self.first = None

    def check(self, loss: float, where: str) -> None:
        """``loss``: a mean loss (per example, per pair); ``where``: e.g. ``"step 12"``."""
        if self.first is None and math.isfinite(loss) and loss > 0:
            self.first = loss
        exploded = self.first is not None and loss > EXPLODED * self.first
        if not math.isfinite(loss) or exploded:
            self.fail(f"loss became {loss:.6g} at {where}")

    def fail(self, what: str) -> None:
        raise SparknnError(f"{what}: training diverged; {self.advice}")
