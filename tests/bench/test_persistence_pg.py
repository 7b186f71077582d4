"""The PostgreSQL part of the persistence benchmark runs end to end at a tiny size: a durable
private cluster, the store at two concurrency levels, the three baselines on the very rows the
store wrote (each checks it stored every one). No speed is asserted."""

from __future__ import annotations

from bench._persistence_pg import Sizes, run_postgres


def test_the_postgresql_persistence_benchmark_reports_every_figure() -> None:
    result = run_postgres(Sizes(levels=((4, 5), (20, 3)), runs=2, per_message_rows=25))
    assert [(r["producers"], r["events"]) for r in result["per_size"]] == [(4, 20), (20, 60)]
    assert result["events"] == 60 and result["producers"] == 20
    baseline = result["baseline"]
    assert baseline["executemany"]["events"] == baseline["copy"]["events"] == 60
    assert baseline["per_message"]["events"] == 25
    for key in ("ratio_to_executemany", "ratio_to_copy", "gain_over_per_message"):
        assert result[key] > 0
    assert 1 <= result["batch_mean"] <= 20  # 20 producers: never more than one append each
    assert [len(v) for v in result["every_run"].values()] == [2, 2, 2]
