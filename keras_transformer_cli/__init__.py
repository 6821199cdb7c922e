"""The ``keras-transformer`` command line: answers at once, imports TensorFlow only to run.

Why a module of its own, outside the package: ``import keras_transformer``
imports every layer, hence Keras and TensorFlow (seconds), so that a saved
chapter model loads after ``import keras_transformer`` alone; and importing
any submodule of the package runs that ``__init__`` first. A command line
inside the package could not answer ``--help`` without paying for it.

So this top-level module, which imports the standard library only, holds the
command line: the parser (defined here once; :mod:`keras_transformer_cli.run`
imports it) and every check that needs no model -- a bad option, nothing to
read, a missing or mistyped path, a folder or file that cannot be a model,
the wrong command for a translator folder, ``export``'s ``--to`` -- so that
``--help``, each command's ``--help`` and all of those errors answer in a
fraction of a second. Only a valid command imports
:mod:`keras_transformer_cli.run` (and with it TensorFlow) to load the model and
run: see :func:`main`.

Quiet: TensorFlow's C++ logging (absl) writes to file descriptor 2 itself,
some of it before absl is initialised, where ``TF_CPP_MIN_LOG_LEVEL`` cannot
stop it, and some at the first device query. Before TensorFlow is imported,
:func:`quiet_native_logs` points descriptor 2 at ``/dev/null`` for the rest
of the process and gives Python's ``sys.stderr`` a duplicate of the original
descriptor: the command's errors, warnings and progress, Python warnings and
tracebacks still reach standard error, and nothing native code writes there
does. ``faulthandler`` writes to the duplicate, so a crash in native code
still says where. Set ``KERAS_TRANSFORMER_NATIVE_LOG=1`` to see TensorFlow's
own log (e.g. for a bug report).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROG = "keras-transformer"
TRANSLATOR_META = "translator.json"
SAVED_MODEL_FILE = "saved_model.pb"
NATIVE_LOG_VARIABLE = "KERAS_TRANSFORMER_NATIVE_LOG"

_ZIP_MAGIC = b"PK\x03\x04"  # a .keras file is a zip archive
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # the legacy .h5 format keras also loads


class CommandError(Exception):
    """An error the user can fix: printed as one line, exit with ``status``."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def report(error):
    """Print ``error`` (a :class:`CommandError`) as one line on standard error; its status."""
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return error.status


# ---- the parser -------------------------------------------------------------


def _positive_int(value):
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer, e.g. 64")
    return number


