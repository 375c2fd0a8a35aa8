"""Queries on trained word vectors, modelled on gensim's ``KeyedVectors``.

``load_vectors(path)`` accepts a sparknn output directory or a word2vec text/binary file.
Similarities use the unit-normalised matrix, computed once and cached; top-k selection uses
``argpartition`` so a query over 100K words costs one matrix-vector product.
"""

import difflib
import math

import numpy as np

from sparknn.errors import SparknnError
from sparknn.word2vec.formats import read_vectors

ANALOGY_METHODS = ("3cosadd", "3cosmul")


class WordVectors:
    """Words, their vectors (float32 ``(V, d)``) and optional counts, with similarity queries."""

    def __init__(self, words, vectors, counts=None):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise SparknnError(f"vectors shape {vectors.shape} does not match {len(words)} words")
        self.words = list(words)
        self.vectors = vectors
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise SparknnError("duplicate words in vocabulary")
        self._normed = None

    # ------------------------------------------------------------------ basics
    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    @property
    def vector_size(self) -> int:
        return self.vectors.shape[1]

    @property
    def normed(self) -> np.ndarray:
        """Unit-length rows (zero rows stay zero), cached."""
        if self._normed is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._normed = self.vectors / np.maximum(norms, 1e-12)
        return self._normed

    def index_of(self, word: str) -> int:
        """Row of ``word``; an unknown word is a SparknnError suggesting close words."""
        try:
            return self.index[word]
        except KeyError:
            pass
        # difflib is quadratic-ish; look among the most frequent words only.
        close = difflib.get_close_matches(word, self.words[:50_000], n=5, cutoff=0.6)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        raise SparknnError(f"word {word!r} not in vocabulary ({len(self):,} words){hint}") from None

    def vector(self, word: str, norm: bool = False) -> np.ndarray:
        row = self.index_of(word)
        return (self.normed if norm else self.vectors)[row].copy()

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.normed[self.index_of(a)] @ self.normed[self.index_of(b)])

    # ----------------------------------------------------------- neighbours
    def most_similar(self, positive=(), negative=(), topn=10, restrict_vocab=None):
        """Words closest to ``mean(unit(positive)) - mean(unit(negative))``, as gensim does.

        Returns ``[(word, cosine), ...]``, best first, excluding the query words.
        """
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise SparknnError("most_similar needs at least one positive or negative word")
        rows = [self.index_of(w) for w in positive + negative]
        weights = np.array([1.0] * len(positive) + [-1.0] * len(negative), dtype=np.float32)
        query = weights @ self.normed[rows]
        query /= max(float(np.linalg.norm(query)), 1e-12)
        return self._top(self.normed @ query, topn, set(rows), restrict_vocab)

    def similar_by_vector(self, vector, topn=10, restrict_vocab=None):
        vector = np.asarray(vector, dtype=np.float32)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return self._top(self.normed @ vector, topn, set(), restrict_vocab)

    def _top(self, scores, topn, exclude, restrict_vocab=None):
        if restrict_vocab:
            scores = scores[:restrict_vocab]
        want = min(len(scores), topn + len(exclude))
        if want <= 0:
            return []
        best = (
            np.argpartition(-scores, want - 1)[:want]
            if want < len(scores)
            else np.arange(len(scores))
        )
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in best if i not in exclude][:topn]

    def analogy(self, a: str, b: str, c: str, method: str = "3cosadd", topn: int = 1):
        """Solve ``a : b :: c : ?``; returns ``[(word, score), ...]``.

        ``3cosadd``: argmax cos(x, b) - cos(x, a) + cos(x, c) (Mikolov et al.);
        ``3cosmul``: argmax cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-3) with
        ``cos' = (1 + cos) / 2`` (Levy & Goldberg).
        """
        if method not in ANALOGY_METHODS:
            raise SparknnError(
                f"unknown analogy method {method!r}; choose one of {', '.join(ANALOGY_METHODS)}"
            )
        if method == "3cosadd":
            return self.most_similar(positive=[b, c], negative=[a], topn=topn)
        ia, ib, ic = (self.index_of(w) for w in (a, b, c))
        cos = (1 + self.normed @ self.normed[[ia, ib, ic]].T) / 2  # (V, 3)
        scores = cos[:, 1] * cos[:, 2] / (cos[:, 0] + 1e-3)
        return self._top(scores, topn, {ia, ib, ic})

    def doesnt_match(self, words) -> str:
        """The word furthest from the mean of the others' unit vectors (as gensim)."""
        words = list(words)
        if len(words) < 2:
            raise SparknnError("doesnt_match needs at least two words")
        vecs = self.normed[[self.index_of(w) for w in words]]
        mean = vecs.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        return words[int(np.argmin(vecs @ mean))]

    # ----------------------------------------------------------- evaluation
    def evaluate_word_analogies(self, path, restrict_vocab=30000, case_insensitive=True):
        """Accuracy on a questions-words file (``: section`` headers, ``a b c d`` lines).

        Like gensim: only the first ``restrict_vocab`` words are candidates, questions with a
        word outside them are skipped, the three question words are never the answer. With
        ``case_insensitive``, a word stands for all its case variants (its vector is the most
        frequent variant's): a variant of a question word is never the answer, a variant of
        the expected word is a right one.
        Returns ``(accuracy, sections)``; each section is a dict with ``section``,
        ``correct``, ``total``, ``accuracy``; the last is ``Total accuracy``; plus
        ``skipped`` (out-of-vocabulary questions).
        """
        limit = min(restrict_vocab or len(self), len(self))
        fold = str.upper if case_insensitive else (lambda w: w)
        lookup = {}
        for i, word in enumerate(self.words[:limit]):
            lookup.setdefault(fold(word), i)  # most frequent spelling wins
        spelling = np.array([lookup[fold(word)] for word in self.words[:limit]], dtype=np.int64)
        normed = self.normed[:limit]
        sections, current = [], None
        for number, line in enumerate(_read_lines(path), start=1):
            if line.startswith(":"):
                current = {"section": line[1:].strip(), "questions": [], "skipped": 0}
                sections.append(current)
                continue
            parts = line.split()
            if len(parts) != 4:
                raise SparknnError(f"{path}:{number}: expected 4 words, got {line!r}")
            if current is None:
                current = {"section": "(no section)", "questions": [], "skipped": 0}
                sections.append(current)
            ids = [lookup.get(fold(w)) for w in parts]
            if None in ids:
                current["skipped"] += 1
            else:
                current["questions"].append(ids)
        results, all_correct, all_total, all_skipped = [], 0, 0, 0
        for section in sections:
            questions = np.array(section["questions"], dtype=np.int64).reshape(-1, 4)
            correct = _count_correct_analogies(normed, questions, spelling)
            total = len(questions)
            results.append(_section(section["section"], correct, total, section["skipped"]))
            all_correct, all_total = all_correct + correct, all_total + total
            all_skipped += section["skipped"]
        results.append(_section("Total accuracy", all_correct, all_total, all_skipped))
        return results[-1]["accuracy"], results

    def evaluate_word_pairs(self, path, restrict_vocab=300000, case_insensitive=True):
        """Correlation with human similarity scores (``w1<TAB>w2<TAB>score``; ``#`` comments).

        Returns a dict: ``pearson``, ``spearman``, ``oov_ratio`` (percent of pairs skipped
        because a word is unknown) and ``pairs`` (pairs used).
        """
        limit = min(restrict_vocab or len(self), len(self))
        fold = str.lower if case_insensitive else (lambda w: w)
        lookup = {}
        for i, word in enumerate(self.words[:limit]):
            lookup.setdefault(fold(word), i)
        model_scores, human_scores, oov, total = [], [], 0, 0
        for number, line in enumerate(_read_lines(path), start=1):
            if line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                raise SparknnError(f"{path}:{number}: expected 'word1<TAB>word2<TAB>score'")
            try:
                human = float(parts[2])
            except ValueError:
                raise SparknnError(f"{path}:{number}: score {parts[2]!r} is not a number") from None
            total += 1
            a, b = lookup.get(fold(parts[0].strip())), lookup.get(fold(parts[1].strip()))
            if a is None or b is None:
                oov += 1
                continue
            model_scores.append(float(self.normed[a] @ self.normed[b]))
            human_scores.append(human)
        if len(model_scores) < 2:
            raise SparknnError(f"{path}: fewer than two word pairs are in the vocabulary")
        model_scores, human_scores = np.array(model_scores), np.array(human_scores)
        return {
            "pearson": pearson(model_scores, human_scores),
            "spearman": spearman(model_scores, human_scores),
            "oov_ratio": 100.0 * oov / total,
            "pairs": len(model_scores),
        }


