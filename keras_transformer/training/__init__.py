"""Training, as both halves of the chapter do it: one run, its files, its optimizers, its devices, its clock.

- ``training.run``: :class:`TrainingRun` (``fit`` with resume, the best checkpoint, the
  whole history), :class:`EpochCounter` (each epoch's order from (seed, epoch)), seeds.
- ``training.files``: every file written whole or not at all (``replace_atomically``).
- ``training.optimizers``: optimizers and schedules by name, lazy embedding updates.
- ``training.distribute``: precision policies and distribution strategies.
- ``training.clock``: accuracy against training time, and FLOP use.

Nothing here knows a task; the tasks (``classification``, ``translation``) call it.
"""

from keras_transformer.training.run import (
    EpochCounter,
    StopOnNaN,
    Timer,
    TrainingRun,
    command_line,
    count_batches,
    default_output_dir,
    set_seed,
)

__all__ = ["EpochCounter", "StopOnNaN", "Timer", "TrainingRun", "command_line", "count_batches",
           "default_output_dir", "set_seed"]
