"""Score a saved translator on the seed-1337 split, in a fresh process: measure (a) counted exactly.

`fit`'s `val_accuracy` on batches cut to their longest pair weighs each batch by its real
tokens over its width, so it is not exactly the book's measure (a); this scores the
translator folder a chapter run saved on the validation (or test) pairs at the book's full
padding, where Keras's count and (a) agree. With `--translate`, BLEU and chrF too:

    python benchmarks/score_saved_translator.py output/ch11_translation/NAME/translator \\
        --data-dir /work/shared/datasets/spa-eng.zip --split validation
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("translator", help="a folder written by Translator.save (a chapter run's translator/)")
    parser.add_argument("--data-dir", default=None, help="spa-eng.zip or its folder (default: download)")
    parser.add_argument("--split", choices=("validation", "test"), default="validation", help="pairs to score")
    parser.add_argument("--translate", action="store_true", help="also decode for BLEU and chrF (slower)")
    parser.add_argument("--method", choices=("greedy", "beam"), default="greedy", help="decoding for --translate")
    parser.add_argument("--beam-size", type=int, default=4, help="beams of --method beam")
    parser.add_argument("--length-penalty", type=float, default=0.6, help="GNMT length penalty of --method beam")
    parser.add_argument("--limit", type=int, default=None, help="score the first N pairs of the split only")
    args = parser.parse_args(argv)

    from keras_transformer.translation.pairs import load_pairs, split_pairs, unseen_in_training
    from keras_transformer.translation.translator import Translator

    train, validation, test = split_pairs(load_pairs(args.data_dir).pairs)
    pairs = (validation if args.split == "validation" else test)[: args.limit]
    translator = Translator.load(args.translator)
    scores = translator.evaluate(pairs, translate=args.translate, method=args.method, beam_size=args.beam_size,
                                 length_penalty=args.length_penalty,
                                 unseen=unseen_in_training(pairs, train) if args.translate else None)
    scores = {k: v for k, v in scores.items() if k not in ("hypotheses", "references")}
    print(json.dumps({"translator": args.translator, "split": args.split, **scores}))


if __name__ == "__main__":
    main()
