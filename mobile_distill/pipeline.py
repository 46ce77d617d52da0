"""Chain the stages a recipe names, in one run folder (`layout.RunLayout`), skipping work that is
already done. Every stage reads and writes only files in that folder, so any stage can be re-run
alone.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import ui
from .atomic import write_json
from .bench import BenchReport, bench_prepared, expand_artifacts
from .config import DataConfig, ExportOptions, QuantizationOptions, Recipe, dump_recipe
from .data import PreparedData, load_data, load_transfer_texts
from .distill import distill, distill_settings
from .errors import Gate1Failure, Gate2Failure
from .export import export_all, plan_exports
from .gate import Gate1Report, gate_student
from .hashing import made_with, settings_hash
from .layout import DATA_INFO, DISTILL_LOG, HF_CONFIG, QAT_LOG, RunLayout
from .models import read_labels, resolve_model_path
from .runtime import is_main_process, torch_threads
from .teacher import prepare_teacher
from .trim import trim_and_compare


@dataclass
class RunResult:
    layout: RunLayout
    seconds: dict[str, float] = field(default_factory=dict)
    gate_report: Gate1Report | None = None
    artifacts: list[Path] = field(default_factory=list)
    bench_report: BenchReport | None = None
    report_paths: dict[str, Path] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def prepare_data(config: DataConfig, folder: Path, seed: int) -> PreparedData:
    """Load the prepared splits from ``folder`` if they were made from the same settings, else make them."""
    key = settings_hash(config.model_dump(mode="json"), seed)
    info = folder / DATA_INFO
    if made_with(info, key):
        return PreparedData.load(folder)
    data = load_data(config, seed)
    data.info["settings"] = key
    if is_main_process():
        data.save(folder)
    return data


@contextmanager
def _timed(result: RunResult, stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:  # a stage that ends in a gate FAIL still took its time: run_summary.json shows it
        result.seconds[stage] = round(time.perf_counter() - start, 1)


def run_recipe(recipe: Recipe) -> RunResult:
    """Run the recipe's stages. Raises `Gate1Failure` / `Gate2Failure` (after writing every output) when
    a gate fails; the result so far is on the failure as ``failure.result``."""
    layout = RunLayout(Path(recipe.output_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    if is_main_process():
        dump_recipe(recipe, layout.recipe)
    result = RunResult(layout=layout)
    if "export" in recipe.stages:  # a recipe asking for no supported pair fails now, not after training
        plan_exports(list(recipe.export.targets), list(recipe.export.precisions or []) or None)
    with torch_threads(recipe.threads):
        try:
            _run_stages(recipe, layout, result)
        except (Gate1Failure, Gate2Failure) as failure:
            if isinstance(failure, Gate1Failure):
                result.gate_report = failure.report
            else:
                result.bench_report = failure.report
            failure.result = result
            raise
        finally:
            if is_main_process():
                write_json(layout.summary, {
                    "recipe": recipe.name, "seconds": result.seconds, "skipped": result.skipped,
                    "gate": result.gate_report.verdict if result.gate_report else None,
                    "gate2": result.bench_report.verdict if result.bench_report else None,
                    "artifacts": [path.name for path in result.artifacts]})
    return result


def search_recipe(recipe: Recipe):
    """`mobile-distill search`: the recipe's data and teacher (fine-tuned or cached), then the budget search
    of ``recipe.search`` into RUN/search. Returns the `search.SearchResult`."""
    from .search import search

    layout = RunLayout(Path(recipe.output_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    with torch_threads(recipe.threads):
        data = prepare_data(recipe.data, layout.data, recipe.seed)
        teacher = _teacher_stage(recipe.model_copy(update={"stages": ("fine-tune",)}), data, layout, RunResult(layout))
        return search(teacher, data, recipe.search, layout.search, recipe.seed, recipe.data.max_length)


def _run_stages(recipe: Recipe, layout: RunLayout, result: RunResult) -> None:
    with _timed(result, "data"), ui.stage("data", f"{recipe.data.source}") as stage:
        data = prepare_data(recipe.data, layout.data, recipe.seed)
        sizes = data.info["sizes"]
        stage.summary = (f"{', '.join(f'{count:,} {name}' for name, count in sizes.items())} rows, labels "
                         f"{', '.join(data.labels)}")
    teacher_path = _teacher_stage(recipe, data, layout, result)
    if recipe.general is not None and "general" in recipe.stages and "distill" in recipe.stages:
        recipe = recipe.model_copy(update={"student": _general_stage(recipe, layout, result)})
    if "distill" in recipe.stages:
        distill_stage(recipe, data, teacher_path, layout, result)
    if "gate" in recipe.stages:
        with _timed(result, "gate"):
            result.gate_report = gate_student(teacher_path, layout.student, data, recipe.gate, recipe.data.max_length)
    if recipe.qat is not None and "qat" in recipe.stages:
        qat_stage(recipe, data, teacher_path, layout, result)
    if "export" in recipe.stages and is_main_process():
        _export_stage(recipe, data, layout, result)
    if "bench" in recipe.stages and is_main_process():
        _bench_stage(recipe, data, teacher_path, layout, result)


def _teacher_stage(recipe: Recipe, data: PreparedData, layout: RunLayout, result: RunResult) -> Path:
    if "fine-tune" not in recipe.stages:
        return layout.teacher if (layout.teacher / HF_CONFIG).is_file() else resolve_model_path(recipe.teacher.model)
    with _timed(result, "fine-tune"):
        teacher = prepare_teacher(recipe.teacher, data, layout.teacher, layout.checkpoints, Path(recipe.cache_dir),
                                  recipe.seed, recipe.data.max_length)
    if teacher.from_cache:
        result.skipped.append("fine-tune (cached teacher)")
    return teacher.path


def _general_stage(recipe: Recipe, layout: RunLayout, result: RunResult):
    """Make (or take from the cache) the general student and return the student settings that start
    task distillation from it. The teacher is the pretrained encoder, before any fine-tuning."""
    from .general import general_distill, general_settings
    from .general import made_with as general_made_with

    teacher = resolve_model_path(recipe.teacher.model)
    settings = general_settings(teacher, recipe.general, recipe.student, recipe.seed)
    folder = Path(recipe.cache_dir) / "general" / settings
    if general_made_with(folder, settings):
        result.skipped.append("general (cached general student)")
    else:
        with _timed(result, "general"):
            general_distill(teacher, recipe.general, recipe.student, folder, layout.checkpoints, recipe.seed, settings)
    return recipe.student.model_copy(update={"init": str(folder)})


def distill_stage(recipe: Recipe, data: PreparedData, teacher_path: Path, layout: RunLayout, result: RunResult) -> Path:
    """The student in ``layout.student``: distilled (and its vocabulary trimmed when the recipe asks), or
    kept when it was already made with these settings. `run` and `mobile-distill distill` both call this."""
    transfer = load_transfer_texts(recipe.data.transfer, recipe.seed) if recipe.data.transfer else None
    key = distill_settings(teacher_path, data, recipe.distill, recipe.student, recipe.seed, recipe.data.max_length,
                           transfer)
    if made_with(layout.student / DISTILL_LOG, key):
        result.skipped.append("distill (student already made with these settings)")
        return layout.student
    trim = recipe.student.trim_vocabulary
    with _timed(result, "distill"):
        distill(teacher_path, data, recipe.distill, recipe.student, layout.untrimmed_student if trim else layout.student,
                layout.checkpoints, recipe.seed, recipe.data.max_length, transfer)
    if trim and is_main_process():  # under torchrun, rank 0 alone trims, evaluates and writes
        with _timed(result, "trim"):
            trim_and_compare(layout.untrimmed_student, data, layout.student, recipe.data.max_length, transfer)
    return layout.student


def qat_stage(recipe: Recipe, data: PreparedData, teacher_path: Path, layout: RunLayout, result: RunResult,
              student: Path | None = None) -> Path:
    """The QAT student of ``student`` (default: the run's) in ``layout.qat_student``, or kept when it was
    already made with these settings. `run` and `mobile-distill qat` both call this."""
    from .qat import qat_settings, quantization_aware_training

    student = student or layout.student
    key = qat_settings(student, teacher_path, data, recipe.qat, recipe.seed, recipe.data.max_length)
    if made_with(layout.qat_student / QAT_LOG, key):
        result.skipped.append("qat (QAT student already made with these settings)")
        return layout.qat_student
    with _timed(result, "qat"):
        quantization_aware_training(student, teacher_path, data, recipe.qat, layout.qat_student,
                                    layout.checkpoints, recipe.seed, recipe.data.max_length)
    return layout.qat_student


def _export_stage(recipe: Recipe, data: PreparedData, layout: RunLayout, result: RunResult) -> None:
    """Every configured (target, precision, length) of the student, and the int8 ones of the QAT student
    when the run made one; unchanged artifacts are kept."""
    config = recipe.export
    options = ExportOptions(**config.model_dump(include=set(QuantizationOptions.model_fields)))
    train_texts = list(data.splits["train"]["text"])
    test_texts = list(data.splits["test"]["text"])
    with _timed(result, "export"):
        result.artifacts = export_all(
            layout.student, layout.artifacts, list(config.targets), config.seq_lens or (recipe.data.max_length,),
            options, train_texts, test_texts, list(config.precisions) if config.precisions else None, reuse=True)
        if recipe.qat is not None and "qat" in recipe.stages:
            result.artifacts += export_all(
                layout.qat_student, layout.artifacts, list(config.targets), config.seq_lens or (recipe.data.max_length,),
                options, train_texts, test_texts, _int8_precisions(config.targets, config.precisions), reuse=True,
                variant="qat")


def _int8_precisions(targets, precisions) -> list[str]:
    """The int8 precisions among those asked for (all when none are named) that the targets take."""
    return sorted({precision for _, precision in plan_exports(list(targets), list(precisions or []) or None)
                   if precision.startswith("int8")})


def _bench_stage(recipe: Recipe, data: PreparedData, teacher_path: Path, layout: RunLayout, result: RunResult) -> None:
    """Bench every artifact of the run (those just exported, else those on disk), gate 2, reports."""
    artifacts = result.artifacts or expand_artifacts([layout.artifacts])
    # The teacher joins the table (and the chained budget) only if it is a classifier for these labels,
    # not the bare pretrained encoder a recipe without fine-tuning points at.
    teacher = teacher_path if list(read_labels(teacher_path)) == list(data.labels) else None
    with _timed(result, "bench"):
        result.bench_report, result.report_paths = bench_prepared(
            artifacts, data, layout.student, teacher, recipe.bench, recipe.gate2, recipe.data.max_length,
            layout.bench)