def _section(name, correct, total, skipped):
    return {
        "section": name,
        "correct": int(correct),
        "total": int(total),
        "accuracy": correct / total if total else 0.0,
        "skipped": int(skipped),
    }


# gensim answers an analogy with the first of this many best candidates that is no variant
# of a question word, or with the last of them if all are.
ANSWER_CANDIDATES = 5


def _count_correct_analogies(normed, questions, spelling, batch=512):
    """3CosAdd over the candidate matrix, as gensim scores it. ``questions`` hold rows;
    ``spelling[row]`` is the row standing for all the case variants of that row's word (the
    row itself when case matters), which is what the question rows are. The three question
    rows are no candidates; of the best candidates the answer is the first that is no
    variant of a question word, and it is right when it is a variant of the expected word."""
    correct = 0
    for start in range(0, len(questions), batch):
        q = questions[start : start + batch]
        target = normed[q[:, 1]] - normed[q[:, 0]] + normed[q[:, 2]]
        scores = target @ normed.T  # (B, V)
        rows = np.arange(len(q))[:, None]
        scores[rows, q[:, :3]] = -np.inf
        count = min(ANSWER_CANDIDATES, scores.shape[1])
        best = np.argpartition(-scores, count - 1, axis=1)[:, :count]
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
        best = np.take_along_axis(best, order, axis=1)
        real = np.isfinite(np.take_along_axis(scores, best, axis=1))  # tiny vocabularies
        words = spelling[best]
        allowed = real & (words[:, :, None] != q[:, None, :3]).all(axis=2)
        last_real = real.sum(axis=1) - 1
        chosen = np.where(allowed.any(axis=1), allowed.argmax(axis=1), last_real)
        answer = words[np.arange(len(q)), chosen]
        correct += int(((answer == q[:, 3]) & (last_real >= 0)).sum())
    return correct


def _read_lines(path):
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line:
                    yield line
    except FileNotFoundError:
        raise SparknnError(f"evaluation file not found: {path}") from None
    except UnicodeDecodeError:
        raise SparknnError(f"evaluation file {path} is not UTF-8 text") from None


def pearson(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / denominator) if denominator > 0 else 0.0


def rankdata(values) -> np.ndarray:
    """Ranks 1..n, ties get the average of the ranks they span (as scipy's 'average')."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    new_group = np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    ends = np.concatenate([starts[1:], [len(values)]])
    average_rank = (starts + ends + 1) / 2.0  # mean of ranks start+1..end
    ranks = np.empty(len(values))
    ranks[order] = average_rank[group]
    return ranks


def spearman(x, y) -> float:
    """Spearman's rank correlation: Pearson on average ranks."""
    return pearson(rankdata(x), rankdata(y))


def load_vectors(path) -> WordVectors:
    """Load a sparknn output directory, or a word2vec text or binary file."""
    return WordVectors(*read_vectors(path))
