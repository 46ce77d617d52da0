"""Chain the stages a recipe names, in one run folder (`layout.RunLayout`), skipping work that is
already done. Every stage reads and writes only files in that folder, so any stage can be re-run
alone.

Each stage is a function of one `Run` (the recipe, its `RunContext`, and what earlier stages made) and
knows itself whether its work is already done (`hashing.made_with`). A verb of the CLI is a list of
these stages plus the recipe fields its flags set (`execute`): `run` executes the recipe's list,
`fine-tune` ("fine-tune",), `distill` ("distill", "gate"), `qat` ("qat",).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import ui
from .atomic import write_json
from .bench import BenchReport, bench_prepared, expand_artifacts
from .config import STAGES, DataConfig, ExportOptions, QuantizationOptions, Recipe, dump_recipe
from .context import RunContext
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


@dataclass
class Run:
    """One run in progress: the recipe, its context (seed, lengths, threads, folder), the result so far,
    and what the stages made that later stages read. A verb that starts mid-pipeline (`mobile-distill
    distill TEACHER`) hands in what it was given as ``data``, ``teacher`` or ``student``."""

    recipe: Recipe
    context: RunContext
    result: RunResult
    data: PreparedData | None = None
    teacher: Path | None = None
    teacher_report: dict = field(default_factory=dict)
    student: Path | None = None

    @property
    def layout(self) -> RunLayout:
        return self.context.layout

    def wants(self, stage: str) -> bool:
        return stage in self.recipe.stages


def run_recipe(recipe: Recipe) -> RunResult:
    """Run the recipe's stages. Raises `Gate1Failure` / `Gate2Failure` (after writing every output) when
    a gate fails; the result so far is on the failure as ``failure.result``."""
    layout = RunLayout(Path(recipe.output_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    if is_main_process():
        dump_recipe(recipe, layout.recipe)
    if "export" in recipe.stages:  # a recipe asking for no supported pair fails now, not after training
        plan_exports(list(recipe.export.targets), list(recipe.export.precisions or []) or None)
    run = Run(recipe, RunContext.of(recipe), RunResult(layout=layout))
    try:
        _execute(run, recipe.stages)
    finally:
        if is_main_process():
            result = run.result
            write_json(layout.summary, {
                "recipe": recipe.name, "seconds": result.seconds, "skipped": result.skipped,
                "gate": result.gate_report.verdict if result.gate_report else None,
                "gate2": result.bench_report.verdict if result.bench_report else None,
                "artifacts": [path.name for path in result.artifacts]})
    return run.result


def execute(recipe: Recipe, stages: tuple[str, ...], *, data: PreparedData | None = None,
            teacher: Path | None = None, student: Path | None = None) -> Run:
    """The CLI's verbs: ``stages`` of the pipeline (in its order) on ``recipe``, which the verb's flags
    built, starting from what the verb was given. The same stage code `run_recipe` executes."""
    run = Run(recipe, RunContext.of(recipe), RunResult(layout=RunLayout(Path(recipe.output_dir))), data=data,
              teacher=teacher, student=student)
    _execute(run, stages)
    return run


def search_recipe(recipe: Recipe):
    """`mobile-distill search`: the recipe's data and teacher (fine-tuned or cached), then the budget search
    of ``recipe.search`` into RUN/search. Returns the `search.SearchResult`."""
    from .search import search

    run = Run(recipe, RunContext.of(recipe), RunResult(layout=RunLayout(Path(recipe.output_dir))))
    run.layout.root.mkdir(parents=True, exist_ok=True)
    with torch_threads(recipe.threads):
        _data_stage(run)
        _teacher_stage(run)
        return search(run.teacher, run.data, recipe.search, run.context)


def _execute(run: Run, stages: tuple[str, ...]) -> None:
    """The data (unless given), then each of ``stages`` in the pipeline's order. A gate FAIL carries the
    result so far (``failure.result``) to whoever prints it."""
    with torch_threads(run.context.threads):
        try:
            if run.data is None:
                _data_stage(run)
            for name in STAGES:
                if name in stages:
                    _STAGES[name](run)
        except (Gate1Failure, Gate2Failure) as failure:
            if isinstance(failure, Gate1Failure):
                run.result.gate_report = failure.report
            else:
                run.result.bench_report = failure.report
            failure.result = run.result
            raise


def _data_stage(run: Run) -> None:
    recipe = run.recipe
    with _timed(run.result, "data"), ui.stage("data", f"{recipe.data.source}") as stage:
        run.data = prepare_data(recipe.data, run.layout.data, run.context.seed)
        sizes = run.data.info["sizes"]
        stage.summary = (f"{', '.join(f'{count:,} {name}' for name, count in sizes.items())} rows, labels "
                         f"{', '.join(run.data.labels)}")


def _teacher(run: Run) -> Path:
    """The teacher later stages compare with: the one given or fine-tuned, else RUN/teacher if a run
    made one, else the recipe's model as it is."""
    if run.teacher is None:
        layout, model = run.layout, run.recipe.teacher.model
        run.teacher = layout.teacher if (layout.teacher / HF_CONFIG).is_file() else resolve_model_path(model)
    return run.teacher


def _teacher_stage(run: Run) -> None:
    with _timed(run.result, "fine-tune"):
        teacher = prepare_teacher(run.recipe.teacher, run.data, run.context)
    if teacher.from_cache:
        run.result.skipped.append("fine-tune (cached teacher)")
    run.teacher, run.teacher_report = teacher.path, teacher.report


