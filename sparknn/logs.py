"""sparknn's progress messages: the ``sparknn`` logger, and the console handler jobs attach.

Library code logs progress at INFO on ``logging.getLogger(__name__)`` (a child of
``sparknn``) and prints nothing itself; a job or the demo calls :func:`setup_console_logging`
so that those lines reach the terminal, on stderr, as the bare message. Its reports (tables,
generated text) stay on stdout: ``make demo > log`` keeps the report and shows the progress.
"""

import logging
import sys

LOGGER = "sparknn"


class _CurrentStderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each message, not as it was when attached, so a
    redirected or captured stderr (``contextlib.redirect_stderr``, pytest) gets the lines."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def setup_console_logging(level: int = logging.INFO) -> logging.Logger:
    """Print the ``sparknn`` logger's messages at ``level`` and above to stderr, message only.
    Calling it again changes the level and adds no second handler."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(handler, _CurrentStderr) for handler in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    return logger
