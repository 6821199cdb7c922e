"""Time to the book's accuracy: the book's pipeline and a recipe of this package, in one process.

For one chapter model, this runs the chapter script twice on the real data:

1. the book's pipeline for one epoch; its time to the book's accuracy is that
   epoch's training time times the epochs the book trains to report it (30 for
   translation's 67% validation (a), 20 for IMDB's 88.3% test), as the book gives
   no earlier figure;
2. the recipe, with an :class:`~keras_transformer.training.clock.AccuracyClock`
   scoring a fixed held-out sample (2,000 validation pairs; for IMDB with
   ``--validation-split 0``, the first 2,000 test reviews) every ``--every`` steps:
   the training time (the clock's own scoring left out) and the wall time at
   which it first reaches the target, and the final test accuracy of the run's
   kept checkpoint.

It also measures a 2048 x 2048 matrix product in the recipe's precision, in the
same process, and reports the recipe's training model-FLOP utilisation (MFU)
against it. One JSON line per run and a Markdown table at the end::

    python benchmarks/time_to_accuracy.py translation --data-dir ../shared/datasets/spa-eng.zip
    python benchmarks/time_to_accuracy.py imdb --data-dir ../shared/datasets/aclImdb_labeled.tar.gz

``--skip-book`` runs the recipes only; ``--recipe NAME`` (a recipe of
``keras_transformer.recipes``, default ``fast``) given several times runs each in
turn, in the same process, one row each. Under ``KERAS_BACKEND=jax`` the same
command gives the JAX rows.
"""

import argparse
import json
import tempfile
from pathlib import Path

from keras_transformer import recipes

# The book's pipeline: its settings, with every example padded to the full length as the book does.
CHAPTERS = {
    "translation": {"target": 0.67, "book_epochs": 30, "book": {"full_padding": True, "eval_limit": 100, "samples": 0},
                    "recipe": {"eval_limit": 100, "samples": 0}, "every": 160},
    "imdb": {"target": 0.883, "book_epochs": 20, "book": {"full_padding": True}, "recipe": {}, "every": 80},
}


def run_chapter(chapter, recipe, output_dir, data_dir, **overrides):
    if chapter == "imdb":
        from keras_transformer.classification.run import train_and_evaluate
    else:
        from keras_transformer.translation.run import train_and_evaluate
    settings = recipes.settings(chapter, recipe, **overrides)
    settings.update(data_dir=data_dir, output_dir=str(output_dir))
    return train_and_evaluate(settings)


def test_accuracy(chapter, results):
    test = results["test"]
    return test["accuracy"] if chapter == "imdb" else test["accuracy_keras"]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Time to the book's accuracy, the book's pipeline beside a recipe.")
    parser.add_argument("chapter", choices=sorted(CHAPTERS))
    parser.add_argument("--data-dir", default=None, help="the chapter's archive or folder (default: download)")
    parser.add_argument("--recipe", action="append", default=None, metavar="NAME",
                        help="a recipe of the chapter (keras_transformer.recipes); repeat it to run several in the "
                        "same process (default: fast)")
    parser.add_argument("--every", type=int, default=None, help="training steps between two clock readings")
    parser.add_argument("--target", type=float, default=None, help="accuracy to reach (default: the book's)")
    parser.add_argument("--skip-book", action="store_true", help="run the recipe only")
    parser.add_argument("--output-dir", default=None, help="where the runs' folders go (default: a temporary folder)")
    args = parser.parse_args(argv)
    import keras

    from keras_transformer.training.clock import matmul_flops_per_second

    spec = CHAPTERS[args.chapter]
    target = spec["target"] if args.target is None else args.target
    root = Path(args.output_dir or tempfile.mkdtemp(prefix="time_to_accuracy_"))
    rows = []
    if not args.skip_book:
        book = run_chapter(args.chapter, "book", root / "book", args.data_dir, epochs=1, clock_every=0, **spec["book"])
        epoch = book["training"]["train_seconds"]
        rows.append({"pipeline": "book", "backend": keras.backend.backend(), "epoch_seconds": epoch,
                     "time_to_target_s": epoch * spec["book_epochs"],
                     "how": f"one epoch x the book's {spec['book_epochs']} epochs", "test_accuracy_after_1_epoch":
                     test_accuracy(args.chapter, book)})
        print(json.dumps(rows[-1]), flush=True)
    every = args.every or spec["every"]
    clocks = []
    for number, recipe in enumerate(args.recipe or ["fast"]):
        results = run_chapter(args.chapter, recipe, root / f"recipe{number}-{recipe}", args.data_dir, clock_every=every,
                              clock_target=target, **spec["recipe"])
        clock = results["clock"]
        precision = "bfloat16" if results["settings"]["precision"] == "mixed_bfloat16" else "float32"
        peak = matmul_flops_per_second(2048, precision)
        last = clock["points"][-1]
        reached = clock["reached"]
        rows.append({
            "pipeline": "recipe", "backend": keras.backend.backend(), "recipe": recipe,
            "target": target, "reached": reached is not None,
            "train_seconds_to_target": reached and reached["train_seconds"],
            "seconds_to_target_with_scoring": reached and reached["seconds"],
            "best_sample_accuracy": max(p["accuracy"] for p in clock["points"]),
            "test_accuracy": test_accuracy(args.chapter, results),
            "train_seconds": results["training"]["train_seconds"],
            "matmul_flops_per_second": peak, "precision": precision,
            "mfu": last.get("model_flops_per_second", 0.0) / peak,
        })
        clocks.append(clock)
        print(json.dumps(rows[-1]), flush=True)
    (root / "time_to_accuracy.json").write_text(json.dumps({"chapter": args.chapter, "rows": rows,
                                                            "clocks": clocks}, indent=1))
    print(f"\n| {args.chapter} | backend | time to {target:.1%} | how | test accuracy | MFU |\n|---|---|---|---|---|---|")
    for row in rows:
        if row["pipeline"] == "book":
            print(f"| book's pipeline | {row['backend']} | {row['time_to_target_s'] / 60:.1f} min | {row['how']} "
                  f"| {row['test_accuracy_after_1_epoch']:.2%} after 1 epoch | |")
        else:
            when = (f"{row['train_seconds_to_target'] / 60:.1f} min training "
                    f"({row['seconds_to_target_with_scoring'] / 60:.1f} with scoring)") if row["reached"] else \
                f"not reached (best {row['best_sample_accuracy']:.2%})"
            print(f"| `{row['recipe']}` | {row['backend']} | {when} | clock every {every} steps, "
                  f"{row['train_seconds'] / 60:.1f} min in all | {row['test_accuracy']:.2%} "
                  f"| {row['mfu']:.1%} of {row['matmul_flops_per_second'] / 1e9:.0f} GFLOP/s ({row['precision']}) |")
    print(f"(runs in {root})")
    return rows


if __name__ == "__main__":
    main()