def _general_stage(run: Run) -> None:
    """Make (or take from the cache) the general student, and start task distillation from it. The
    teacher is the pretrained encoder, before any fine-tuning."""
    from .general import general_distill, general_settings
    from .general import made_with as general_made_with

    recipe = run.recipe
    if recipe.general is None or not run.wants("distill"):
        return
    teacher = resolve_model_path(recipe.teacher.model)
    settings = general_settings(teacher, recipe.general, recipe.student, run.context)
    folder = run.context.cache_dir / "general" / settings
    if general_made_with(folder, settings):
        run.result.skipped.append("general (cached general student)")
    else:
        with _timed(run.result, "general"):
            general_distill(teacher, recipe.general, recipe.student, folder, run.context, settings)
    run.recipe = recipe.model_copy(update={"student": recipe.student.model_copy(update={"init": str(folder)})})


def distill_stage(run: Run) -> None:
    """The student in ``layout.student``: distilled (and its vocabulary trimmed when the recipe asks), or
    kept when it was already made with these settings."""
    recipe, layout, context = run.recipe, run.layout, run.context
    transfer = load_transfer_texts(recipe.data.transfer, context.seed) if recipe.data.transfer else None
    teacher = _teacher(run)
    key = distill_settings(teacher, run.data, recipe.distill, recipe.student, context, transfer)
    run.student = layout.student
    if made_with(layout.student / DISTILL_LOG, key):
        run.result.skipped.append("distill (student already made with these settings)")
        return
    trim = recipe.student.trim_vocabulary
    with _timed(run.result, "distill"):
        distill(teacher, run.data, recipe.distill, recipe.student, layout.untrimmed_student if trim else layout.student,
                context, transfer)
    if trim and is_main_process():  # under torchrun, rank 0 alone trims, evaluates and writes
        with _timed(run.result, "trim"):
            trim_and_compare(layout.untrimmed_student, run.data, layout.student, context.max_length, transfer)


def _gate_stage(run: Run) -> None:
    with _timed(run.result, "gate"):
        run.result.gate_report = gate_student(_teacher(run), run.student or run.layout.student, run.data,
                                              run.recipe.gate, run.context.max_length)


def qat_stage(run: Run) -> None:
    """The QAT student of ``run.student`` (default: the run's) in ``layout.qat_student``, or kept when it
    was already made with these settings."""
    from .qat import qat_settings, quantization_aware_training

    if run.recipe.qat is None:
        return
    student, teacher, layout = run.student or run.layout.student, _teacher(run), run.layout
    key = qat_settings(student, teacher, run.data, run.recipe.qat, run.context)
    if made_with(layout.qat_student / QAT_LOG, key):
        run.result.skipped.append("qat (QAT student already made with these settings)")
        return
    with _timed(run.result, "qat"):
        quantization_aware_training(student, teacher, run.data, run.recipe.qat, run.context)


def _export_stage(run: Run) -> None:
    """Every configured (target, precision, length) of the student, and the int8 ones of the QAT student
    when the run made one; unchanged artifacts are kept."""
    if not is_main_process():
        return
    recipe, layout, result = run.recipe, run.layout, run.result
    config = recipe.export
    options = ExportOptions(**config.model_dump(include=set(QuantizationOptions.model_fields)))
    train_texts = list(run.data.splits["train"]["text"])
    test_texts = list(run.data.splits["test"]["text"])
    seq_lens = config.seq_lens or (run.context.max_length,)
    with _timed(result, "export"):
        result.artifacts = export_all(
            layout.student, layout.artifacts, list(config.targets), seq_lens, options, train_texts, test_texts,
            list(config.precisions) if config.precisions else None, reuse=True)
        if recipe.qat is not None and run.wants("qat"):
            result.artifacts += export_all(
                layout.qat_student, layout.artifacts, list(config.targets), seq_lens, options, train_texts,
                test_texts, _int8_precisions(config.targets, config.precisions), reuse=True, variant="qat")


def _int8_precisions(targets, precisions) -> list[str]:
    """The int8 precisions among those asked for (all when none are named) that the targets take."""
    return sorted({precision for _, precision in plan_exports(list(targets), list(precisions or []) or None)
                   if precision.startswith("int8")})


def _bench_stage(run: Run) -> None:
    """Bench every artifact of the run (those just exported, else those on disk), gate 2, reports."""
    if not is_main_process():
        return
    layout, result = run.layout, run.result
    artifacts = result.artifacts or expand_artifacts([layout.artifacts])
    # The teacher joins the table (and the chained budget) only if it is a classifier for these labels,
    # not the bare pretrained encoder a recipe without fine-tuning points at.
    teacher = _teacher(run)
    teacher = teacher if list(read_labels(teacher)) == list(run.data.labels) else None
    with _timed(result, "bench"):
        result.bench_report, result.report_paths = bench_prepared(
            artifacts, run.data, layout.student, teacher, run.recipe.bench, run.recipe.gate2, run.context.max_length,
            layout.bench)


# The stages in the order the pipeline runs them (config.STAGES); the data comes first, always.
_STAGES = {"fine-tune": _teacher_stage, "general": _general_stage, "distill": distill_stage, "gate": _gate_stage,
           "qat": qat_stage, "export": _export_stage, "bench": _bench_stage}
