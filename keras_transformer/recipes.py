"""Named recipes: every setting of the chapter's two runs, as data a reader can read as a table.

A recipe is the book's settings for its chapter (``IMDB_BOOK`` or ``TRANSLATION_BOOK``)
with a few changed. The chapter scripts take ``--recipe NAME``; their flags, and
``--set KEY=VALUE`` for any other setting, override it::

    python chapters/ch11_text_classification.py --recipe fast --epochs 3
    python chapters/ch11_translation.py --recipe subword --set label_smoothing=0.2
    keras-transformer reproduce translation-fast      # trains, scores, writes results/translation-fast.json

Every choice in a recipe was made on validation (the book's 20% of the IMDB training
reviews; the translation pairs' validation split), never on the test split; see
docs/results.md for what each one reaches. ``gpu`` recipes are for one accelerator and
are marked untested where they have not run on one.

This module imports nothing but the standard library, so that ``--help`` and the
``keras-transformer`` command can list the recipes without importing TensorFlow.
"""

from __future__ import annotations

# -- IMDB classification: the book's settings, every one ------------------------
IMDB_BOOK = {
    "model": "transformer-positional",  # the chapter's headline model
    "epochs": None,  # None: the book's for the model (10 for bag-of-words and LSTMs, 20 for Transformers)
    "batch_size": 32,
    "validation_split": 0.2,  # 5,000 of the 25,000 training reviews choose the checkpoint
    "source": "archive",  # or "tfds" (tensorflow_datasets' imdb_reviews)
    "vocab_size": 20000,
    "sequence_length": 600,
    "embed_dim": 256,
    "num_heads": 2,
    "dense_dim": 32,
    "key_dim": None,  # None: embed_dim / num_heads (the book used embed_dim)
    "dropout": 0.5,  # before the output layer
    "encoder_dropout": 0.0,
    "embedding_dropout": 0.0,
    "token_dropout": 0.0,  # in training, each token becomes [UNK] with this probability
    "pooling": "max",  # or "mean", "attention" (a learned query per head)
    "optimizer": "rmsprop",
    "learning_rate": None,  # None: the optimizer's, 0.001
    "lr_schedule": "constant",  # or "cosine" (to zero over the run, after warmup_steps)
    "warmup_steps": 0,
    "weight_decay": None,
    "ema": None,  # validate and keep a moving average of the weights with this momentum
    "lazy_embedding_updates": False,  # adam/rmsprop update only the embedding rows a batch uses
    "full_padding": False,  # pad every review to sequence_length, as the book does
    "width_multiple": None,  # None: 64 where each batch shape compiles (JAX, PyTorch, XLA), else 1
    "fixed_batch": None,  # every batch batch_size rows (weight-0 filler); None: where each shape compiles
    "precision": "float32",  # or "mixed_bfloat16", "mixed_float16"
    "strategy": "default",  # or "mirrored", "multi-worker", "tpu"
    "tpu": None,
    "jit_compile": "auto",
    "steps_per_execution": 1,
    "clock_every": 0,  # score a validation sample every N steps, for the time to the book's figure
    "clock_sample": 2000,
    "clock_target": None,  # None: the book's figure
    "seed": 1337,
    "deterministic": False,
    "tensorboard": None,  # a folder for TensorBoard logs
}

