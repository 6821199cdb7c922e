"""WordPiece against SentencePiece for the translator's Spanish side, on the real split.

Both are learned with keras-hub on the 83,276 training sentences (cased, accents
and punctuation kept) and measured on the 17,844 test sentences: the time to
learn, pieces per sentence, the share of sentences holding an unknown piece,
and the share that detokenize back to exactly the text the corpus wrote (what
a reader sees of a translation)::

    python benchmarks/bench_subwords.py --data-dir ../shared/datasets/spa-eng.zip

Prints one JSON line per tokenizer; docs/results.md quotes them.
"""

import argparse
import json
import time

import numpy as np


def measure_wordpiece(train, test, vocab_size):
    import keras_hub
    import tensorflow as tf

    begin = time.perf_counter()
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(train).batch(1000), vocabulary_size=vocab_size, lowercase=False,
        strip_accents=False, reserved_tokens=["[PAD]", "[UNK]", "[start]", "[end]"])
    seconds = time.perf_counter() - begin
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocabulary, lowercase=False, strip_accents=False)
    ids = tokenizer(tf.constant(test))
    ids = ids.to_list() if hasattr(ids, "to_list") else [list(row) for row in ids]
    back = tokenizer.detokenize(tf.ragged.constant(ids))
    back = back.numpy().tolist() if hasattr(back, "numpy") else back
    back = [b.decode("utf-8") if isinstance(b, bytes) else b for b in back]
    unknown = vocabulary.index("[UNK]")
    return seconds, ids, back, unknown


def measure_sentencepiece(train, test, vocab_size):
    from keras_transformer.translation.subwords import UNKNOWN_ID, SubwordVectorizer, learn_sentencepiece

    begin = time.perf_counter()
    proto = learn_sentencepiece(train, vocab_size)
    seconds = time.perf_counter() - begin
    vectorizer = SubwordVectorizer(proto, 512)
    ids = [[int(i) for i in row if i != 0] for row in vectorizer(test).numpy()]
    return seconds, ids, vectorizer.detokenize(ids), UNKNOWN_ID


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="spa-eng.zip or its folder (default: download)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="pieces in each vocabulary")
    args = parser.parse_args(argv)
    from keras_transformer.translation.pairs import load_pairs, split_pairs

    train, _, test = split_pairs(load_pairs(args.data_dir).pairs)
    train, test = [s for _, s in train], [s for _, s in test]
    for name, measure in (("sentencepiece", measure_sentencepiece), ("wordpiece", measure_wordpiece)):
        seconds, ids, back, unknown = measure(train, test, args.vocab_size)
        print(json.dumps({
            "tokenizer": name, "vocab_size": args.vocab_size, "learn_seconds": round(seconds, 1),
            "pieces_per_sentence": round(float(np.mean([len(row) for row in ids])), 2),
            "sentences_with_unknown": round(float(np.mean([unknown in row for row in ids])), 4),
            "exact_round_trip": round(float(np.mean([a == b for a, b in zip(back, test)])), 4),
            "example": back[0], "reference": test[0],
        }, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
