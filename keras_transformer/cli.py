"""The ``keras-transformer`` command: translate, classify, export.

::

    keras-transformer translate --model output/translator "Where is the cafe?"
    keras-transformer translate --model output/translator < english.txt > spanish.txt
    keras-transformer classify --model imdb.keras "A moving, beautiful film."
    keras-transformer export --model output/translator --to export/translator

``--model`` is a translator folder (``Translator.save``: ``model.keras`` +
``translator.json``), a classifier ``.keras`` file (an ``end_to_end`` model of
raw strings), or a SavedModel folder written by ``export`` (for
``translate``/``classify``). Sentences come from the arguments or, with none,
from standard input, one per line; output is one line per input, in order.

Errors print one line, ``keras-transformer: error: ...``, on standard error:
exit status 2 for a bad command line or a model path that is missing or not a
model, 1 for anything else. Invalid UTF-8 on standard input is replaced with
U+FFFD, with a warning naming the line; an input longer than the model's
sequence length is truncated, with one warning naming it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

PROG = "keras-transformer"
TRANSLATOR_META = "translator.json"
SAVED_MODEL_FILE = "saved_model.pb"


class CommandError(Exception):
    """An error the user can fix: printed as one line, exit with ``status``."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def _warn(message):
    print(f"{PROG}: warning: {message}", file=sys.stderr)


# ---- input ------------------------------------------------------------------


