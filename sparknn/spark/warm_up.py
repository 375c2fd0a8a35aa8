"""The job a class archive is made from (:mod:`sparknn.spark.class_archive`): the steps
sparknn's jobs take through Spark (reading text, Arrow batches to Python, an RDD shuffle,
broadcasts, a barrier stage), on the shipped corpus, small. Run by spark-submit::

    spark-submit sparknn/spark/warm_up.py
"""

from sparknn.corpus import SHIPPED_CORPUS
from sparknn.ml import Word2Vec
from sparknn.spark.session import session
from sparknn.word2vec.job import TOKENS, read_tokens
from sparknn.word2vec.settings import Settings


def warm_up() -> None:
    spark = session(app_name="sparknn-class-archive")
    settings = Settings(vector_size=8, epochs=1, partitions=2, backend="numpy")
    frame = read_tokens(spark, [str(SHIPPED_CORPUS)], settings)
    Word2Vec.fromSettings(settings, inputCol=TOKENS).fit(frame)
    spark.stop()


if __name__ == "__main__":
    warm_up()
