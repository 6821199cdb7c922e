"""Small generated corpora in the chapter's own on-disk formats, for quick runs.

The chapter's loaders read them exactly as they read the real data, so a
notebook or a test exercises the whole pipeline in seconds:

* :func:`write_imdb_folder`: ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``,
  reviews whose label is which sentiment words they use.
* :func:`write_spa_eng_zip`: ``spa-eng.zip`` holding ``spa-eng/spa.txt``, one
  ``english<TAB>spanish`` pair a line, short sentences translated word by
  word except that Spanish puts the adjective after the noun (``"The black
  dog runs."`` -> ``"El perro negro corre."``), which a cross-attention
  heatmap shows.

Both are pure functions of their arguments (same seed, same bytes).

Example::

    root = write_imdb_folder(tmp / "imdb")            # .../imdb/aclImdb
    train, val, test = load_imdb_texts(root)
    archive = write_spa_eng_zip(tmp / "spa")          # .../spa/spa-eng.zip
    pairs, skipped = load_pairs(archive)
"""

from __future__ import annotations

import os
import random
import zipfile
from pathlib import Path

POSITIVE = "wonderful superb moving brilliant delightful excellent touching memorable".split()
NEGATIVE = "awful boring dull terrible clumsy tedious painful forgettable".split()
NEUTRAL = "long loud slow quiet old french colourful dark".split()
SUBJECTS = "movie film story acting plot ending soundtrack cast".split()

ADJECTIVES = {"red": "rojo", "black": "negro", "white": "blanco", "green": "verde",
           "blue": "azul", "yellow": "amarillo", "small": "pequeño", "big": "grande"}
ANIMALS = {"cat": "gato", "dog": "perro", "horse": "caballo", "bird": "pájaro",
           "fish": "pez", "bull": "toro"}
VERBS = {"sleeps": "duerme", "runs": "corre", "eats": "come", "drinks": "bebe",
         "sings": "canta", "swims": "nada"}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so that the archive's bytes depend on the seed only


def make_reviews(n, seed=0):
    """``(texts, labels)``: n short reviews, alternately negative (0) and positive (1).

    Each review is 2 to 5 sentences such as ``"The plot was dull."``; a
    sentence uses a word of its review's sentiment with probability 0.7,
    else a neutral one, so that a bag of words suffices but one word may not.

    Example::

        texts, labels = make_reviews(4, seed=0)
        labels  # [0, 1, 0, 1]
    """
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = POSITIVE if label else NEGATIVE
        sentences = []
        for _ in range(rng.randint(2, 5)):
            adjective = rng.choice(words if rng.random() < 0.7 else NEUTRAL)
            sentences.append(f"The {rng.choice(SUBJECTS)} was {adjective}.")
        texts.append(" ".join(sentences))
        labels.append(label)
    return texts, labels


def write_imdb_folder(folder, train_per_class=40, test_per_class=20, seed=0):
    """Write an aclImdb-style folder of generated reviews; return its ``aclImdb`` root.

    ``folder/aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt`` as in the
    published archive (ratings 1-4 negative, 7-10 positive).
    ``keras_transformer.classification.data.load_imdb_texts`` accepts ``folder`` or the
    returned root.

    Example::

        root = write_imdb_folder("/tmp/imdb", train_per_class=40, test_per_class=20)
        train, val, test = load_imdb_texts(root)  # 64 / 16 / 40 reviews
    """
    rng = random.Random(seed)
    root = Path(folder) / "aclImdb"
    for offset, (split, per_class) in enumerate((("train", train_per_class), ("test", test_per_class))):
        texts, labels = make_reviews(2 * per_class, seed=seed * 2 + offset)
        for name in ("neg", "pos"):
            (root / split / name).mkdir(parents=True, exist_ok=True)
        for i, (text, label) in enumerate(zip(texts, labels)):
            rating = rng.randint(7, 10) if label else rng.randint(1, 4)
            path = root / split / ("pos" if label else "neg") / f"{i // 2}_{rating}.txt"
            path.write_text(text, encoding="utf-8")
    return root


def make_pairs(n, seed=0):
    """n ``(english, spanish)`` pairs like ``("The black dog runs.", "El perro negro corre.")``.

    Example::

        make_pairs(2, seed=0)
        # [("The white dog drinks.", "El perro blanco bebe."), ("The red fish sings.", "El pez rojo canta.")]
    """
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        adjective, animal, verb = (rng.choice(sorted(table)) for table in (ADJECTIVES, ANIMALS, VERBS))
        pairs.append((f"The {adjective} {animal} {verb}.",
                      f"El {ANIMALS[animal]} {ADJECTIVES[adjective]} {VERBS[verb]}."))
    return pairs


def write_spa_eng_zip(folder, num_pairs=600, seed=0):
    """Write ``folder/spa-eng.zip`` (``spa-eng/spa.txt``) of generated pairs; return its path.

    The layout of the chapter's archive: tab-separated ``english<TAB>spanish``
    lines in UTF-8. ``keras_transformer.translation.pairs.load_pairs`` accepts the
    returned path (it warns that the checksum is not the published one's,
    and extracts the archive into the Keras cache) or ``folder``.

    Example::

        archive = write_spa_eng_zip("/tmp/spa", num_pairs=600)
        pairs, skipped = load_pairs(archive)  # 600 pairs, 0 skipped
    """
    path = Path(folder) / "spa-eng.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{english}\t{spanish}\n" for english, spanish in make_pairs(num_pairs, seed))
    partial = path.with_name(f".partial-{path.name}")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("spa-eng/", _ZIP_DATE), b"")
        member = zipfile.ZipInfo("spa-eng/spa.txt", _ZIP_DATE)
        member.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(member, text.encode("utf-8"))
    os.replace(partial, path)
    return path


__all__ = ["make_pairs", "make_reviews", "write_imdb_folder", "write_spa_eng_zip"]
