"""Validated bias bands: the largest absolute bias each method showed on the "Beyond Normal" tasks
(:data:`~.benchmark_tasks.BENCHMARK_TASKS`, n = 5000, mean over 3 seeds per task) of a dimension
bucket, and on the label tasks for the label methods. Written by ``benchmarks/bench_mi.py --bands``
(the table in ``docs/benchmarks/information.md`` is the same run).

:func:`bias_band` returns the band of the bucket holding dx + dy (the largest bucket beyond it). The
bands were measured at n = 5000: at smaller n kNN and neural biases are larger and the band understates
them (the note says so).
"""
from __future__ import annotations

#: method -> ((largest dx + dy of the bucket, band in nats), ...), buckets ascending. Measured
#: 2026-11-29 (``bench_mi.py --bands`` over the run of docs/benchmarks/information.md); "hybrid" is the
#: route ``auto`` takes beyond 1 + 1 dimensions, "ksg" the route for 1 + 1.
BIAS_BANDS: dict[str, tuple[tuple[int, float], ...]] = {
    "classifier": ((2, 0.007), (4, 0.005), (50, 0.091)),
    "gaussian_copula": ((2, 0.449), (4, 0.431), (6, 0.764), (10, 0.651), (50, 0.210), (100, 0.006)),
    "hybrid": ((4, 0.015), (6, 0.185), (10, 0.179), (50, 0.210), (100, 0.006)),
    "ksg": ((2, 0.044), (4, 0.039), (6, 0.329), (10, 0.483), (50, 0.859), (100, 0.352)),
    "mixed_ksg": ((2, 0.003), (4, 0.014), (50, 0.726)),
}
#: n at which the bands were measured
BANDS_N = 5000


def bias_band(method: str, dx: int, dy: int) -> tuple[float, str]:
    """(band, note) for ``method`` on dx + dy dimensions; (0.0, "...not validated...") if none measured."""
    table = BIAS_BANDS.get(method)
    if not table:
        return 0.0, f"bias band: none measured for {method!r} (uncertainty is the sampling part only)"
    d = dx + dy
    for top, band in table:
        if d <= top:
            return band, (f"bias band {band:.3f} nats: worst |bias| of {method} on the benchmark tasks with "
                          f"dx + dy <= {top} at n = {BANDS_N}")
    top, band = table[-1]
    return band, (f"bias band {band:.3f} nats from the widest benchmark bucket (dx + dy <= {top}, n = {BANDS_N}); "
                  f"{d} dimensions are beyond it")
