#!/usr/bin/env python
"""Chapter 11, first part: IMDB sentiment classification, from bag-of-words to a Transformer.

Trains one of the chapter's models on IMDB (20,000 reviews for training, 5,000 for
validation, 25,000 for test), keeps the best validation epoch, scores it once on the test
set and writes results.json, curves.png, history.csv, best.keras and end_to_end.keras (a
model of raw strings) to the output folder. Rerun the same command after a kill to resume.

    python chapters/ch11_text_classification.py --recipe fast --data-dir aclImdb_v1.tar.gz
"""

from keras_transformer_cli.options import run_chapter


def main(argv=None):
    return run_chapter("imdb", argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
