#!/usr/bin/env python
"""Draw what a trained model attends to: the pictures of docs/figures/, each from one command.

    # a trained IMDB encoder's self-attention over a real test review (heads averaged)
    python tools/draw_attention.py imdb --model output/reproduce/imdb-fast/end_to_end.keras \\
        --data-dir ../shared/datasets/aclImdb_labeled.tar.gz --out docs/figures/imdb_attention.png
    # a trained translator's cross-attention (Transformer, or the GRU's Luong attention)
    python tools/draw_attention.py translation --translator output/reproduce/translation-subword/translator \\
        --sentence "Where is the cafe?" --out docs/figures/cafe_subword.png

The IMDB review is the shortest of the first ``--candidates`` test reviews with at least
``--min-words`` words (a long review's 600 x 600 map has no readable labels).
"""

from __future__ import annotations

import argparse
import sys


def review_attention(model, text):
    """``(tokens, weights)``: the review's tokens and the encoder's self-attention, heads averaged."""
    import keras
    import numpy as np

    vectorizer = next(layer for layer in model.layers if isinstance(layer, keras.layers.TextVectorization))
    classifier = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    encoder = next(layer for layer in classifier.layers if type(layer).__name__ == "TransformerEncoder")
    ids = keras.ops.convert_to_numpy(vectorizer(np.array([text])))
    length = int((ids[0] != 0).sum())
    ids = ids[:, :length]
    attention = encoder.attention
    attention.keep_attention_weights = True
    try:
        probability = float(keras.ops.convert_to_numpy(classifier(ids, training=False))[0, 0])
        weights = keras.ops.convert_to_numpy(attention.last_attention_weights)[0].mean(axis=0)
    finally:
        attention.keep_attention_weights, attention.last_attention_weights = False, None
    vocabulary = vectorizer.get_vocabulary()
    return [vocabulary[i] for i in ids[0]], weights, probability


def plot_square(tokens, weights, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = 2.0 + 0.22 * len(tokens)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(weights, cmap="viridis")  # the weights' own range: near-uniform rows still show contrast
    fig.colorbar(image, ax=ax, fraction=0.04, label="attention weight")
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
    ax.set_xlabel("attended to (keys)")
    ax.set_ylabel("attending (queries)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def draw_imdb(args):
    import keras

    import keras_transformer  # noqa: F401 (registers the layers)
    from keras_transformer.classification.data import load_imdb_texts

    model = keras.saving.load_model(args.model, safe_mode=True)
    _, _, test = load_imdb_texts(args.data_dir)
    candidates = [(len(t.split()), t, label) for t, label in zip(test.texts[: args.candidates], test.labels)]
    _, text, label = min(c for c in candidates if c[0] >= args.min_words)
    tokens, weights, probability = review_attention(model, text)
    title = (f"IMDB encoder self-attention, heads averaged; label {'positive' if label else 'negative'}, "
             f"P(positive) = {probability:.2f}")
    plot_square(tokens, weights, args.out, title)
    print(f"{args.out}: {len(tokens)} tokens of {text[:60]!r}...")


def draw_translation(args):
    from keras_transformer.translation.plots import plot_attention
    from keras_transformer.translation.translator import Translator

    translator = Translator.load(args.translator)
    source, output, weights = translator.attention_map(args.sentence)
    plot_attention(source, output, weights, args.out, title=f"{translator.model_name} cross-attention")
    print(f"{args.out}: {args.sentence!r} -> {translator.translate(args.sentence)!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="chapter", required=True)
    imdb = sub.add_parser("imdb", help="a trained encoder's self-attention over a real review")
    imdb.add_argument("--model", required=True, help="an end_to_end.keras file (raw text in)")
    imdb.add_argument("--data-dir", help="the IMDB archive or folder (default: download)")
    imdb.add_argument("--candidates", type=int, default=2000, help="test reviews to choose from (default 2000)")
    imdb.add_argument("--min-words", type=int, default=25, help="shortest review to draw (default 25 words)")
    imdb.add_argument("--out", required=True, help="PNG to write")
    translation = sub.add_parser("translation", help="a trained translator's cross-attention")
    translation.add_argument("--translator", required=True, help="a saved Translator folder")
    translation.add_argument("--sentence", default="Where is the cafe?", help="English sentence (default: the book's)")
    translation.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    (draw_imdb if args.chapter == "imdb" else draw_translation)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
