"""Spark ML persistence for sparknn's stages, without pickle, to any path Spark can write:
the Params as Spark ML's JSON metadata (``path/metadata``), data as Parquet beside it."""

import os
from contextlib import contextmanager

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter

from sparknn.errors import SparknnError

STAGE_FORMAT = "sparknn.ml/1"


@contextmanager
def complete_or_absent(spark, path):
    """Write a new ``path`` in the block: a SparknnError before anything is written when it
    exists (``write().overwrite()`` has removed it by then, as Spark's writers do), and what
    was written removed (through Hadoop's file system, so any path Spark can write) when the
    block fails, so a failed save leaves no stage that looks saved and no earlier one gone."""
    target = spark._jvm.org.apache.hadoop.fs.Path(path)
    file_system = target.getFileSystem(spark._jsc.hadoopConfiguration())
    if file_system.exists(target):
        raise SparknnError(f"{path} exists already: write().overwrite().save(path) replaces it")
    try:
        yield
    except BaseException:
        file_system.delete(target, True)
        raise


def save_metadata(stage, path, spark, extra=None, skip=()):
    """``stage``'s uid, class and set Params (but those named in ``skip``), and ``extra``,
    as Spark ML's metadata at ``path``."""
    params = {
        param.name: value for param, value in stage._paramMap.items() if param.name not in skip
    }
    extra = {"format": STAGE_FORMAT, **(extra or {})}
    DefaultParamsWriter.saveMetadata(stage, path, spark, extra, params)


def load_stage(cls, path, spark):
    """``(stage, metadata)``: a new ``cls`` with the uid and Params saved at ``path``; a path
    holding anything but a saved ``cls`` is a SparknnError."""
    metadata = DefaultParamsReader.loadMetadata(path, spark)
    wanted = f"{cls.__module__}.{cls.__name__}"
    if metadata.get("format") != STAGE_FORMAT or metadata["class"] != wanted:
        raise SparknnError(
            f"{path} does not hold a saved {cls.__name__} "
            f"(found {metadata['class']}, format {metadata.get('format')!r})"
        )
    stage = cls()
    stage._resetUid(metadata["uid"])
    DefaultParamsReader.getAndSetParams(stage, metadata)
    return stage, metadata


def save_blob(spark, path, blob: bytes):
    """``blob`` as a one-row Parquet file at ``path``."""
    frame = spark.createDataFrame([(bytearray(blob),)], "npz binary")
    frame.coalesce(1).write.parquet(path)


def load_blob(spark, path) -> bytes:
    return bytes(spark.read.parquet(path).first()[0])


def data_path(path, name: str) -> str:
    return os.path.join(path, name)


class StageWriter(MLWriter):
    """Saves ``stage``: its Params (but those named in ``skip``) and ``extra`` as metadata, then
    its data. ``prepare_data() -> (spark, path) -> None`` makes the data ready to write; it
    runs before anything is written, so data that cannot be saved fails first, and a write
    that fails removes what it wrote."""

    def __init__(self, stage, extra=None, skip=(), prepare_data=None):
        super().__init__()
        self.stage, self.extra, self.skip, self.prepare_data = stage, extra, skip, prepare_data

    def saveImpl(self, path):
        save_data = self.prepare_data() if self.prepare_data is not None else None
        with complete_or_absent(self.sparkSession, path):
            save_metadata(self.stage, path, self.sparkSession, self.extra, self.skip)
            if save_data is not None:
                save_data(self.sparkSession, path)


class StageReader(MLReader):
    """Loads a ``cls`` saved by :class:`StageWriter`; ``load_data(stage, spark, path,
    metadata)`` reads its data into the stage."""

    def __init__(self, cls, load_data=None):
        super().__init__()
        self.cls, self.load_data = cls, load_data

    def load(self, path):
        stage, metadata = load_stage(self.cls, path, self.sparkSession)
        if self.load_data is not None:
            self.load_data(stage, self.sparkSession, path, metadata)
        return stage
