#!/usr/bin/env python
"""Chapter 11, second part: English->Spanish translation with GRU, GRU + attention, Transformer.

Trains one model on the Tatoeba pairs (70/15/15 split, seed 1337), keeps the best
validation checkpoint, scores it once on the test split (next-token accuracy two ways,
sacreBLEU and chrF), prints sample translations, and writes results.json, curves.png and
the saved translator to the output folder. Rerun the same command after a kill to resume.

    python chapters/ch11_translation.py --recipe fast --data-dir spa-eng.zip
"""

from keras_transformer_cli.options import run_chapter


def main(argv=None):
    return run_chapter("translation", argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
