"""Where a batched greedy decode spends its time, by TensorFlow operation.

Decodes one batch of real test sentences (the batch `decode_by_length` would
form: sorted by source length, cut to its longest source rounded up to 4)
under TensorFlow's profiler and prints the time of each operation type and of
the costliest operations, per decode. TensorFlow only.

    python benchmarks/profile_decode.py --arrays output/accel/arrays.npz --weights output/accel/cpu
"""

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decode import load_model  # noqa: E402  (same folder)
from keras_transformer import decoding  # noqa: E402
from keras_transformer.decoding import Decoder  # noqa: E402


def op_stats(logdir):
    """Rows of the profiler's framework-op table (one per operation)."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    planes = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    data, _ = plugin.xspace_to_tools_data(planes, "framework_op_stats", {})
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    return [{k: cell.get("v") for k, cell in zip(columns, row["c"])} for row in table["rows"]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arrays", required=True, help="arrays.npz from ch11_translation_accelerator.py prepare")
    parser.add_argument("--weights", required=True, help="weights from ch11_translation_accelerator.py train")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=0, help="which by-length batch of the first --sentences")
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2, help="profiled decodes (times are per decode)")
    parser.add_argument("--top", type=int, default=25, help="costliest operations listed")
    parser.add_argument("--encode-groups", type=int, default=None,
                        help="override decoding.ENCODE_GROUPS (1: encode the batch whole)")
    args = parser.parse_args(argv)
    args.translator = None
    if args.encode_groups is not None:
        decoding.ENCODE_GROUPS = args.encode_groups

    import tensorflow as tf

    data = np.load(args.arrays)
    source = data["test_source"][: args.sentences].astype("int32")
    lengths = np.sum(source != 0, axis=1)
    rows = np.argsort(lengths, kind="stable")[args.batch * args.batch_size : (args.batch + 1) * args.batch_size]
    width = min(-(-int(lengths[rows].max()) // 4) * 4, source.shape[1])
    batch = tf.constant(source[rows, :width])
    decoder = Decoder(load_model(args), int(data["start_id"]), int(data["end_id"]), source.shape[1])
    for _ in range(2):
        np.asarray(decoder.greedy(batch))  # compile and warm up
    start = time.perf_counter()
    np.asarray(decoder.greedy(batch))
    print(f"batch of {len(rows)} sentences, width {width}: {(time.perf_counter() - start) * 1e3:.1f} ms a decode")
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(args.repeats):
            np.asarray(decoder.greedy(batch))
        tf.profiler.experimental.stop()
        stats = op_stats(logdir)
    by_type = collections.Counter()
    for row in stats:
        if row["type"] != "IDLE":
            by_type[row["type"]] += row["total_self_time"] / args.repeats / 1e3
    print(f"busy time over both cores: {sum(by_type.values()):.1f} ms a decode")
    # Operations outside the step loop: the encoder, the cross-attention keys and values.
    outside = sum(r["total_self_time"] for r in stats if r["type"] != "IDLE" and "while/" not in r["operation"])
    print(f"of which outside the step loop (encoder, cross-attention keys/values): "
          f"{outside / args.repeats / 1e3:.1f} ms")
    print("\n| operation type | ms a decode |\n| --- | ---: |")
    for name, ms in by_type.most_common(15):
        print(f"| {name} | {ms:.1f} |")
    print("\n| operation | calls a decode | ms a decode |\n| --- | ---: | ---: |")
    busiest = sorted((r for r in stats if r["type"] != "IDLE"), key=lambda r: -r["total_self_time"])
    for row in busiest[: args.top]:
        print(f"| {row['operation']} | {row['occurrences'] / args.repeats:.0f} "
              f"| {row['total_self_time'] / args.repeats / 1e3:.1f} |")


if __name__ == "__main__":
    main()
