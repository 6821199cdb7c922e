"""The tests' toy corpora, in one place: colour "sentences" and sentiment "reviews".

Translation: English colour words, translated word by word into Spanish and
in reverse order (a task a tiny Transformer learns in seconds). Reviews: the
label is which sentiment words a review uses.
"""

import random

import numpy as np

ENGLISH = "red green blue black white pink gray brown".split()
SPANISH = "rojo verde azul negro blanco rosa gris marron".split()

POSITIVE = "great wonderful excellent loved superb moving".split()
NEGATIVE = "awful terrible boring hated worst dull".split()
FILLER = "the a movie film plot actor scene it was and".split()
# "\x85" (IMDB's ellipsis) and "\u2028" are line breaks to str.splitlines, which
# Keras uses to read a saved vocabulary: they must never end up inside a token.
ODD_LINE_BREAKS = ["\x85", "so\u2028so"]


def make_pairs(n, seed, words=(1, 5)):
    """n `(english, spanish)` pairs of `words[0]` to `words[1] - 1` colours, capitalized, with a period."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        idx = rng.integers(0, len(ENGLISH), rng.integers(*words))
        pairs.append((" ".join(ENGLISH[i] for i in idx).capitalize() + ".",
                      " ".join(SPANISH[i] for i in idx[::-1]).capitalize() + "."))
    return pairs


def make_reviews(n, seed=0, max_words=10, odd_line_breaks=False):
    """`(texts, labels)`: n reviews of 2 to `max_words` words, alternately negative (0) and positive (1)."""
    rng = random.Random(seed)
    filler = FILLER + (ODD_LINE_BREAKS if odd_line_breaks else [])
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = POSITIVE if label else NEGATIVE
        texts.append(" ".join(rng.choice(words + filler) for _ in range(rng.randint(2, max_words))))
        labels.append(label)
    return texts, labels
