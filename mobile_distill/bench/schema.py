"""The bench results file (``bench.json``), schema version 1.

One schema for every place a model is measured: this machine, a Mac running the Core ML
artifacts, or a phone running the Android demo. Readers check ``kind`` and
``schema_version``; a new field is added with a default (minor change, same version), a change
of meaning bumps the version.

    BenchReport
      kind ("mobile-distill-bench"), schema_version, created_at
      device        where it ran (system, machine, processor, cpu_count, cpu: model, vector and int8
                    dot-product features, python, runtime and tool versions)
      data          what it ran on (source, split, rows, labels, label_mapping when the data's labels
                    were logit indices)
      settings      threads, runs, warmup, rounds, min_duration_s, release_timing, reference sequence length
      thresholds    the gate 2 thresholds used (per precision) and the chained-budget floor
      chain         teacher -> student (gate 1) -> artifacts: accuracies and retentions
      models[]      one entry per model: the teacher, the reference (PyTorch student), each artifact
        role, name, target, precision, path, sequence_length, size_bytes
        status      "ran" | "not-run" (note says why, e.g. needs macOS) | "contract-failed"
        contract[]  interface checks of the file itself (name, ok, detail)
        accuracy    accuracy, macro_f1, agreement with reference and teacher, |logit diff|, KL
        performance load and first-inference seconds; peak and baseline RSS of the measuring process and the
                    model's memory (peak - baseline), the runtime settings and what the process imported; latency
                    per thread count: medians over rounds, the rounds' own p50s and their spread
        verdict     PASS | FAIL | NOT RUN | REFERENCE, with the reasons
        diagnosis   what `diagnose` found when the artifact failed
        model_sha256 the model file's hash; device, runtime, predictions, logits on device entries
      baseline      comparison with an earlier bench.json, when one was given
      devices       phone results merged in (mobile_distill.device): each artifact run on a device is
                    a model entry of its own, named "<artifact> @ <device>", judged by gate 2
      warnings      what makes the verdict less certain than it looks (e.g. a test split too small
                    for a threshold to be resolved: one borderline row decides it; a model whose timing
                    rounds disagree by more than the limit)
      notes         how to read the numbers (e.g. int8 no faster than fp32 on a CPU without VNNI)
      verdict       PASS when no artifact failed, or each failed one has a passing <name>-fallback
                    (NOT RUN is not a failure, and never a PASS)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "mobile-distill-bench"
SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Latency(_Model):
    """Batch-1 latency at one thread count (single stream). On this machine: over ``rounds`` rounds, each a fresh
    process that ran ``warmup`` untimed runs and then timed runs until at least the plan's runs and
    ``min_duration_s`` were done; p50, p90 and p99 are the medians over rounds of each round's figure. A phone's
    entry (the Android demo) is one round of ``runs`` runs."""

    threads: int
    runs: int  # timed runs, every round together
    warmup: int  # per round
    p50_ms: float
    p90_ms: float  # the MLPerf Mobile single-stream figure
    p99_ms: float
    mean_ms: float
    std_ms: float
    samples_ms: list[float]  # every round's runs (at most 1000 per round, evenly spaced), for the plots
    rounds: int = 1
    min_duration_s: float = 0.0
    round_p50_ms: list[float] = []
    round_p90_ms: list[float] = []
    round_runs: list[int] = []  # timed runs in each round
    round_seconds: list[float] = []  # how long each round's timed runs took (at least min_duration_s)
    cv: float | None = None  # coefficient of variation (std / mean) of every timed run
    round_spread: float | None = None  # max / min - 1 of the rounds' p50s: how far the rounds disagree

    @property
    def tail(self) -> float | None:
        """p90 / p50: how much slower the slow runs are (1.0: every run alike)."""
        return self.p90_ms / self.p50_ms if self.p50_ms > 0 else None


class Performance(_Model):
    load_seconds: float  # runtime session / interpreter creation from the file (median over rounds)
    cold_seconds: float  # the first inference after loading
    peak_rss_mb: float  # peak resident memory (VmHWM) of the measuring process (its own process per model)
    baseline_rss_mb: float  # the same process with its runtime imported, before the model was opened
    # peak - baseline: what opening and running the model added (the round where it added most); None on entries
    # written before it was recorded (a phone's: see `memory_mb`)
    model_memory_mb: float | None = None
    runtime_settings: str | None = None  # how the runtime opened the file (the target's timing.py), in words
    # top-level packages the measuring process had imported: what its baseline holds (an artifact's: numpy and
    # its runtime; the PyTorch models': torch and transformers)
    process_packages: list[str] = []
    rounds: int = 1
    latency: list[Latency]
    warnings: list[str] = []  # e.g. rounds whose p50s disagree by more than the bench's limit

    @property
    def memory_mb(self) -> float:
        """The model's own memory: recorded, or (a phone's entry) its peak less the baseline it reported."""
        return self.model_memory_mb if self.model_memory_mb is not None else self.peak_rss_mb - self.baseline_rss_mb


class Scores(_Model):
    """How a model's outputs on the test split score: accuracy and macro-F1 against the labels; agreement,
    logit difference and KL against the reference (and the teacher; an emulated entry also against the x86
    run of the same file)."""

    rows: int
    accuracy: float
    macro_f1: float
    agreement_reference: float | None = None
    agreement_teacher: float | None = None
    max_abs_logit_diff: float | None = None
    mean_abs_logit_diff: float | None = None
    mean_kl: float | None = None  # KL(reference softmax || model softmax), mean over rows
    agreement_host: float | None = None  # an emulated device entry: with the x86 run of the same file, same ids
    max_abs_logit_diff_host: float | None = None


class ContractCheck(_Model):
    name: str
    ok: bool
    detail: str


class Verdict(_Model):
    status: Literal["PASS", "FAIL", "NOT RUN", "REFERENCE"]
    reasons: list[str] = []


class ModelEntry(_Model):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    role: Literal["teacher", "reference", "variant", "artifact"]  # variant: another student of the run (QAT)
    name: str
    target: str  # "torch" for the teacher and the reference
    precision: str
    path: str
    sequence_length: int
    size_bytes: int
    status: Literal["ran", "not-run", "contract-failed"] = "ran"
    note: str | None = None
    contract: list[ContractCheck] = []
    # "accuracy" in bench.json (schema version 1, which the Android app writes too); `scores` in Python,
    # where entry.accuracy.accuracy read as if it held only an accuracy
    scores: Scores | None = Field(None, alias="accuracy")
    performance: Performance | None = None
    verdict: Verdict | None = None
    teacher_retention: float | None = None  # accuracy / teacher accuracy: the chained budget
    diagnosis: dict | None = None
    fallback: dict | None = None  # --auto-fallback: the ranking, every attempt, the nodes kept float
    replaces: str | None = None  # set on a fallback artifact: the failed artifact it stands in for
    reference: str | None = None  # the variant entry it is judged against (a QAT artifact: its QAT student)
    model_sha256: str | None = None  # of the model file that ran: ties a phone's results to the benched file
    device: str | None = None  # set on an entry measured on a device (a phone), e.g. "Google Pixel 7 (Android 14)"
    runtime: dict | None = None  # a device entry's runtime: name, version, threads, delegate
    predictions: list[int] | None = None  # a device entry's predicted class per sample row (-1: non-finite logits)
    logits: list[list[float | None]] | None = None  # as the device computed them (null: NaN or inf)


class BenchReport(_Model):
    kind: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    created_at: str
    device: dict
    data: dict
    settings: dict
    thresholds: dict
    chain: dict = {}
    models: list[ModelEntry]
    baseline: dict | None = None
    devices: list[dict] = []  # device results merged in (`--device-results`): file, device, sample, when
    warnings: list[str] = []
    notes: list[str] = []  # how to read the numbers (e.g. int8 not faster than fp32 on this CPU, and why)
    verdict: Literal["PASS", "FAIL"] = "PASS"

    def artifacts(self) -> list[ModelEntry]:
        return [model for model in self.models if model.role == "artifact"]

    def entry(self, role: str) -> ModelEntry | None:
        return next((model for model in self.models if model.role == role), None)

    def host_artifacts(self) -> list[ModelEntry]:
        """Artifacts measured on the bench machine (not on a device) on the full test split."""
        return [model for model in self.artifacts() if model.device is None]
