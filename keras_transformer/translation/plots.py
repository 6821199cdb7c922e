"""Pictures of the chapter: the cross-attention heatmap of one translation."""


def plot_attention(source_tokens, output_tokens, weights, path, title=None):
    """Heatmap of ``weights`` (outputs x sources) to a PNG, the chapter's "cafe <-> café" picture.

    ``weights`` as :meth:`keras_transformer.translation.translator.Translator.attention_map`
    returns them, ``(len(output_tokens), len(source_tokens))``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(source_tokens), 1.0 + 0.45 * len(output_tokens)))
    ax.imshow(weights, cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(output_tokens)), output_tokens)
    ax.set_xlabel("English (source)")
    ax.set_ylabel("Spanish (generated)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
