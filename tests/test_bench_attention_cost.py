"""benchmarks/bench_attention_cost.py: its cost formulas, and one tiny timed run."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_attention_cost as bench  # noqa: E402

SIZES = dict(batch=8, embed_dim=256, num_heads=4, dense_dim=1024)  # the benchmark's defaults


def encoder_total(length, **sizes):
    return bench.encoder_flops(length=length, **{**SIZES, **sizes})["total"]


def test_attention_term_quadruples_and_the_rest_doubles():
    for length in (16, 256, 1024):
        small, large = (bench.encoder_flops(length=t, **SIZES) for t in (length, 2 * length))
        assert large["scores_and_weighted_sum"] == 4 * small["scores_and_weighted_sum"]
        assert large["projections"] == 2 * small["projections"]
        assert large["feed_forward"] == 2 * small["feed_forward"]


def test_encoder_total_goes_from_linear_to_quadratic():
    ratios = [encoder_total(2 * t) / encoder_total(t) for t in (16, 1024, 2**14, 2**20)]
    assert ratios == sorted(ratios)
    assert 2 < ratios[0] < 2.1 and 3.9 < ratios[-1] < 4
    # The T^2 term equals the rest at T = 2*D + F (here 1536), for a width of D.
    crossover = 2 * SIZES["embed_dim"] + SIZES["dense_dim"]
    terms = bench.encoder_flops(length=crossover, **SIZES)
    assert terms["scores_and_weighted_sum"] == terms["projections"] + terms["feed_forward"]


def test_gru_is_linear_in_length():
    for length in (16, 256, 1024):
        assert bench.gru_flops(8, 2 * length, 256, 256)["total"] == 2 * bench.gru_flops(8, length, 256, 256)["total"]
        assert bench.gru_memory(8, 2 * length, 256, 256)["activations_bytes"] == 2 * bench.gru_memory(8, length, 256, 256)["activations_bytes"]
    assert bench.gru_flops(8, 1024, 256, 256)["total"] == 6 * 8 * 1024 * 256 * (256 + 256)


def test_the_numbers_at_the_benchmark_sizes():
    assert encoder_total(1024) == 8 * 8 * 1024 * 256**2 + 4 * 8 * 1024**2 * 256 + 4 * 8 * 1024 * 256 * 1024
    assert bench.training_flops(10) == 30
    memory = bench.encoder_memory(length=1024, **SIZES)
    assert memory["attention_weights_bytes"] == 4 * 8 * 4 * 1024**2 == 128 * 2**20
    small, large = (bench.encoder_memory(length=t, **SIZES)["attention_weights_bytes"] for t in (512, 1024))
    assert large == 4 * small


def test_linear_flops_match_the_layers_weights():
    """2 FLOPs per kernel weight per position: the formulas' linear terms, counted from the real layers."""
    keras = pytest.importorskip("keras")
    batch, length, embed_dim, heads, dense_dim = 2, 5, 16, 2, 24
    counts = {}
    for name in bench.LAYERS:
        layer = bench.make_layer(name, embed_dim, heads, dense_dim)
        layer(keras.ops.zeros((batch, length, embed_dim)))
        counts[name] = sum(int(w.numpy().size) for w in layer.weights if "kernel" in w.name)  # not biases, norms
    encoder = bench.encoder_flops(batch, length, embed_dim, heads, dense_dim)
    assert encoder["projections"] + encoder["feed_forward"] == 2 * batch * length * counts["encoder"]
    assert bench.gru_flops(batch, length, embed_dim, embed_dim)["total"] == 2 * batch * length * counts["gru"]


def test_a_tiny_run_times_both_layers(tmp_path):
    pytest.importorskip("tensorflow")
    rows = bench.run_benchmark(
        lengths=[8], batch_size=2, embed_dim=8, num_heads=2, dense_dim=8, repeats=1, min_repeats=1, warmup=1,
        compiles=("graph",),  # XLA compiles for seconds; the benchmark itself times both
    )
    assert [(r["layer"], r["length"]) for r in rows] == [("encoder", 8), ("gru", 8)]
    for row in rows:
        assert row["forward_ms"] > 0 and row["train_ms"] > 0 and row["train_compile"] == "graph"
        assert len(row["train_ms_all"]["graph"]) == 1
        assert row["train_flops"] == 3 * row["forward_flops"]
    table = bench.markdown_table(rows).splitlines()
    assert len(table) == 2 + 1 and table[2].startswith("| 8 |")
    bench.plot(rows, tmp_path / "cost.png", "tiny")
    assert (tmp_path / "cost.png").stat().st_size > 1000


def test_help_describes_the_outputs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--tiny" in out and "--json" in out and "--plot" in out
