"""The one exception type users see for bad input; CLIs turn it into a one-line error."""


class SparknnError(Exception):
    """A user-facing error: bad input, bad config, missing dependency. Message is one line."""
