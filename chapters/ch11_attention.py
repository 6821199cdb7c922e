"""Chapter 11, self-attention step by step: scores, softmax weights, weighted values.

Prints each step of self-attention for a short sentence with the shapes
involved, then the chapter's 4x4 / 4x8 multi-head example, and saves a
heatmap of the attention weights with the words on both axes.

    python chapters/ch11_attention.py
    python chapters/ch11_attention.py --sentence "the train left the station on time" --heads 2
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_transformer import scaled_dot_product_attention  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Walk through self-attention and multi-head attention on one sentence.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--sentence", default="the train left the station on time", help="the sentence to attend over"
    )
    parser.add_argument("--embed-dim", type=int, default=4, help="size of each word's vector")
    parser.add_argument(
        "--head-dim", type=int, default=8, help="size of the query/key/value projections (all heads together)"
    )
    parser.add_argument("--heads", type=int, default=2, help="number of heads in the multi-head part")
    parser.add_argument("--seed", type=int, default=1337, help="seed for the toy embeddings and projections")
    parser.add_argument(
        "--output",
        default="output/ch11_attention/attention_weights.png",
        help="where to save the heatmap PNG",
    )
    args = parser.parse_args(argv)
    if args.head_dim % args.heads:
        parser.error(f"--head-dim {args.head_dim} must be divisible by --heads {args.heads}")
    if not args.sentence.split():
        parser.error("--sentence is empty")
    return args


def show(name, tensor):
    array = ops.convert_to_numpy(tensor)
    print(f"\n{name}  shape={tuple(array.shape)}")
    print(np.array2string(array, precision=2, suppress_small=True, max_line_width=120))


def main(argv=None):
    args = parse_args(argv)
    words = args.sentence.split()
    rng = np.random.default_rng(args.seed)
    # Toy word vectors; in a model they are learned embeddings.
    vocab = {w: rng.normal(size=args.embed_dim).astype("float32") for w in dict.fromkeys(words)}
    x = np.stack([vocab[w] for w in words])

    print(f"Sentence: {words}  ->  embeddings {x.shape} (one {args.embed_dim}-vector per word)")
    print("\n== Self-attention, the chapter's first version: query = key = value = the embeddings ==")
    scores = x @ x.T / np.sqrt(args.embed_dim)
    show("1. scores = x . x^T / sqrt(d)   (how relevant word j is to word i)", scores)
    output, weights = scaled_dot_product_attention(x, x, x)
    show("2. weights = softmax(scores) per row   (each row sums to 1)", weights)
    show("3. output = weights . x   (each word becomes a mix of the words it attends to)", output)

    print(
        f"\n== Multi-head attention: {args.embed_dim}-d words, query/key/value projections "
        f"{args.embed_dim}x{args.head_dim} ==")
    wq, wk, wv = (rng.normal(size=(args.embed_dim, args.head_dim)).astype("float32") for _ in range(3))
    one_head, _ = scaled_dot_product_attention(x @ wq, x @ wk, x @ wv)
    print(f"one head over the full {args.head_dim}-d projections: output shape {tuple(one_head.shape)}")
    size = args.head_dim // args.heads
    head_outputs, head_weights = [], []
    for h in range(args.heads):
        cols = slice(h * size, (h + 1) * size)
        out, w = scaled_dot_product_attention(x @ wq[:, cols], x @ wk[:, cols], x @ wv[:, cols])
        print(f"head {h}: projections {args.embed_dim}x{size}, output {tuple(out.shape)}")
        head_outputs.append(out)
        head_weights.append(ops.convert_to_numpy(w))
    concatenated = ops.concatenate(head_outputs, axis=-1)
    print(f"{args.heads} heads concatenated: output shape {tuple(concatenated.shape)} (same as one head)")

    save_heatmaps(words, [ops.convert_to_numpy(weights)] + head_weights, args.output)
    print(f"\nSaved attention heatmaps to {args.output}")


def save_heatmaps(words, weight_matrices, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ["self-attention"] + [f"head {h}" for h in range(len(weight_matrices) - 1)]
    fig, axes = plt.subplots(1, len(weight_matrices), figsize=(4.2 * len(weight_matrices), 4.2))
    for i, (ax, weights, title) in enumerate(zip(np.atleast_1d(axes), weight_matrices, titles)):
        image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(words)), words, rotation=60, ha="right")
        ax.set_yticks(range(len(words)), words)
        ax.set_xlabel("attended-to word (key)")
        if i == 0:
            ax.set_ylabel("word (query)")
        ax.set_title(title)
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
