"""Translation quality from token ids: next-token accuracies and corpus BLEU/chrF.

Pure numpy and sacreBLEU, no TensorFlow, so a machine that trains under JAX
or PyTorch can count accuracies, and the machine that holds the vectorizers
can turn generated ids into text and score them
(``tools/translation_arrays.py``).
"""

import numpy as np


def next_token_accuracies(decoder_inputs, targets, predicted):
    """Counts for the two next-token accuracies (numpy int arrays, same shape).

    * ``keras``: positions where the decoder *input* is not padding, which is
      what Keras counts when the mask comes from the decoder's embedding. That
      includes the position whose input is ``[end]`` and whose target is
      padding (an easy "hit" once the model learns to predict padding there).
    * ``tokens``: positions where the *target* is a real token only.

    Returns ``{"keras": (correct, total), "tokens": (correct, total)}``.
    """
    hit = predicted == targets
    keras_mask = decoder_inputs != 0
    token_mask = targets != 0
    return {
        "keras": (int(np.sum(hit & keras_mask)), int(np.sum(keras_mask))),
        "tokens": (int(np.sum(hit & token_mask)), int(np.sum(token_mask))),
    }


def corpus_scores(hypotheses, references):
    """sacreBLEU corpus BLEU and chrF of ``hypotheses`` against one reference each.

    Returns ``{"bleu", "chrf", "bleu_signature", "chrf_signature"}``.
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references.")
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    return {
        "bleu": bleu.corpus_score(hypotheses, [references]).score,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def translation_scores(hypotheses, references, prepared_references, unseen=None, prepared_hypotheses=None):
    """What a reader needs to trust a translator's BLEU, from its outputs.

    Args:
        hypotheses: the model's translations.
        references: the Spanish sentences as the corpus writes them (cased, punctuated).
        prepared_references: the same prepared as the book's model writes (lower-cased,
            punctuation stripped; ``translator.prepare_reference``).
        unseen: None, or one boolean per pair: True where the English sentence occurs
            nowhere in the training split (``spa_eng.unseen_in_training``).
        prepared_hypotheses: the translations prepared as the references were, for
            the prepared-reference scores (cased, punctuated output); None: ``hypotheses``.

    Returns:
        ``bleu``/``chrf`` (prepared references, the book-comparable figures, with their
        signatures), ``bleu_raw``/``chrf_raw`` (the corpus's own references), ``unk_rate``
        (share of outputs holding ``[UNK]``), and with ``unseen`` the same four scores
        on the unseen pairs (``*_unseen``) and ``unseen_pairs``.

    Example::

        translation_scores(["hola"], ["¡Hola!"], ["hola"])["bleu_raw"]  # lower than "bleu"
    """
    prepared_hypotheses = hypotheses if prepared_hypotheses is None else prepared_hypotheses
    scores = corpus_scores(prepared_hypotheses, prepared_references)
    raw = corpus_scores(hypotheses, references)
    scores.update(bleu_raw=raw["bleu"], chrf_raw=raw["chrf"],
                  unk_rate=float(np.mean(["[UNK]" in h for h in hypotheses])) if hypotheses else 0.0)
    if unseen is not None:
        rows = [i for i, flag in enumerate(unseen) if flag]
        scores["unseen_pairs"] = len(rows)
        if rows:
            pick = lambda values: [values[i] for i in rows]  # noqa: E731
            prepared = corpus_scores(pick(prepared_hypotheses), pick(prepared_references))
            raw = corpus_scores(pick(hypotheses), pick(references))
            scores.update(bleu_unseen=prepared["bleu"], chrf_unseen=prepared["chrf"],
                          bleu_raw_unseen=raw["bleu"], chrf_raw_unseen=raw["chrf"])
    return scores
