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

The command line itself -- the parser and every check that needs no model --
is the top-level module ``keras_transformer_cli`` (the console script's entry
point), which imports the standard library only, so that help and those
errors answer before TensorFlow is imported; this module loads the model and
runs the command (:func:`run`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import keras_transformer_cli as launcher
from keras_transformer_cli import (  # noqa: F401  (the command line is defined there, once)
    PROG,
    SAVED_MODEL_FILE,
    TRANSLATOR_META,
    CommandError,
    build_parser,
    not_a_model,
    report,
)


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
    return read_lines(sys.stdin.buffer), "line"  # launcher.check: stdin is piped


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


def _warn_if_long(loaded, texts, kind, offset):
    if loaded.limit is None:
        return
    limit = loaded.limit
    for index, count in enumerate(loaded.count_tokens(texts)):
        if count > limit:
            _warn(
                f"{kind} {offset + index + 1}: {count} tokens, longer than the model's "
                f"sequence length {limit}; only the first {limit} are used"
            )


# ---- models -----------------------------------------------------------------


class Loaded:
    """A model ready to run: ``kind`` ("translator"/"classifier"), a batch function, and more."""

    def __init__(self, kind, path, run, count_tokens=None, limit=None, translator=None, model=None, saved=False):
        self.kind = kind
        self.path = path
        self.run = run  # tf.string (B,) -> numpy (B,)
        self.count_tokens = count_tokens  # texts -> tokens each has before the model's cut at `limit`
        self.limit = limit
        self.translator = translator
        self.model = model
        self.saved = saved


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load(path):
    """Load ``path`` (translator folder, classifier ``.keras``, or exported SavedModel) as :class:`Loaded`."""
    path = Path(path)
    found = launcher.model_format(path)  # missing, or no model: status 2 before TensorFlow
    import tensorflow as tf

    if found == "savedmodel":
        import tensorflow_text  # noqa: F401  (registers the SentencePiece ops a subword translator's graph holds)

        try:
            signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        except Exception as error:
            raise not_a_model(path, f"the SavedModel does not load: {_first_line(error)}")
        outputs = signature.structured_outputs
        for key, kind in (("translation", "translator"), ("probability", "classifier")):
            if key in outputs:
                return Loaded(kind, path, lambda text, s=signature, k=key: s(text=text)[k].numpy(), saved=True)
        raise not_a_model(path, f"its serving_default returns {sorted(outputs)}, not text or a probability")

    import keras

    if keras.backend.backend() != "tensorflow":
        raise CommandError(
            f"{PROG} runs on the TensorFlow backend, not {keras.backend.backend()!r}; "
            "unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow"
        )
    import keras_transformer  # noqa: F401  registers every custom layer and standardization
    from keras_transformer.classification import export as classification_export
    from keras_transformer.data.serving import count_words, sequence_length

    if found == "translator":
        from keras_transformer.translation.export import translation_function
        from keras_transformer.translation.translator import Translator

        try:
            translator = Translator.load(path)
        except Exception as error:
            raise not_a_model(path, f"the translator does not load: {_first_line(error)}")
        translate = translation_function(translator)
        source = translator.source_vectorizer
        return Loaded(
            "translator",
            path,
            lambda text: translate(text)["translation"].numpy(),
            count_tokens=source.count_tokens,
            limit=source.sequence_length,
            translator=translator,
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise not_a_model(path, f"keras cannot load it: {_first_line(error)}")
    if not classification_export.takes_strings(model):
        raise CommandError(
            f"{str(path)!r} is a model of token ids, not of raw text; save "
            "end_to_end(vectorizer, model) from keras_transformer.classification instead",
            status=2,
        )
    classify = classification_export.classification_function(model)
    vectorizer = classification_export.find_vectorizer(model)
    return Loaded(
        "classifier",
        path,
        lambda text: classify(text)["probability"].numpy(),
        count_tokens=lambda texts: count_words(vectorizer, texts),
        limit=None if vectorizer is None else sequence_length(vectorizer),
        model=model,
    )


def _expect(loaded, kind):
    if loaded.kind != kind:
        raise launcher.wrong_command(loaded.path, loaded.kind)


def _batches(loaded, texts, kind, batch_size, quiet, verb, emit):
    import tensorflow as tf

    progress = _Progress(len(texts), batch_size, verb, quiet)
    for begin in range(0, len(texts), batch_size):
        chunk = texts[begin : begin + batch_size]
        _warn_if_long(loaded, chunk, kind, begin)
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
    target = Path(args.to)  # launcher.check: a folder, empty unless --overwrite
    loaded = load(args.model)
    if loaded.saved:
        raise CommandError(f"{str(loaded.path)!r} is already a SavedModel; nothing to export", status=2)
    if loaded.kind == "translator":
        from keras_transformer.translation.export import export_translator

        export_translator(loaded.translator, target)
        output = "translation tf.string (B,)"
    else:
        from keras_transformer.classification.export import export_classifier

        export_classifier(loaded.model, target)
        output = "probability tf.float32 (B,)"
    print(f"wrote {target} (serving_default: text tf.string (B,) -> {output})")
    return 0


def cmd_reproduce(args):
    from keras_transformer_cli.reproduce import reproduce

    import shlex

    options = [(flag, value) for flag, value in (("--data-dir", args.data_dir), ("--output-dir", args.output_dir),
                                                 ("--tag", args.tag), ("--epochs", args.epochs)) if value is not None]
    command = shlex.join([PROG, "reproduce", args.recipe] + [str(part) for option in options for part in option])
    reproduce(args.recipe, args.data_dir, args.output_dir, args.results_dir, args.tag, command, args.epochs)
    return 0


# ---- running a parsed command ----------------------------------------------

COMMANDS = {"translate": cmd_translate, "classify": cmd_classify, "export": cmd_export, "reproduce": cmd_reproduce}


def run(args):
    """Run parsed ``args`` (checked by ``keras_transformer_cli.check``); returns the exit status."""
    try:
        return COMMANDS[args.command](args)
    except CommandError as error:
        return report(error)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `keras-transformer translate ... | head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # one line, never a traceback
        print(f"{PROG}: error: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return 1


def main(argv=None):
    """``keras-transformer argv`` in this process; returns the exit status.

    The console script is ``keras_transformer_cli:main``, which answers help
    and usage errors before TensorFlow is imported and keeps its C++ log off
    standard error; here (TensorFlow already imported) standard error is left
    as it is.
    """
    return launcher.main(argv, quiet=False)


if __name__ == "__main__":
    sys.exit(launcher.main())
