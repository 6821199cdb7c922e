"""The chapter scripts' options: a recipe by name, a few flags over it, ``--set`` for the rest.

Standard library only, so ``--help`` and a bad option answer before TensorFlow is
imported. Settings stack in this order, each over the one before: the book's
(``keras_transformer.recipes.IMDB_BOOK`` / ``TRANSLATION_BOOK``), the recipe's,
``--set KEY=VALUE`` (any setting), then the flags given on the command line::

    python chapters/ch11_translation.py --recipe fast --epochs 3 --set warmup_steps=400
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import shlex
import sys
from pathlib import Path


def load_recipes():
    """``keras_transformer.recipes``, read without running the package's ``__init__``.

    Importing the package imports every layer, hence TensorFlow (seconds); the
    recipes module imports nothing, so it is loaded from its file alone.
    """
    module = sys.modules.get("keras_transformer.recipes")
    if module is not None:
        return module
    package = importlib.util.find_spec("keras_transformer")  # finds, does not import
    path = Path(package.submodule_search_locations[0]) / "recipes.py"
    spec = importlib.util.spec_from_file_location("keras_transformer_recipes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _value(text):
    """``--set`` values: Python literals (``0.1``, ``None``, ``True``, ``'adam'``), else the text itself."""
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _assignment(text):
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. warmup_steps=400")
    return key.strip().replace("-", "_"), _value(value.strip())


# The flags each chapter shows: (flag, settings key, argparse keywords). The rest are `--set`.
_COMMON = [
    ("--epochs", dict(type=int, help="training epochs (the recipe's; the book recipe's are the book's)")),
    ("--batch-size", dict(type=int, help="batch size")),
    ("--learning-rate", dict(type=float, help="starting learning rate")),
    ("--precision", dict(choices=("float32", "mixed_bfloat16", "mixed_float16"),
                         help="compute precision (mixed: float32 weights, softmax and layer norm)")),
    ("--seed", dict(type=int, help="seed of every random generator (1337)")),
    ("--full-padding", dict(action="store_const", const=True,
                            help="pad every example to the sequence length, as the book does (slower, same outputs)")),
    ("--strategy", dict(choices=("default", "mirrored", "multi-worker", "tpu"),
                        help="distribution: one device, all local devices, hosts named by TF_CONFIG, or a TPU")),
    ("--tensorboard", dict(metavar="DIR", help="write TensorBoard logs to DIR")),
]
_CHAPTER = {
    "imdb": [
        ("--model", dict(help="unigram, bigram, bigram-tfidf, lstm-onehot, lstm-embedding, lstm-masked, "
                               "transformer or transformer-positional")),
        ("--validation-split", dict(type=float, help="share of the training reviews that chooses the checkpoint "
                                                     "(the book's 0.2)")),
    ],
    "translation": [
        ("--model", dict(choices=("gru", "gru-attention", "transformer"), help="which model")),
        ("--tokenizer", dict(choices=("word", "sentencepiece"),
                             help="word: the book's vocabulary; sentencepiece: cased, punctuated pieces, no [UNK]")),
        ("--method", dict(choices=("greedy", "beam"), help="decoding for BLEU, chrF and the samples")),
        ("--eval-limit", dict(type=int, metavar="N", help="translate only the first N test pairs for BLEU/chrF")),
        ("--attend", dict(metavar="SENTENCE", help="draw this sentence's cross-attention to attention.png")),
        ("--skip-training", dict(action="store_const", const=True,
                                 help="score the checkpoint already in --output-dir")),
    ],
}
SCRIPTS = {"imdb": "ch11_text_classification", "translation": "ch11_translation"}


def chapter_parser(chapter, description):
    """The parser of a chapter script: ``--recipe``, the chapter's flags, ``--set``."""
    recipes = load_recipes()
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="recipes (--list-recipes shows every setting each one changes):\n" + "\n".join(
            f"  {name:14} {recipes.ABOUT.get(f'{chapter}-{name}', '')}" for name in recipes.names(chapter)))
    add = parser.add_argument
    add("--recipe", default="book", choices=recipes.names(chapter), metavar="NAME",
        help="named settings to start from (default: book); the flags below override it")
    for flag, options in _CHAPTER[chapter][:1] + _COMMON + _CHAPTER[chapter][1:]:
        add(flag, default=None, **options)
    add("--data-dir", help="local copy of the dataset, archive or extracted folder (default: "
        "$KERAS_TRANSFORMER_DATA_DIR, else download into the Keras cache)")
    add("--output-dir", help=f"folder of the checkpoint, results.json and plots (default: output/{SCRIPTS[chapter]}/MODEL)")
    add("--set", action="append", type=_assignment, default=[], metavar="KEY=VALUE",
        help="any other setting of the recipe, e.g. --set warmup_steps=400 (several allowed)")
    add("--list-recipes", action="store_true", help="print every recipe's settings and exit")
    return parser


def chapter_settings(chapter, argv=None, description=None):
    """Parse a chapter script's ``argv``: ``(settings, command)``, or exit with a one-line error."""
    recipes = load_recipes()
    parser = chapter_parser(chapter, description)
    args = parser.parse_args(argv)
    if args.list_recipes:
        print(recipes.table(chapter))
        raise SystemExit(0)
    flags = {key: value for key, value in vars(args).items()
             if value is not None and key not in ("recipe", "set", "list_recipes", "data_dir", "output_dir")}
    try:
        settings = recipes.settings(chapter, args.recipe, **{**dict(args.set), **flags})
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    settings.update(data_dir=args.data_dir, output_dir=args.output_dir)
    script = Path(sys.argv[0]).name if argv is None else f"{SCRIPTS[chapter]}.py"
    command = shlex.join(["python", script, *(sys.argv[1:] if argv is None else argv)])
    return settings, command


def run_chapter(chapter, argv, description):
    """A chapter script's ``main``: settings from ``argv``, then the chapter's run; one line on a known error."""
    settings, command = chapter_settings(chapter, argv, description)
    if chapter == "imdb":
        from keras_transformer.classification.run import check, train_and_evaluate
    else:
        from keras_transformer.translation.run import check, train_and_evaluate
    from keras_transformer.data.download import DownloadError

    try:
        check(settings)
    except ValueError as error:
        chapter_parser(chapter, description).error(str(error))
    try:
        return train_and_evaluate(settings, command)
    except (DownloadError, FileNotFoundError) as error:  # no data: one line naming the way out
        raise SystemExit(f"{SCRIPTS[chapter]}: error: {error}") from None
