"""Spark itself: ``session`` (a SparkSession configured for sparknn, public as
``sparknn.session``) and ``cluster`` (``sparknn cluster start|stop|status``)."""