def read_lines(stream):
    """Lines of a binary stream as ``str``, without line endings.

    Invalid UTF-8 is replaced with U+FFFD ("�"), with one warning per such
    line naming its number (1-based), so one bad byte does not lose a batch.
    """
    lines = []
    for number, raw in enumerate(stream.read().splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            _warn(
                f"line {number}: invalid UTF-8 (byte {raw[error.start:error.start + 1]!r} "
                f"at {error.start}) replaced with U+FFFD"
            )
            lines.append(raw.decode("utf-8", errors="replace"))
    return lines


def _inputs(args):
    if args.texts:
        return list(args.texts), "argument"
    if sys.stdin is None or sys.stdin.isatty():
        raise CommandError(
            f"nothing to {args.command}: pass the text as arguments or pipe lines on standard input",
            status=2,
        )
    return read_lines(sys.stdin.buffer), "line"


class _Progress:
    """Progress on standard error for jobs of more than one batch.

    Rewritten in place on a terminal; otherwise a line about every 10%, so
    that a log file stays short.
    """

    def __init__(self, total, batch_size, verb, quiet):
        self.total = total
        self.verb = verb
        self.enabled = not quiet and total > batch_size
        self.dynamic = sys.stderr.isatty()
        self.step = max(total // 10, batch_size)
        self.next_report = self.step
        self.start = time.perf_counter()

    def update(self, done):
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        message = f"{self.verb} {done}/{self.total} ({rate:.1f}/s)"
        if self.dynamic:
            end = "\n" if done >= self.total else ""
            print(f"\r{message}", end=end, file=sys.stderr, flush=True)
        elif done >= self.next_report or done >= self.total:
            print(message, file=sys.stderr, flush=True)
            self.next_report = done + self.step


def _warn_if_long(vectorizer, texts, kind, offset):
    if vectorizer is None:
        return
    from keras_transformer.export import count_tokens, sequence_length

    limit = sequence_length(vectorizer)
    if not limit:
        return
    for index, count in enumerate(count_tokens(vectorizer, texts)):
        if count > limit:
            _warn(
                f"{kind} {offset + index + 1}: {count} tokens, longer than the model's "
                f"sequence length {limit}; only the first {limit} are used"
            )


# ---- models -----------------------------------------------------------------


class Loaded:
    """A model ready to run: ``kind`` ("translator"/"classifier"), a batch function, and more."""

    def __init__(self, kind, path, run, vectorizer=None, translator=None, model=None, saved=False):
        self.kind = kind
        self.path = path
        self.run = run  # tf.string (B,) -> numpy (B,)
        self.vectorizer = vectorizer
        self.translator = translator
        self.model = model
        self.saved = saved


def _not_a_model(path, why):
    return CommandError(
        f"{str(path)!r} is not a model ({why}); pass a translator folder (Translator.save), "
        "a classifier .keras file, or a SavedModel folder from `keras-transformer export`",
        status=2,
    )


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load(path):
    """Load ``path`` (translator folder, classifier ``.keras``, or exported SavedModel) as :class:`Loaded`."""
    path = Path(path)
    if not path.exists():
        raise CommandError(
            f"no such file or folder: {str(path)!r}; pass a translator folder, "
            "a classifier .keras file or an exported SavedModel folder",
            status=2,
        )
    import tensorflow as tf

    if path.is_dir() and (path / SAVED_MODEL_FILE).exists():
        try:
            signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        except Exception as error:
            raise _not_a_model(path, f"the SavedModel does not load: {_first_line(error)}")
        outputs = signature.structured_outputs
        for key, kind in (("translation", "translator"), ("probability", "classifier")):
            if key in outputs:
                return Loaded(kind, path, lambda text, s=signature, k=key: s(text=text)[k].numpy(), saved=True)
        raise _not_a_model(path, f"its serving_default returns {sorted(outputs)}, not text or a probability")

    import keras

    if keras.backend.backend() != "tensorflow":
        raise CommandError(
            f"{PROG} runs on the TensorFlow backend, not {keras.backend.backend()!r}; "
            "unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow"
        )
    import keras_transformer  # noqa: F401  registers every custom layer and standardization
    from keras_transformer import export

    if path.is_dir():
        if not (path / TRANSLATOR_META).exists():
            raise _not_a_model(path, f"a folder without {TRANSLATOR_META} or {SAVED_MODEL_FILE}")
        from keras_transformer.translator import Translator

        try:
            translator = Translator.load(path)
        except Exception as error:
            raise _not_a_model(path, f"the translator does not load: {_first_line(error)}")
        translate = export.translation_function(translator)
        return Loaded(
            "translator",
            path,
            lambda text: translate(text)["translation"].numpy(),
            vectorizer=translator.source_vectorizer,
            translator=translator,
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise _not_a_model(path, f"keras cannot load it: {_first_line(error)}")
    if not export.takes_strings(model):
        raise CommandError(
            f"{str(path)!r} is a model of token ids, not of raw text; save "
            "end_to_end(vectorizer, model) from keras_transformer.models instead",
            status=2,
        )
    classify = export.classification_function(model)
    return Loaded(
        "classifier",
        path,
        lambda text: classify(text)["probability"].numpy(),
        vectorizer=export.find_vectorizer(model),
        model=model,
    )


def _expect(loaded, kind):
    if loaded.kind != kind:
        other = "translate" if loaded.kind == "translator" else "classify"
        raise CommandError(
            f"{str(loaded.path)!r} is a {loaded.kind}; use `{PROG} {other}` for it", status=2
        )


def _batches(loaded, texts, kind, batch_size, quiet, verb, emit):
    import tensorflow as tf

    progress = _Progress(len(texts), batch_size, verb, quiet)
    for begin in range(0, len(texts), batch_size):
        chunk = texts[begin : begin + batch_size]
        _warn_if_long(loaded.vectorizer, chunk, kind, begin)
        for value in loaded.run(tf.constant(chunk, dtype=tf.string)):
            emit(value)
        sys.stdout.flush()
        progress.update(begin + len(chunk))


# ---- commands ---------------------------------------------------------------


def cmd_translate(args):
    texts, kind = _inputs(args)
    loaded = load(args.model)
    _expect(loaded, "translator")

    def emit(value):
        print(value.decode("utf-8", errors="replace"))

    _batches(loaded, texts, kind, args.batch_size, args.quiet, "translated", emit)
    return 0


def cmd_classify(args):
    texts, kind = _inputs(args)
    loaded = load(args.model)
    _expect(loaded, "classifier")

    def emit(probability):
        label = "positive" if probability >= args.threshold else "negative"
        print(f"{label}\t{probability:.4f}")

    _batches(loaded, texts, kind, args.batch_size, args.quiet, "classified", emit)
    return 0


def cmd_export(args):
    target = Path(args.to)
    if target.exists() and not target.is_dir():
        raise CommandError(f"--to {str(target)!r} is a file; pass a folder for the SavedModel")
    if target.is_dir() and any(target.iterdir()) and not args.overwrite:
        raise CommandError(f"--to {str(target)!r} exists and is not empty; pass --overwrite to replace it")
    loaded = load(args.model)
    if loaded.saved:
        raise CommandError(f"{str(loaded.path)!r} is already a SavedModel; nothing to export", status=2)
    from keras_transformer import export

    if loaded.kind == "translator":
        export.export_translator(loaded.translator, target)
        output = "translation tf.string (B,)"
    else:
        export.export_classifier(loaded.model, target)
        output = "probability tf.float32 (B,)"
    print(f"wrote {target} (serving_default: text tf.string (B,) -> {output})")
    return 0


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
    translate.set_defaults(handler=cmd_translate)

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
    classify.set_defaults(handler=cmd_classify)

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
    export.set_defaults(handler=cmd_export)
    return parser


def _quiet_tensorflow():
    # TensorFlow's C++ chatter would bury the one-line messages. (Lines it
    # prints while `import keras_transformer` loads it come before this.)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    """Entry point of ``keras-transformer``; returns the exit status."""
    args = build_parser().parse_args(argv)
    _quiet_tensorflow()
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `keras-transformer translate ... | head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # one line, never a traceback
        print(f"{PROG}: error: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