def build_parser():
    """The parser of ``keras-transformer``; ``args.command`` names the command to run."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Translate English to Spanish, classify movie reviews, or export a model "
        "as a TensorFlow SavedModel of raw text (chapter 11 of Deep Learning with Python).",
        epilog=f"Run `{PROG} COMMAND --help` for each command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def run_options(sub, what, default_batch):
        sub.add_argument(
            "--model", required=True, metavar="PATH",
            help="translator folder (Translator.save), classifier .keras file, or SavedModel folder "
            f"from `{PROG} export`",
        )
        sub.add_argument(
            "texts", nargs="*", metavar="TEXT",
            help=f"{what}; with none, read one per line from standard input "
            "(invalid UTF-8 is replaced with U+FFFD, with a warning naming the line)",
        )
        sub.add_argument(
            "--batch-size", type=_positive_int, default=default_batch, metavar="N",
            help=f"inputs per model call (default {default_batch})",
        )
        sub.add_argument("--quiet", action="store_true", help="no progress on standard error")

    translate = commands.add_parser(
        "translate", help="English -> Spanish, one translation per line",
        description="Translate English sentences greedily (cached decoding), printing one "
        "Spanish line per input, in order; empty input gives an empty line.",
    )
    run_options(translate, "English sentences", 64)

    classify = commands.add_parser(
        "classify", help="movie review -> 'label<TAB>probability'",
        description="Classify movie reviews, printing 'positive' or 'negative', a tab and the "
        "positive-class probability, one line per input, in order.",
    )
    run_options(classify, "reviews", 256)
    classify.add_argument(
        "--threshold", type=float, default=0.5,
        help="probability at or above which a review is 'positive' (default 0.5)",
    )

    export = commands.add_parser(
        "export", help="write a SavedModel that takes raw text",
        description="Write a TensorFlow SavedModel whose serving_default signature takes "
        "text: tf.string (B,) and returns translation: tf.string (B,) for a translator folder "
        "or probability: tf.float32 (B,) for a classifier .keras file. It loads with "
        "tf.saved_model.load without keras and runs with saved_model_cli.",
    )
    export.add_argument("--model", required=True, metavar="PATH", help="translator folder or classifier .keras file")
    export.add_argument("--to", required=True, metavar="DIR", help="folder to write the SavedModel to")
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty DIR")

    from keras_transformer_cli.options import load_recipes

    recipes = load_recipes()
    reproduce = commands.add_parser(
        "reproduce", help="train a named recipe, score it once, write results/RECIPE.json",
        description="Train a named recipe on the real data, score it once on its test split and write "
        "every measure, the training time, the machine, the commit and the command to "
        "results/RECIPE.json. Rerun the same command after a kill to resume.",
        epilog="recipes: " + ", ".join(recipes.names()) + f" (`{PROG} recipes` shows what each changes)",
    )
    reproduce.add_argument("recipe", choices=recipes.names(), metavar="RECIPE", help="e.g. imdb-fast, translation-fast")
    reproduce.add_argument("--data-dir", metavar="PATH", help="local copy of the dataset, archive or extracted folder "
                           "(default: $KERAS_TRANSFORMER_DATA_DIR, else download into the Keras cache)")
    reproduce.add_argument("--output-dir", metavar="DIR", help="the run's folder (default: output/reproduce/RECIPE)")
    reproduce.add_argument("--results-dir", default="results", metavar="DIR", help="where RECIPE.json goes (default: results)")
    reproduce.add_argument("--tag", metavar="MACHINE", help="name the file RECIPE@MACHINE.json (e.g. h200)")
    reproduce.add_argument("--epochs", type=int, metavar="N", help="a shortened run: N epochs instead of the "
                           "recipe's, labelled so in the file and the tables")
    commands.add_parser("recipes", help="print the named recipes and the settings each changes",
                        description="Print the named recipes of both chapters as tables.")
    return parser


# ---- checks that need no model ------------------------------------------------


def not_a_model(path, why):
    return CommandError(
        f"{str(path)!r} is not a model ({why}); pass a translator folder (Translator.save), "
        "a classifier .keras file, or a SavedModel folder from `keras-transformer export`",
        status=2,
    )


def wrong_command(path, kind):
    """The error for a ``kind`` ("translator"/"classifier") model given to the other command."""
    other = "translate" if kind == "translator" else "classify"
    return CommandError(f"{str(path)!r} is a {kind}; use `{PROG} {other}` for it", status=2)


def model_format(path):
    """What ``path`` holds, from the file system alone: "savedmodel", "translator" or "keras".

    Raises :class:`CommandError` (status 2) for a missing path, a folder that
    is neither a SavedModel nor a translator, or a file that is neither a zip
    (``.keras``) nor an HDF5 archive. Whether it loads is for keras to say.
    """
    path = Path(path)
    if not path.exists():
        raise CommandError(
            f"no such file or folder: {str(path)!r}; pass a translator folder, "
            "a classifier .keras file or an exported SavedModel folder",
            status=2,
        )
    if path.is_dir():
        if (path / SAVED_MODEL_FILE).exists():
            return "savedmodel"
        if (path / TRANSLATOR_META).exists():
            return "translator"
        raise not_a_model(path, f"a folder without {TRANSLATOR_META} or {SAVED_MODEL_FILE}")
    try:
        with open(path, "rb") as file:
            head = file.read(len(_HDF5_MAGIC))
    except OSError as error:
        raise CommandError(f"cannot read {str(path)!r}: {error.strerror or error}", status=2)
    if not (head.startswith(_ZIP_MAGIC) or head == _HDF5_MAGIC):
        raise not_a_model(path, "a file that is not a .keras archive")
    return "keras"


def check(args):
    """Every check of parsed ``args`` that needs neither TensorFlow nor the model."""
    if args.command in ("reproduce", "recipes"):
        if getattr(args, "epochs", None) is not None and args.epochs < 1:
            raise CommandError(f"--epochs must be at least 1, got {args.epochs}", status=2)
        if getattr(args, "data_dir", None) and not Path(args.data_dir).exists():
            raise CommandError(f"--data-dir {args.data_dir!r} does not exist; pass the dataset's archive or folder",
                               status=2)
        return
    if args.command == "export":
        target = Path(args.to)
        if target.exists() and not target.is_dir():
            raise CommandError(f"--to {str(target)!r} is a file; pass a folder for the SavedModel")
        if target.is_dir() and any(target.iterdir()) and not args.overwrite:
            raise CommandError(f"--to {str(target)!r} exists and is not empty; pass --overwrite to replace it")
        if model_format(args.model) == "savedmodel":
            raise CommandError(f"{str(args.model)!r} is already a SavedModel; nothing to export", status=2)
        return
    if not args.texts and (sys.stdin is None or sys.stdin.isatty()):
        raise CommandError(
            f"nothing to {args.command}: pass the text as arguments or pipe lines on standard input",
            status=2,
        )
    if model_format(args.model) == "translator" and args.command != "translate":
        raise wrong_command(args.model, "translator")


# ---- quiet ------------------------------------------------------------------


def quiet_native_logs():
    """Keep native (TensorFlow C++/absl) log lines off standard error; Python's own still reach it.

    Points file descriptor 2 at ``/dev/null`` for the rest of the process and
    ``sys.stderr`` at a duplicate of the original, and sets
    ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is set. Returns whether it redirected:
    not with ``KERAS_TRANSFORMER_NATIVE_LOG`` set (which also leaves the log
    level alone), nor without a stderr descriptor to duplicate.
    """
    if os.environ.get(NATIVE_LOG_VARIABLE):
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # what absl would log after its start
    if sys.stderr is None:
        return False
    try:
        sys.stderr.flush()
        original = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # no real descriptor (e.g. captured)
        return False
    python_stderr = open(
        original, "w", encoding=sys.stderr.encoding or "utf-8",
        errors=sys.stderr.errors or "backslashreplace", buffering=1,
    )
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = python_stderr
    import faulthandler

    faulthandler.enable(file=python_stderr)
    return True


# ---- the entry point --------------------------------------------------------


def main(argv=None, quiet=True):
    """Entry point of ``keras-transformer``; returns the exit status.

    Parses and checks ``argv`` with the standard library only; a valid
    command then runs in :func:`keras_transformer_cli.run.run` (which imports
    TensorFlow), after :func:`quiet_native_logs` unless ``quiet`` is false
    (as for :func:`keras_transformer_cli.run.main`, called in a Python session).
    """
    args = build_parser().parse_args(argv)  # usage errors: one line and exit 2
    try:
        check(args)
    except CommandError as error:
        return report(error)
    if args.command == "recipes":  # data: no TensorFlow
        from keras_transformer_cli.options import load_recipes

        recipes = load_recipes()
        print("\n\n".join(f"{chapter}\n\n{recipes.table(chapter)}" for chapter in recipes.chapters()))
        return 0
    if quiet:
        quiet_native_logs()
    try:
        from keras_transformer_cli.run import run  # TensorFlow: seconds
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
