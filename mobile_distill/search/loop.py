"""The budget search: candidates trained, exported and benched until the budget is met (see the package docstring)."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

from .. import ui
from ..atomic import write_json
from ..config import (
    BenchConfig,
    DistillConfig,
    ExportOptions,
    Gate2Config,
    SearchConfig,
    StudentConfig,
)
from ..context import RunContext
from ..errors import ConfigError, MobileDistillError
from ..manifest import read_manifest
from ..hashing import folder_hash, settings_hash
from ..students import STUDENT_TYPES
from ..targets import TARGETS, supported_pairs
from .report import write_report
from .space import candidate_name, default_space

__all__ = ["SearchResult", "search"]

ESTIMATE, RESULT = "estimate.json", "result.json"


@dataclass(frozen=True)
class SearchResult:
    chosen: dict | None  # the artifact inside the budget, or None
    report: dict
    paths: dict[str, Path]


class _TimeUp(Exception):
    pass


class _BelowFloor(Exception):
    pass


@dataclass
class _Context:
    teacher: Path
    data: object
    config: SearchConfig
    output: Path
    seed: int
    max_length: int
    seq_len: int
    precisions: list[str]
    deadline: float
    teacher_hash: str
    timing_text: str
    teacher_model: object = None  # loaded once, for building every candidate
    tokenizer: object = None


def search(teacher_path: Path, data, config: SearchConfig, context: RunContext) -> SearchResult:
    """Search ``config``'s candidates for the budget; write search.json, search.md and pareto.png to
    ``context.layout.search``. Candidates that cannot fit are never trained."""
    from ..models import load_tokenizer
    from ..runners import load_runner

    start = time.monotonic()
    budget = config.budget
    state = _context(teacher_path, data, config, context.layout.search, context.seed, context.max_length, start)
    test, validation = data.splits["test"], data.splits["validation"]
    teacher_runner = load_runner(teacher_path, seq_len=state.seq_len)
    state.teacher_model, state.tokenizer = teacher_runner.model, load_tokenizer(Path(teacher_path))
    teacher_accuracy = _accuracy(teacher_runner.predict(list(test["text"])), np.asarray(test["label"]))
    teacher_validation = _accuracy(teacher_runner.predict(list(validation["text"])), np.asarray(validation["label"]))
    floor = teacher_accuracy - budget.max_accuracy_drop / 100
    candidates = list(config.candidates or default_space(state.teacher_model.config))
    records = []
    with ui.stage("search", f"{len(candidates)} candidates for {_budget_text(budget, state.seq_len)}, "
                  f"{config.time_limit_minutes:g} min") as stage:
        with ui.progress("estimating (untrained, in the target's runtime)", len(candidates)) as bar:
            for candidate in candidates:
                name = candidate_name(candidate)
                bar.update(f"estimate {name}")
                records.append({"name": name, "candidate": candidate.model_dump(mode="json", exclude_defaults=True),
                                "estimate": _estimate(state, candidate, name)})
                bar.update(advance=1)
        fitting = sorted((r for r in records if _fitting_precisions(r)), key=lambda r: -r["estimate"]["parameters"])
        for record in fitting:
            candidate = StudentConfig.model_validate(record["candidate"])
            if time.monotonic() > state.deadline:
                record["result"] = {"status": "not-started", "reason": "time limit reached"}
                continue
            floor_validation = teacher_validation - (budget.max_accuracy_drop + config.early_stop_points) / 100
            record["result"] = _train_and_measure(state, candidate, record, floor, floor_validation)
        for record in records:
            record.setdefault("result", {"status": "not-trained", "reason": _why_not_fitting(record)})
        report = {"budget": {**budget.model_dump(mode="json"), "seq_len": state.seq_len},
                  "time_limit_minutes": config.time_limit_minutes, "teacher": str(teacher_path),
                  "teacher_test_accuracy": teacher_accuracy, "teacher_validation_accuracy": teacher_validation,
                  "accuracy_floor": floor, "precisions": state.precisions,
                  "seconds": round(time.monotonic() - start, 1), "candidates": records}
        paths = write_report(report, state.output)
        chosen = report["chosen"]
        stage.summary = (f"chose {chosen['id']}: accuracy {chosen['accuracy']:.4f}, {chosen['latency_ms']:.2f} ms, "
                         f"{chosen['size_mb']:.2f} MB" if chosen else "no artifact met the budget")
    return SearchResult(chosen=chosen, report=report, paths=paths)


def _context(teacher_path, data, config, output, seed, max_length, start) -> _Context:
    budget = config.budget
    target = TARGETS[budget.target]
    if not target.runs_here():
        raise ConfigError(f"search.budget.target: {budget.target} does not run on this machine ("
                          f"{target.why_not_here()}); search times candidates in the target's own runtime",
                          fields=("target",))
    precisions = [p for t, p in supported_pairs() if t == budget.target
                  and (not config.precisions or p in config.precisions)]
    if not precisions:
        raise ConfigError(f"search.precisions: {budget.target} takes none of {list(config.precisions)}",
                          fields=("precisions",))
    if budget.max_latency_ms is None and budget.max_size_mb is None:
        raise ConfigError("search.budget: set max_latency_ms or max_size_mb (or both): a budget with neither "
                          "always picks the teacher-sized student", fields=("max_latency_ms", "max_size_mb"))
    texts = list(data.splits["test"]["text"])
    return _Context(teacher=Path(teacher_path), data=data, config=config, output=output, seed=seed,
                    max_length=max_length, seq_len=budget.seq_len or max_length, precisions=precisions,
                    deadline=start + 60 * config.time_limit_minutes, teacher_hash=folder_hash(Path(teacher_path)),
                    timing_text=sorted(texts, key=len)[len(texts) // 2])


def _budget_text(budget, seq_len: int) -> str:
    limits = [f"<= {budget.max_latency_ms:g} ms" if budget.max_latency_ms else None,
              f"<= {budget.max_size_mb:g} MB" if budget.max_size_mb else None,
              f"<= {budget.max_accuracy_drop:g} points under the teacher"]
    return f"{budget.target} at {budget.threads} thread(s), {seq_len} tokens: " + ", ".join(filter(None, limits))


# --- 1. estimates -------------------------------------------------------------------------------

def _estimate(context: _Context, candidate: StudentConfig, name: str) -> dict:
    budget = context.config.budget
    key = settings_hash(context.teacher_hash, context.data.fingerprint, candidate.model_dump(mode="json"),
                        context.precisions, budget.target, budget.threads, context.seq_len, context.seed,
                        context.config.timing_runs)
    cached = context.output / "estimates" / f"{name}-{key}" / ESTIMATE
    if cached.is_file():
        return json.loads(cached.read_text())
    with tempfile.TemporaryDirectory(prefix="mobile-distill-estimate-") as scratch:
        model_dir, parameters = _untrained_student(context, candidate, Path(scratch))
        precisions = {precision: _time_untrained(context, model_dir, precision, Path(scratch))
                      for precision in context.precisions}
    estimate = {"parameters": parameters, "precisions": precisions}
    for result in precisions.values():
        result["fits"] = _fits(budget, result)
    write_json(cached, estimate)
    return estimate


def _untrained_student(context: _Context, candidate: StudentConfig, scratch: Path) -> tuple[Path, int]:
    """The candidate as distillation would start it (pruned on training batches), saved, and trimmed."""
    from transformers import set_seed

    from ..data import tokenize_split
    from ..distill import prune_student, student_tokenizer
    from ..models import count_parameters, load_classifier, write_labels
    from ..students import build_student
    from ..trim import trim_vocabulary

    set_seed(context.seed)
    tokenizer = context.tokenizer
    student = build_student(context.teacher_model, candidate).model
    if candidate.prune_heads or candidate.prune_ffn:
        train = tokenize_split(context.data.splits["train"], tokenizer, context.max_length).dataset
        prune_student(student, train, tokenizer, context.max_length, candidate.prune_heads, candidate.prune_ffn, rows=64)
    untrained = scratch / "untrained"
    student.save_pretrained(untrained)
    student_tokenizer(tokenizer, student).save_pretrained(untrained)
    write_labels(untrained, context.data.labels)
    if not candidate.trim_vocabulary:
        return untrained, count_parameters(student)
    trimmed = trim_vocabulary(untrained, list(context.data.splits["train"]["text"]), scratch / "trimmed").path
    return trimmed, count_parameters(load_classifier(trimmed))


def _time_untrained(context: _Context, model_dir: Path, precision: str, scratch: Path) -> dict:
    from ..export import export

    texts = list(context.data.splits["train"]["text"])
    try:
        artifact = export(model_dir, context.config.budget.target, precision, scratch / precision,
                          ExportOptions(seq_len=context.seq_len), texts, texts[:8])
        return _timing(context, artifact)
    except MobileDistillError as error:  # this precision cannot be made of this candidate: it does not fit
        return {"error": str(error)}


def _timing(context: _Context, artifact: Path) -> dict:
    from ..bench.measure import measure_performance

    manifest = read_manifest(artifact)
    performance = measure_performance(artifact, context.timing_text, (context.config.budget.threads,),
                                      context.config.timing_runs, 3, context.seq_len)
    return {"latency_ms": performance.latency[0].p50_ms, "size_mb": _size(artifact / manifest.model_file) / 1e6}


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _fits(budget, measured: dict) -> bool:
    if "error" in measured:
        return False
    return ((budget.max_latency_ms is None or measured["latency_ms"] <= budget.max_latency_ms)
            and (budget.max_size_mb is None or measured["size_mb"] <= budget.max_size_mb))


def _fitting_precisions(record: dict) -> list[str]:
    return [precision for precision, measured in record["estimate"]["precisions"].items() if measured["fits"]]


def _why_not_fitting(record: dict) -> str:
    shown = []
    for precision, measured in record["estimate"]["precisions"].items():
        shown.append(f"{precision}: " + (measured["error"] if "error" in measured else
                                         f"{measured['latency_ms']:.2f} ms, {measured['size_mb']:.2f} MB"))
    return "untrained estimate outside the budget (" + "; ".join(shown) + ")"


# --- 2. and 3. training and measuring ----------------------------------------------------------------

def _train_and_measure(context: _Context, candidate: StudentConfig, record: dict, floor: float,
                       floor_validation: float) -> dict:
    config = context.config
    recipe = STUDENT_TYPES[candidate.type]
    textnet = recipe.kind == "textnet"
    if textnet:
        distill_config = DistillConfig(train=config.textnet_train, schedule="joint", augment=config.textnet_augment)
    elif recipe.keeps_teacher_width:  # copied layers: one joint stage, as the recipe trains them
        distill_config = DistillConfig(train=config.transformer_train, schedule="joint")
    else:  # random layers: the layer losses first, then the logits (TinyBERT's two stages; never layer by layer)
        distill_config = DistillConfig(train=config.transformer_train, intermediate=config.narrow_train,
                                       schedule="two-stage")
    key = settings_hash(context.teacher_hash, context.data.fingerprint, candidate.model_dump(mode="json"),
                        distill_config.model_dump(mode="json"), _fitting_precisions(record), context.seed,
                        context.max_length, record["estimate"], floor, floor_validation)  # the early stop decides too
    folder = context.output / "candidates" / f"{record['name']}-{key}"
    if (folder / RESULT).is_file():
        return json.loads((folder / RESULT).read_text())
    try:
        result = _train(context, candidate, distill_config, folder, floor_validation, record["name"])
    except _TimeUp:
        return {"status": "unfinished", "reason": "time limit reached during training; a rerun resumes it"}
    if result is None:
        result = _measure(context, folder, _fitting_precisions(record), floor)
    write_json(folder / RESULT, result)
    return result


def _train(context: _Context, candidate, distill_config, folder: Path, floor_validation: float, name: str):
    """Distil (and trim) the candidate into ``folder/student``; None when trained, else why it stopped."""
    from ..distill import distill
    from ..trim import trim_vocabulary

    callbacks = (_Deadline(context.deadline), _EarlyStop(floor_validation))
    student = folder / ("untrimmed" if candidate.trim_vocabulary else "student")
    trainable = candidate.model_copy(update={"trim_vocabulary": False})
    ui.say(f"training {name}")
    try:
        distill(context.teacher, context.data, distill_config, trainable, student,
                RunContext.at(context.output, seed=context.seed, max_length=context.max_length), callbacks=callbacks)
    except _BelowFloor as stop:
        return {"status": "stopped-early", "reason": str(stop)}
    if candidate.trim_vocabulary:
        trim_vocabulary(student, list(context.data.splits["train"]["text"]), folder / "student")
    return None


def _measure(context: _Context, folder: Path, precisions: list[str], floor: float) -> dict:
    from ..bench import run_bench
    from ..export import artifact_name, export

    budget = context.config.budget
    test, train = context.data.splits["test"], list(context.data.splits["train"]["text"])
    artifacts = []
    for precision in precisions:
        out = folder / "artifacts" / artifact_name(budget.target, precision, context.seq_len)
        if not (out / "manifest.json").is_file():
            export(folder / "student", budget.target, precision, out, ExportOptions(seq_len=context.seq_len), train,
                   list(test["text"]))
        artifacts.append(out)
    # gate 2 judges the export against its student; the accuracy against the teacher is the budget's to judge
    bench = run_bench(artifacts, list(test["text"]), np.asarray(test["label"]), folder / "student", context.teacher,
                      BenchConfig(timing=False, diagnose=False), Gate2Config(min_teacher_retention=None), context.seq_len)
    measured = []
    for entry in bench.artifacts():
        timing = _timing(context, Path(entry.path)) if entry.status == "ran" else {}
        accuracy = entry.scores.accuracy if entry.scores else None
        verdict = entry.verdict.status if entry.verdict else "FAIL"
        row = {"name": entry.name, "path": entry.path, "precision": entry.precision, "accuracy": accuracy,
               "agreement": entry.scores.agreement_reference if entry.scores else None, "gate2": verdict,
               "reasons": entry.verdict.reasons if entry.verdict else [], **timing}
        row["meets_budget"] = bool(verdict == "PASS" and accuracy is not None and accuracy >= floor
                                   and _fits(budget, row))
        measured.append(row)
    reference = bench.entry("reference")
    student_accuracy = reference.scores.accuracy if reference and reference.scores else None
    return {"status": "trained", "student_test_accuracy": student_accuracy, "artifacts": measured}


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    from ..metrics import classification_metrics

    return float(classification_metrics(logits, labels)["accuracy"])


class _Deadline(TrainerCallback):
    """Stop at the time limit; the stage's checkpoints stay, so a rerun resumes from the last one."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() > self.deadline:
            raise _TimeUp()


class _EarlyStop(TrainerCallback):
    """Give up on a candidate whose validation accuracy, after half its training, is far under the floor."""

    def __init__(self, floor: float):
        self.floor = floor

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        accuracy = (metrics or {}).get("eval_accuracy")
        if accuracy is None or not state.max_steps or state.global_step >= state.max_steps:
            return
        if state.global_step >= state.max_steps / 2 and accuracy < self.floor:
            raise _BelowFloor(f"validation accuracy {accuracy:.4f} after {state.global_step} of {state.max_steps} "
                              f"steps, under {self.floor:.4f} (the floor less the early-stop margin)")