# -- English->Spanish translation: the book's settings, every one --------------
TRANSLATION_BOOK = {
    "model": "transformer",  # or "gru", "gru-attention"
    "epochs": None,  # None: the book's (15 for the GRU models, 30 for the Transformer)
    "batch_size": 64,
    "tokenizer": "word",  # the book's TextVectorization; or "sentencepiece" (cased, punctuated pieces)
    "vocab_size": None,  # None: 15,000 words, or 8,000 pieces
    "sequence_length": None,  # None: 20 words, or 32 pieces
    "key_dim": None,  # transformer heads: None is the book's 256; 32 is the paper's (embed_dim / heads)
    "layer_dropout": 0.0,  # inside the encoder and decoder layers
    "label_smoothing": 0.0,
    "optimizer": "rmsprop",
    "learning_rate": None,
    "lr_schedule": "constant",
    "warmup_steps": 0,
    "ema": None,
    "lazy_embedding_updates": False,
    "full_padding": False,  # pad every pair to sequence_length, as the book does
    "width_multiple": None,  # None: 8 where each batch shape compiles (JAX, PyTorch, XLA), else 1
    "fixed_batch": None,  # every batch batch_size rows (all-padding filler); None: where each shape compiles
    "precision": "float32",
    "strategy": "default",
    "tpu": None,
    "jit_compile": "auto",
    "steps_per_execution": 1,
    "method": "greedy",  # decoding for BLEU/chrF and samples: greedy or beam
    "beam_size": 4,
    "length_penalty": 0.6,  # beam: log p / ((5 + length) / 6) ** this
    "eval_limit": None,  # translate only the first N test pairs for BLEU/chrF
    "samples": 10,  # test sentences printed translated
    "attend": None,  # an English sentence whose cross-attention is drawn to attention.png
    "train_limit": None,  # the first N training pairs only (smoke runs)
    "clock_every": 0,
    "clock_sample": 2000,
    "clock_target": None,
    "skip_training": False,  # score the checkpoint already in the output folder
    "seed": 1337,
    "deterministic": False,
    "tensorboard": None,
}

BOOK = {"imdb": IMDB_BOOK, "translation": TRANSLATION_BOOK}

# -- The recipes: the book's settings with these changed ---------------------------
_ADAM_COSINE = {"optimizer": "adam", "lr_schedule": "cosine", "precision": "mixed_bfloat16"}
_IMDB_FAST = {**_ADAM_COSINE, "warmup_steps": 100, "encoder_dropout": 0.1, "pooling": "attention", "dense_dim": 128,
              "lazy_embedding_updates": True}
_TRANSLATION_FAST = {**_ADAM_COSINE, "key_dim": 32, "steps_per_execution": 16}

RECIPES = {
    "imdb": {
        "book": {},
        "fast": {**_IMDB_FAST, "epochs": 2, "embed_dim": 128, "learning_rate": 2e-3, "clock_every": 160},
        "best": {"epochs": 5, "lr_schedule": "cosine", "precision": "mixed_bfloat16", "sequence_length": 1000,
                 "encoder_dropout": 0.1, "pooling": "attention", "token_dropout": 0.1, "vocab_size": 30000,
                 "dense_dim": 128},
        "bigram": {"model": "bigram"},
        "gpu": {**_IMDB_FAST, "epochs": 2, "embed_dim": 128, "batch_size": 256, "learning_rate": 4e-3,
                "lazy_embedding_updates": False, "width_multiple": 128, "fixed_batch": True, "steps_per_execution": 8},
    },
    "translation": {
        "book": {},
        "fast": {**_TRANSLATION_FAST, "epochs": 2, "learning_rate": 2e-3, "warmup_steps": 200, "clock_every": 160},
        "best": {**_TRANSLATION_FAST, "epochs": 8, "learning_rate": 1e-3},
        "gru": {**_ADAM_COSINE, "model": "gru", "epochs": 5, "learning_rate": 2e-3, "steps_per_execution": 16},
        "gru-attention": {**_ADAM_COSINE, "model": "gru-attention", "epochs": 5, "learning_rate": 2e-3,
                          "steps_per_execution": 16, "attend": "Where is the cafe?"},
        "subword": {**_TRANSLATION_FAST, "tokenizer": "sentencepiece", "epochs": 14, "learning_rate": 1e-3,
                    "warmup_steps": 1000, "label_smoothing": 0.1, "layer_dropout": 0.1, "method": "beam",
                    "length_penalty": 1.0, "attend": "Where is the cafe?"},
        "gpu": {**_TRANSLATION_FAST, "epochs": 3, "batch_size": 512, "learning_rate": 4e-3, "warmup_steps": 100,
                "width_multiple": 8, "fixed_batch": True, "steps_per_execution": 8},
    },
}

