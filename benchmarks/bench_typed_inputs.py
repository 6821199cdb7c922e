#!/usr/bin/env python
"""BLEU of a subword translator on English as readers type it: as written, lower case, capitals, no final mark.

Each variant of the first ``--limit`` test pairs' English is translated greedily and scored
with sacreBLEU against the raw references, with the source normaliser
(``keras_transformer.translation.normalize``) off and on. A translator saved without one
gets the one its training split gives (the same rules ``make_subword_vectorizers`` learns)::

    python benchmarks/bench_typed_inputs.py --translator output/reproduce/translation-subword/translator \\
        --data-dir ../shared/datasets/spa-eng.zip --limit 2000 --json output/bench/typed.json
"""

from __future__ import annotations

import argparse
import json
import string
import sys

VARIANTS = {
    "as written": lambda s: s,
    "lower case": str.lower,
    "capitals": str.upper,
    "no final mark": lambda s: s.rstrip().rstrip(string.punctuation + "…").rstrip(),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--translator", required=True, help="a saved subword Translator folder")
    parser.add_argument("--data-dir", help="spa-eng.zip or its folder (default: download)")
    parser.add_argument("--limit", type=int, default=2000, help="first N test pairs (default 2000)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)

    from keras_transformer.translation.normalize import InputNormalizer
    from keras_transformer.translation.pairs import load_pairs, split_pairs
    from keras_transformer.translation.scoring import corpus_scores
    from keras_transformer.translation.translator import Translator

    translator = Translator.load(args.translator)
    source = translator.source_vectorizer
    if not hasattr(source, "normalizer"):
        parser.error("the translator's vocabulary is the book's words, which ignore case and punctuation already")
    train, _, test = split_pairs(load_pairs(args.data_dir).pairs)
    test = test[: args.limit]
    learned = source.normalizer or InputNormalizer.learn([english for english, _ in train])
    references = [spanish for _, spanish in test]
    rows = []
    for setting, normalizer in (("off", None), ("on", learned)):
        source.normalizer = normalizer
        for variant, change in VARIANTS.items():
            hypotheses = translator.translate([change(english) for english, _ in test])
            scores = corpus_scores(hypotheses, references)
            rows.append({"normaliser": setting, "english": variant, "bleu_raw": scores["bleu"],
                         "chrf_raw": scores["chrf"], "pairs": len(test)})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n| English, first {len(test)} test pairs, greedy | normaliser off: BLEU / chrF raw | on |\n|---|---|---|")
    for variant in VARIANTS:
        off, on = (next(r for r in rows if r["english"] == variant and r["normaliser"] == s) for s in ("off", "on"))
        print(f"| {variant} | {off['bleu_raw']:.2f} / {off['chrf_raw']:.2f} | {on['bleu_raw']:.2f} / {on['chrf_raw']:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"translator": args.translator, "rows": rows}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
