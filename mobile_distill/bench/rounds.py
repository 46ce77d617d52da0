"""A model's rounds of timing combined into its figures.

Each round is a fresh process (bench/timing_process.py). Per thread count the model's p50 and p90 are the
medians over rounds of each round's p50 and p90: one round slowed by other work on the machine moves them
little. The spread is reported two ways: p90 / p50 (the tail of single runs) and the coefficient of variation
of every timed run; and the rounds' own agreement, max / min - 1 of their p50s, which, over the plan's limit
(10% by default), puts a warning on the model: its latency was not steady enough to compare closely.
"""

from __future__ import annotations

import numpy as np

from .schema import Latency, Performance


def merge_rounds(rounds: list[dict], plan) -> Performance:
    """One `Performance` from the timing processes' outputs for one model (``plan``: a `measure.TimingPlan`)."""
    latencies = [_latency([result["threads"][i] for result in rounds], plan) for i in range(len(plan.threads))]
    heaviest = max(rounds, key=model_memory)  # memory: the round whose model took the most
    return Performance(
        load_seconds=round(_median(result["threads"][0]["load_seconds"] for result in rounds), 4),
        cold_seconds=round(_median(result["threads"][0]["cold_seconds"] for result in rounds), 4),
        peak_rss_mb=round(heaviest["peak_rss_mb"], 1), baseline_rss_mb=round(heaviest["baseline_rss_mb"], 1),
        model_memory_mb=round(model_memory(heaviest), 1), runtime_settings=heaviest["settings"],
        process_packages=heaviest["packages"], rounds=len(rounds), latency=latencies,
        warnings=unsteady(latencies, plan.max_round_spread))


def model_memory(result: dict) -> float:
    """What opening and running the model added to its process: the peak less the baseline read after the
    runtime was imported and before the model was opened."""
    return result["peak_rss_mb"] - result["baseline_rss_mb"]


def _latency(per_round: list[dict], plan) -> Latency:
    pooled = np.concatenate([np.asarray(result["all_samples_ms"]) for result in per_round])
    percentiles = [np.percentile(result["all_samples_ms"], [50, 90, 99]) for result in per_round]
    p50s = [float(p[0]) for p in percentiles]
    return Latency(
        threads=per_round[0]["threads"], runs=int(pooled.size), warmup=plan.warmup,
        p50_ms=_median(p50s), p90_ms=_median(float(p[1]) for p in percentiles),
        p99_ms=_median(float(p[2]) for p in percentiles), mean_ms=float(pooled.mean()), std_ms=float(pooled.std()),
        samples_ms=[value for result in per_round for value in result["samples_ms"]],
        rounds=len(per_round), min_duration_s=plan.min_duration_s,
        round_p50_ms=[round(value, 4) for value in p50s],
        round_p90_ms=[round(float(p[1]), 4) for p in percentiles],
        round_runs=[len(result["all_samples_ms"]) for result in per_round],
        round_seconds=[round(result["seconds"], 3) for result in per_round],
        cv=float(pooled.std() / pooled.mean()) if pooled.mean() > 0 else None,
        round_spread=max(p50s) / min(p50s) - 1 if min(p50s) > 0 else None)


def unsteady(latencies: list[Latency], limit: float) -> list[str]:
    """One warning naming each thread count whose rounds' p50s differ by more than ``limit`` (max / min - 1)."""
    apart = [latency for latency in latencies if latency.round_spread is not None and latency.round_spread > limit]
    if not apart:
        return []
    where = "; ".join(f"at {latency.threads} thread(s) {min(latency.round_p50_ms):.2f} to {max(latency.round_p50_ms):.2f} "
                      f"ms (+{latency.round_spread:.0%})" for latency in apart)
    return [f"the p50s of its {apart[0].rounds} timing rounds differ by over {limit:.0%}: {where}; the machine was not "
            "steady while it ran (other work on it, clocks), so its latency and any comparison with it are uncertain; "
            "bench again on a quiet machine"]


def _median(values) -> float:
    return float(np.median(list(values)))