# What a reader is told about each recipe (the README and docs tables use these words).
ABOUT = {
    "imdb-book": "the book's recipe: 20 epochs, rmsprop, embedding 256, 2 heads, feed-forward 32",
    "imdb-fast": "2 epochs, embedding 128, Adam + cosine, bfloat16, attention pooling, feed-forward 128",
    "imdb-best": "5 epochs, cosine, bfloat16, 1,000 tokens of 30,000, word dropout, attention pooling",
    "imdb-bigram": "the book's bigram bag-of-words, 10 epochs",
    "imdb-gpu": "the fast recipe at batch 256 and a scaled rate, for one GPU (untested on a GPU)",
    "translation-book": "the book's recipe: 30 epochs, rmsprop, heads of 256, the book's words",
    "translation-fast": "2 epochs, Adam + cosine, heads of 32, bfloat16, the book's words",
    "translation-best": "8 epochs, Adam + cosine, heads of 32, bfloat16, the book's words",
    "translation-gru": "the book's GRU encoder-decoder, 5 epochs of Adam + cosine",
    "translation-gru-attention": "the GRU with Luong attention, the GRU recipe",
    "translation-subword": "beyond the book: 8,000 subword pieces, 14 epochs, label smoothing, dropout, beam 4",
    "translation-gpu": "the fast recipe at batch 512 and a scaled rate, for one GPU (untested on a GPU)",
}

# The book's figures, as the book states them (2nd edition, chapter 11).
BOOK_FIGURES = {
    "imdb": {"measure": "test accuracy", "transformer-positional": 0.883, "transformer": 0.875, "bigram": 0.90,
             "unigram": 0.89, "bigram-tfidf": 0.898, "lstm-masked": 0.88, "lstm-embedding": 0.87,
             "lstm-onehot": 0.87},
    "translation": {"measure": "validation accuracy (a)", "transformer": 0.67, "gru": 0.64},
}


def chapters():
    return tuple(RECIPES)


def names(chapter=None):
    """Recipe names: ``chapter-name`` for all of them, or the short names of one chapter."""
    if chapter is not None:
        return tuple(RECIPES[chapter])
    return tuple(f"{c}-{n}" for c in RECIPES for n in RECIPES[c])


def split_name(full_name):
    """``"translation-fast"`` -> ``("translation", "fast")``; a ValueError naming the choices otherwise."""
    for chapter in RECIPES:
        if full_name.startswith(chapter + "-") and full_name[len(chapter) + 1:] in RECIPES[chapter]:
            return chapter, full_name[len(chapter) + 1:]
    raise ValueError(f"no recipe {full_name!r}; choose one of {', '.join(names())}")


def settings(chapter, name="book", **overrides):
    """Every setting of recipe ``name`` of ``chapter``, with ``overrides`` on top.

    Example: ``settings("imdb", "fast", epochs=3)["embed_dim"] -> 128``.
    """
    if name not in RECIPES[chapter]:
        raise ValueError(f"no {chapter} recipe {name!r}; choose one of {', '.join(RECIPES[chapter])}")
    book = BOOK[chapter]
    unknown = sorted(set(overrides) - set(book))
    if unknown:
        raise ValueError(f"unknown {chapter} setting {unknown[0]!r}; the settings are {', '.join(book)}")
    return {**book, **RECIPES[chapter][name], **overrides, "recipe": f"{chapter}-{name}"}


def table(chapter):
    """The recipes of ``chapter`` as markdown: one row per recipe, the settings it changes."""
    rows = ["| recipe | what | settings changed from the book's |", "|---|---|---|"]
    for name, changed in RECIPES[chapter].items():
        text = ", ".join(f"`{key}={value}`" for key, value in changed.items()) or "none"
        rows.append(f"| `{name}` | {ABOUT.get(f'{chapter}-{name}', '')} | {text} |")
    return "\n".join(rows)
