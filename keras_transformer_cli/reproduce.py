"""Reproduce a published figure: train a named recipe, score it once, write ``results/RECIPE.json``.

    keras-transformer reproduce translation-fast --data-dir spa-eng.zip
    python -m keras_transformer_cli.reproduce imdb-fast --data-dir aclImdb_v1.tar.gz

The run lives in ``output/reproduce/RECIPE`` and resumes after a kill like the chapter
scripts. The results file holds every measure as an exact count over its split (no
``fit`` running averages), the training seconds and the time to the book's figure, the
machine (CPU model and cores, GPU if any, the load average while it ran), the commit,
the date, the library versions and the full command. On another machine (a GPU) the same
command writes its own file: ``results/RECIPE@MACHINE.json`` when ``--tag MACHINE`` is given.
A recipe too long for the machine (the book's 20 or 30 epochs on a CPU) runs shortened with
``--epochs N``: the file then says ``"shortened": {"epochs": N, "recipe_epochs": M}`` and the
tables label the row with it.
The tables of README.md and docs/results.md are written from these files
(``tools/results_tables.py``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import threading
from pathlib import Path

from keras_transformer import recipes
from keras_transformer.training.files import write_json

SCHEMA = 1


class LoadSampler:
    """The 1-minute load average, read every ``every`` seconds in a thread: what else the machine did."""

    def __init__(self, every=30.0):
        self.every, self.samples = every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            if hasattr(os, "getloadavg"):
                self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        if not self.samples:
            return None
        return {"mean": round(sum(self.samples) / len(self.samples), 2), "max": round(max(self.samples), 2),
                "samples": len(self.samples)}


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus():
    """Accelerators the backend sees, by name (empty on a CPU machine)."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
                    for d in tf.config.list_physical_devices("GPU")]
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a machine that cannot say
        return []
    return []


def versions():
    """Installed versions, read from the packages' metadata (importing JAX or PyTorch to ask would take seconds)."""
    from importlib import metadata

    found = {"python": platform.python_version()}
    for key, distribution in (("keras", "keras"), ("tensorflow", "tensorflow"), ("keras_hub", "keras-hub"),
                              ("jax", "jax"), ("torch", "torch"), ("numpy", "numpy"), ("sacrebleu", "sacrebleu")):
        try:
            found[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return found


def commit():
    """The checkout's commit, with ``+changes`` when files differ from it; None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        if head.returncode:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "keras_transformer", "keras_transformer_cli", "chapters").stdout
        return head.stdout.strip() + ("+changes" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def measures(chapter, results):
    """The published measures of a run's ``results.json``, each an exact count over its split."""
    if chapter == "imdb":
        return {"validation_accuracy": results["validation"]["accuracy"], "test_accuracy": results["test"]["accuracy"],
                "validation_reviews": results["validation"]["reviews"], "test_reviews": results["test"]["reviews"]}
    test = results["test"]
    return {
        "validation_a": results["validation"]["accuracy_keras"], "validation_pairs": results["validation"]["pairs"],
        "test_a": test["accuracy_keras"], "test_b": test["accuracy_tokens"], "test_pairs": test["pairs"],
        "bleu_prepared": test["bleu"], "chrf_prepared": test["chrf"], "bleu_raw": test["bleu_raw"],
        "chrf_raw": test["chrf_raw"], "bleu_raw_unseen": test.get("bleu_raw_unseen"),
        "chrf_raw_unseen": test.get("chrf_raw_unseen"), "unseen_pairs": test.get("unseen_pairs"),
        "unk_share": test["unk_rate"], "bleu_chrf_pairs": test["bleu_chrf_pairs"], "decoding": test["decoding"],
        "bleu_signature": test["bleu_signature"], "chrf_signature": test["chrf_signature"],
    }


def time_to_book(results):
    """Training seconds until the clock's sample first reached the book's figure (None: not reached or no clock)."""
    reached = (results.get("clock") or {}).get("reached")
    return None if not reached else {"train_seconds": reached["train_seconds"], "step": reached["step"],
                                     "sample_accuracy": reached["accuracy"],
                                     "target": results["clock"]["target"]}


def reproduce(name, data_dir=None, output_dir=None, results_dir="results", tag=None, command=None, epochs=None):
    """Train and score recipe ``name`` (e.g. ``"translation-fast"``); write and return its results file's dict.

    ``epochs``: train that many epochs instead of the recipe's, a shortened run the file
    labels as such (``None``: the recipe's own).
    """
    chapter, short = recipes.split_name(name)
    settings = recipes.settings(chapter, short)
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}")
    recipe_epochs = settings["epochs"]
    if epochs is not None:
        settings["epochs"] = epochs
    output_dir = Path(output_dir or Path("output") / "reproduce" / name)
    settings.update(data_dir=data_dir, output_dir=str(output_dir))
    if chapter == "imdb":
        from keras_transformer.classification.run import train_and_evaluate
    else:
        from keras_transformer.translation.run import train_and_evaluate
    command = command or shlex.join(["keras-transformer", "reproduce", name] + (["--data-dir", str(data_dir)] if data_dir else [])
                                    + (["--epochs", str(epochs)] if epochs is not None else []))
    with LoadSampler() as load:
        results = train_and_evaluate(settings, command)
    import keras

    recipe_epochs = results["book"]["epochs"] if recipe_epochs is None else recipe_epochs
    shortened = None if epochs is None or epochs >= recipe_epochs else {"epochs": epochs, "recipe_epochs": recipe_epochs}
    record = {
        "schema": SCHEMA,
        "recipe": name,
        "chapter": chapter,
        "model": results["model"],
        "about": recipes.ABOUT.get(name, ""),
        "shortened": shortened,
        "settings": {key: value for key, value in results["settings"].items() if key not in ("data_dir", "output_dir")},
        "book": {"measure": recipes.BOOK_FIGURES[chapter]["measure"],
                 "figure": recipes.BOOK_FIGURES[chapter].get(results["model"]), **results["book"]},
        "measures": measures(chapter, results),
        "training": {**results["training"], "time_to_book": time_to_book(results)},
        "samples": results.get("samples", [])[:5],
        "machine": {**results["machine"], "cpu": cpu_model(), "cores": os.cpu_count(), "gpus": gpus(),
                    "backend": keras.backend.backend(), "load_average": load.summary()},
        "commit": commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "resumed": results["resumed"],
        "command": command,
    }
    path = Path(results_dir) / (f"{name}@{tag}.json" if tag else f"{name}.json")
    write_json(path, record)
    print(f"{name}: wrote {path}")
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_transformer_cli.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", choices=recipes.names(), metavar="RECIPE", help=", ".join(recipes.names()))
    parser.add_argument("--data-dir", help="local copy of the recipe's dataset (archive or folder)")
    parser.add_argument("--output-dir", help="the run's folder (default: output/reproduce/RECIPE)")
    parser.add_argument("--results-dir", default="results", help="where RECIPE.json goes (default: results)")
    parser.add_argument("--tag", help="machine name for the file name, e.g. h200 (RECIPE@h200.json)")
    parser.add_argument("--epochs", type=int, metavar="N",
                        help="a shortened run: N epochs instead of the recipe's, labelled so in the file and tables")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    command = shlex.join(["python", "-m", "keras_transformer_cli.reproduce", *(sys.argv[1:] if argv is None else argv)])
    reproduce(args.recipe, args.data_dir, args.output_dir, args.results_dir, args.tag, command, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
