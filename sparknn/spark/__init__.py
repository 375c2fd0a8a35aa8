"""Spark itself: ``session`` (a SparkSession configured for sparknn, public as
``sparknn.session``) and ``cluster`` (``sparknn cluster start|stop|status``).

Nothing here is public under this package's name: use ``sparknn.session`` and the CLI."""

__all__: list[str] = []
