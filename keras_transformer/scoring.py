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
