"""`mobile-distill`: a thin command line over the Python API. It parses, builds typed configs, calls
one API function per verb, and prints results. Errors the user can fix are one line, no traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from .config import (
    STAGES,
    DataConfig,
    DistillConfig,
    GateConfig,
    LossWeights,
    StudentConfig,
    TeacherConfig,
    TrainConfig,
    builtin_recipe_names,
    format_validation_error,
    load_recipe,
)
from .errors import ConfigError, GateFailure, MobileDistillError
from .training import is_main_process

_OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", help="prepared data folder (RUN/data), built-in dataset (rotten_tomatoes, imdb), "
                       "CSV/TSV/JSONL/Parquet file, or a folder saved with datasets' save_to_disk. "
                       "Default: OUTPUT/data if it exists, else rotten_tomatoes")
    group.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    group.add_argument("--text-pair-column", help="column holding the second text of a pair, if any")
    group.add_argument("--label-column", default="label", help="column holding the label, string or integer (default: label)")
    group.add_argument("--max-length", type=int, default=64, help="tokens per text; longer texts are truncated and counted (default: 64)")
    group.add_argument("--limit", type=int, help="use a stratified subsample of this many labelled rows")
    group.add_argument("--seed", type=int, default=42, help="seed for splits and training (default: 42)")


def _add_train_options(parser: argparse.ArgumentParser, epochs: float, learning_rate: float) -> None:
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=float, default=epochs, help=f"passes over the training split (default: {epochs})")
    group.add_argument("--learning-rate", type=float, default=learning_rate, help=f"peak learning rate (default: {learning_rate})")
    group.add_argument("--batch-size", type=int, default=32, help="examples per step per process (default: 32)")
    group.add_argument("--gradient-accumulation-steps", type=int, default=1, help="steps to accumulate before an update (default: 1)")
    group.add_argument("--save-steps", type=int, default=200, help="checkpoint (and evaluate) every N steps; a rerun resumes from the last (default: 200)")
    group.add_argument("--no-group-by-length", action="store_true",
                       help="sample batches at random instead of grouping texts of similar length (less padding)")
    group.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def _add_gate_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gate 1")
    group.add_argument("--min-retention", type=float, default=0.97, help="student/teacher test accuracy must reach this (default: 0.97)")
    group.add_argument("--min-agreement", type=float, help="optional floor on the fraction of identical predictions")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobile-distill",
        description="Distil BERT text classifiers into small students and gate them on accuracy. "
        "Each verb is one pipeline stage; `run` chains them from a recipe file.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = verbs.add_parser("run", help="run the stages a recipe names (default: the built-in default recipe)",
                           description="Run a recipe: " + " -> ".join(STAGES) + ". The resolved recipe is copied into "
                           "the output folder. Built-in recipes: " + ", ".join(builtin_recipe_names()) + ".")
    run.add_argument("recipe", nargs="?", default="default", help="recipe YAML file or built-in name (default: default)")
    run.add_argument("--quick", action="store_true", help="use the built-in quick recipe (a small subsample, a few minutes)")
    run.add_argument("-o", "--output-dir", help="override the recipe's output_dir")
    run.add_argument("--cache-dir", help="override the recipe's cache_dir (fine-tuned teachers)")

    fine_tune = verbs.add_parser("fine-tune", help="fine-tune a teacher classifier on labelled data",
                                 description="Fine-tune a local BERT-family model (or a built-in encoder) into the "
                                 "teacher at OUTPUT/teacher. Results are cached by a hash of model, data and settings.")
    fine_tune.add_argument("model", nargs="?", default="all-minilm-l6-v2", help="built-in encoder name or local model folder (default: all-minilm-l6-v2)")
    fine_tune.add_argument("-o", "--output-dir", required=True, help="run folder; the teacher goes to OUTPUT/teacher")
    fine_tune.add_argument("--cache-dir", default="runs/cache", help="cache of fine-tuned teachers (default: runs/cache)")
    _add_data_options(fine_tune)
    _add_train_options(fine_tune, epochs=2.0, learning_rate=5e-5)

    distill = verbs.add_parser("distill", help="distil a teacher into a student and run gate 1",
                               description="Build a student from TEACHER (a local classifier folder), distil it on the "
                               "data, write it to OUTPUT/student, then compare it with the teacher on the test split "
                               "(gate 1). Exits 1 when the gate fails.")
    distill.add_argument("teacher", help="teacher classifier folder (e.g. RUN/teacher)")
    distill.add_argument("-o", "--output-dir", required=True, help="run folder; the student goes to OUTPUT/student")
    _add_data_options(distill)
    _add_train_options(distill, epochs=3.0, learning_rate=1e-4)
    student = distill.add_argument_group("student and losses")
    student.add_argument("--recipe", choices=["distilbert", "bert"], default="distilbert",
                         help="distilbert: DistilBERT class, no token types; bert: teacher's class, fewer layers (default: distilbert)")
    student.add_argument("--layers", help="teacher layers to copy, comma-separated, 0-based (default: every other, ending at the last)")
    student.add_argument("--temperature", type=float, default=2.0, help="softmax temperature of the soft targets (default: 2.0)")
    for name, default, text in [("kd", 1.0, "soft-target KL"), ("ce", 0.5, "hard-label cross-entropy"),
                                ("cos", 1.0, "hidden-state cosine"), ("hidden-mse", 0.0, "hidden-state MSE"),
                                ("attention-mse", 0.0, "attention-map MSE")]:
        student.add_argument(f"--alpha-{name}", type=float, default=default, help=f"weight of the {text} loss (default: {default})")
    student.add_argument("--transfer", help="unlabeled transfer set (built-in name or file) taught by soft targets only")
    student.add_argument("--transfer-column", default="text", help="text column of the transfer set (default: text)")
    student.add_argument("--transfer-limit", type=int, help="use at most this many transfer texts")
    student.add_argument("--no-gate", action="store_true", help="skip gate 1 (e.g. to gate later with `mobile-distill gate`)")
    _add_gate_options(distill)

    export = verbs.add_parser("export", help="export a classifier to ONNX, TFLite, Core ML or ExecuTorch at one or more precisions",
                              description="Export MODEL (a local HF classifier folder, e.g. RUN/student) to an artifact "
                              "folder: model file, manifest.json, tokenizer files, labels.txt, tokenizer_golden.json. "
                              "One pair writes OUTPUT itself; --target/--precision all or several --seq-len write "
                              "OUTPUT/<target>-<precision>-s<len>/. A failed export leaves nothing behind.")
    export.add_argument("model", help="classifier folder to export (e.g. RUN/student)")
    export.add_argument("-o", "--output-dir", required=True, help="artifact folder (or parent folder for several)")
    export.add_argument("--target", default="onnx", help="target format, or 'all' (default: onnx)")
    export.add_argument("--precision", default="fp32", help="precision, or 'all' for every one the target supports (default: fp32)")
    export.add_argument("--seq-len", type=int, action="append", help="sequence length; repeat for several (default: 128)")
    _add_labelled_data_options(export, "texts for the sample batch, int8 calibration (train split) and the golden "
                               "tokenizer file (test split): a prepared data folder, built-in dataset or file. "
                               "Default: MODEL/../data if it exists, else rotten_tomatoes")
    export.add_argument("--onnx-weight-type", choices=["qint8", "quint8"], default="quint8",
                        help="ONNX int8-dynamic weight type (default: quint8, the most accurate when measured)")
    export.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=True,
                        help="per-channel int8 weight scales; --no-per-channel for per-tensor (default: per-channel)")
    export.add_argument("--calibration-size", type=int, default=200, help="texts used to calibrate static int8 (default: 200)")

    _add_bench_parser(verbs)
    _add_diagnose_parser(verbs)

    gate = verbs.add_parser("gate", help="gate 1: compare a student with its teacher on the test split",
                            description="Evaluate TEACHER and STUDENT on the same test split; write "
                            "STUDENT/distill_report.json and a model card. Exits 1 on FAIL.")
    gate.add_argument("teacher", help="teacher classifier folder")
    gate.add_argument("student", help="student classifier folder")
    gate.add_argument("--data", required=True, help="prepared data folder (RUN/data) holding the test split")
    gate.add_argument("--max-length", type=int, default=64, help="tokens per text (default: 64)")
    _add_gate_options(gate)
    return parser


def _add_labelled_data_options(parser: argparse.ArgumentParser, data_help: str) -> None:
    """--data and its columns, for the verbs that read labelled data already split (export, bench, diagnose)."""
    parser.add_argument("--data", help=data_help)
    parser.add_argument("--text-column", default="text", help="text column when --data is a file (default: text)")
    parser.add_argument("--label-column", default="label", help="label column when --data is a file (default: label)")


def _add_bench_parser(verbs) -> None:
    bench = verbs.add_parser(
        "bench", help="gate 2: run artifacts on the test split in their own runtimes; latency, memory, reports",
        description="Run every ARTIFACT (an artifact folder, or a folder of them such as RUN/artifacts) on the same "
        "labelled test split through its own runtime, beside the PyTorch reference it was exported from and the "
        "teacher. Checks each file's interface contract first, then accuracy, agreement, logit error and KL, then "
        "batch-1 latency per thread count, load and first-inference time and peak memory, each model in a process "
        "of its own. Gate 2 judges every artifact; failures are diagnosed. Writes bench.json, junit.xml, report.md "
        "and report.html to OUTPUT. Exits 1 when any artifact fails (Core ML off macOS is NOT RUN, not a failure).")
    bench.add_argument("artifacts", nargs="+", help="artifact folders, or folders holding them")
    bench.add_argument("-o", "--output-dir", help="where the reports go (default: RUN/bench beside RUN/artifacts)")
    _add_labelled_data_options(bench, "prepared data folder (RUN/data) or data source; its test split is used "
                               "(default: the reference's RUN/data)")
    bench.add_argument("--reference", help="PyTorch model the artifacts came from (default: the path in their manifest)")
    bench.add_argument("--teacher", help="teacher classifier, shown for context and the chained budget "
                       "(default: RUN/teacher beside the reference, if it exists; 'none' to leave it out)")
    bench.add_argument("--max-length", type=int, help="tokens per text for the PyTorch models (default: the "
                       "longest artifact sequence length)")
    timing = bench.add_argument_group("timing")
    timing.add_argument("--threads", default="1,2", help="comma-separated thread counts to time (default: 1,2)")
    timing.add_argument("--runs", type=int, default=50, help="timed batch-1 runs per thread count (default: 50)")
    timing.add_argument("--warmup", type=int, default=5, help="untimed runs first (default: 5)")
    timing.add_argument("--no-timing", action="store_true", help="skip latency, load time and memory: accuracy and gate 2 only")
    gate = bench.add_argument_group("gate 2")
    gate.add_argument("--max-drop", action="append", default=[], metavar="PRECISION=POINTS",
                      help="accuracy points an artifact may lose vs the reference, e.g. int8-dynamic=1.0; repeatable "
                      "(defaults: 0.5 for fp32/fp16, 1.0 for int8 kinds and palettized)")
    gate.add_argument("--min-agreement", action="append", default=[], metavar="PRECISION=FRACTION",
                      help="floor on identical predictions with the reference, e.g. fp16=0.995; repeatable "
                      "(defaults: 0.995 for fp32/fp16, 0.98 for int8 kinds and palettized)")
    gate.add_argument("--min-teacher-retention", type=float, default=0.96,
                      help="chained budget: artifact accuracy / teacher accuracy must reach this (default: 0.96)")
    gate.add_argument("--no-diagnose", action="store_true", help="do not diagnose failing artifacts")
    gate.add_argument("--auto-fallback", action="store_true",
                      help="re-quantize a failing int8 ONNX, TFLite or ExecuTorch artifact with its most sensitive "
                      "layers in float (ranked by a per-layer comparison) until it passes; the passing one joins the "
                      "report as NAME-fallback")
    baseline = bench.add_argument_group("baseline (release gating)")
    baseline.add_argument("--baseline", help="bench.json of an earlier run: fail on regressions against it")
    baseline.add_argument("--max-latency-increase", type=float, default=0.25,
                          help="allowed relative p50 latency increase over the baseline (default: 0.25)")
    baseline.add_argument("--max-baseline-accuracy-drop", type=float, default=0.5,
                          help="allowed accuracy loss against the baseline, in points (default: 0.5)")


def _add_diagnose_parser(verbs) -> None:
    diagnose = verbs.add_parser(
        "diagnose", help="name the cause of a collapsed artifact (input binding, mask, dtype, tokenizer, fp16, layer)",
        description="Probe ARTIFACT against the PyTorch model it came from for the known causes of post-conversion "
        "collapse: inputs bound in the wrong order, attention mask ignored or inverted, token types, integer dtype "
        "and range, tokenizer mismatch, padding length, fp16 overflow, and the first layer where a quantized model "
        "diverges. Prints what it finds; writes diagnosis.json with -o. `bench` runs it on every failure.")
    diagnose.add_argument("artifact", help="artifact folder")
    diagnose.add_argument("--reference", help="PyTorch model it came from (default: the path in its manifest)")
    _add_labelled_data_options(diagnose, "prepared data folder or data source; its test split is used "
                               "(default: the reference's RUN/data)")
    diagnose.add_argument("--limit", type=int, default=300, help="test texts to probe with (default: 300)")
    diagnose.add_argument("-o", "--output", help="write the findings to this JSON file")


def _config(model, where: str, /, **values):
    try:
        return model(**values)
    except ValidationError as error:
        raise ConfigError(format_validation_error(where, error)) from None


def _train_config(args) -> TrainConfig:
    return _config(TrainConfig, "options", epochs=args.epochs, learning_rate=args.learning_rate,
                   batch_size=args.batch_size, gradient_accumulation_steps=args.gradient_accumulation_steps,
                   save_steps=args.save_steps, group_by_length=not args.no_group_by_length)


def _data(args, output_dir: Path):
    from .data import PreparedData
    from .pipeline import prepare_data

    source = args.data
    if source is None and (output_dir / "data" / "data.json").is_file():
        source = str(output_dir / "data")
    if source is not None and (Path(source) / "data.json").is_file():
        return PreparedData.load(Path(source))
    config = _config(DataConfig, "options", source=source or "rotten_tomatoes", text_column=args.text_column,
                     text_pair_column=args.text_pair_column, label_column=args.label_column,
                     max_length=args.max_length, limit=args.limit)
    return prepare_data(config, output_dir / "data", args.seed)


def _cmd_run(args) -> int:
    from .pipeline import run_recipe

    recipe = load_recipe("quick" if args.quick else args.recipe)
    overrides = {k: v for k, v in {"output_dir": args.output_dir, "cache_dir": args.cache_dir}.items() if v}
    recipe = recipe.model_copy(update=overrides)
    _say(f"recipe [bold]{recipe.name}[/] -> {recipe.output_dir}")
    try:
        result = run_recipe(recipe)
    except GateFailure as failure:
        if failure.report.get("kind") == "mobile-distill-bench":
            from .bench.report import print_verdicts, report_paths
            from .bench.schema import BenchReport

            print_verdicts(BenchReport.model_validate(failure.report), report_paths(Path(recipe.output_dir) / "bench"))
        else:
            _print_gate(failure.report)
        raise
    if result.gate_report:
        _print_gate(result.gate_report)
    if result.bench_report is not None:
        from .bench.report import print_verdicts

        print_verdicts(result.bench_report, result.report_paths)
    _say(f"stage seconds: {result.seconds}" + (f"; reused: {', '.join(result.skipped)}" if result.skipped else ""))
    return 0


def _cmd_fine_tune(args) -> int:
    from .teacher import prepare_teacher

    _threads(args)
    output_dir = Path(args.output_dir)
    data = _data(args, output_dir)
    config = _config(TeacherConfig, "options", model=args.model, fine_tune=_train_config(args))
    result = prepare_teacher(config, data, output_dir / "teacher", output_dir / "checkpoints",
                             Path(args.cache_dir), args.seed, args.max_length)
    accuracy = result.report.get("validation", {}).get("accuracy")
    _say(f"teacher -> {result.path}" + (" (from cache)" if result.from_cache else "")
         + (f"; validation accuracy {accuracy:.4f}" if accuracy is not None else ""))
    return 0


def _cmd_distill(args) -> int:
    from .config import TransferConfig
    from .data import load_transfer_texts
    from .distill import distill

    _threads(args)
    output_dir = Path(args.output_dir)
    data = _data(args, output_dir)
    layers = tuple(int(x) for x in args.layers.split(",")) if args.layers else None
    student = _config(StudentConfig, "--recipe/--layers", recipe=args.recipe, layers=layers)
    weights = _config(LossWeights, "--alpha-*", kd=args.alpha_kd, ce=args.alpha_ce, cos=args.alpha_cos,
                      hidden_mse=args.alpha_hidden_mse, attention_mse=args.alpha_attention_mse)
    config = _config(DistillConfig, "options", train=_train_config(args), temperature=args.temperature, weights=weights)
    transfer = None
    if args.transfer:
        transfer_config = _config(TransferConfig, "--transfer", source=args.transfer, text_column=args.transfer_column,
                                  limit=args.transfer_limit)
        transfer = load_transfer_texts(transfer_config, args.seed)
    teacher = Path(args.teacher)
    result = distill(teacher, data, config, student, output_dir / "student", output_dir / "checkpoints",
                     args.seed, args.max_length, transfer)
    if not is_main_process():  # under torchrun, rank 0 alone evaluates and writes the report
        return 0
    _say(f"student -> {result.path}")
    if args.no_gate:
        return 0
    gate = _config(GateConfig, "--min-retention/--min-agreement", min_retention=args.min_retention,
                   min_agreement=args.min_agreement)
    return _gate_and_print(teacher, result.path, data, gate, args.max_length)


def _cmd_gate(args) -> int:
    from .data import PreparedData

    gate = _config(GateConfig, "--min-retention/--min-agreement", min_retention=args.min_retention,
                   min_agreement=args.min_agreement)
    data = PreparedData.load(Path(args.data))
    return _gate_and_print(Path(args.teacher), Path(args.student), data, gate, args.max_length)


def _cmd_export(args) -> int:
    from .export import ExportOptions, export, export_all

    model = Path(args.model)
    seq_lens = tuple(args.seq_len or [128])
    options = _config(ExportOptions, "options", seq_len=seq_lens[0], onnx_weight_type=args.onnx_weight_type,
                      per_channel=args.per_channel, calibration_size=args.calibration_size)
    train_texts, test_texts = _export_texts(args, model)
    single = args.target != "all" and args.precision != "all" and len(seq_lens) == 1
    if single:
        written = [export(model, args.target, args.precision, Path(args.output_dir), options, train_texts, test_texts)]
    else:
        targets = None if args.target == "all" else [args.target]
        precisions = None if args.precision == "all" else [args.precision]
        written = export_all(model, Path(args.output_dir), targets, seq_lens, options, train_texts, test_texts,
                             precisions)
    for path in written:
        _say(f"exported -> {path}")
    return 0


def _export_texts(args, model: Path) -> tuple[list[str], list[str]]:
    """Training texts (sample batch, calibration) and test texts (golden file) for an export."""
    data = _prepared(args, model, fallback="rotten_tomatoes")
    return list(data.splits["train"]["text"]), list(data.splits["test"]["text"])


def _cmd_bench(args) -> int:
    from .bench import bench_prepared, expand_artifacts
    from .bench.report import print_verdicts, report_paths
    from .config import BenchConfig, Gate2Config

    artifacts = expand_artifacts([Path(path) for path in args.artifacts])
    reference = _reference(args.reference, artifacts[0])
    teacher = None if args.teacher == "none" else Path(args.teacher) if args.teacher else _beside(reference, "teacher")
    settings = _config(BenchConfig, "options", threads=_int_list(args.threads, "--threads"), runs=args.runs,
                       warmup=args.warmup, timing=not args.no_timing, diagnose=not args.no_diagnose,
                       auto_fallback=args.auto_fallback, baseline=args.baseline,
                       max_latency_increase=args.max_latency_increase,
                       max_baseline_accuracy_drop=args.max_baseline_accuracy_drop)
    gate = _config(Gate2Config, "--max-drop/--min-agreement", max_accuracy_drop=_per_precision(args.max_drop, "--max-drop"),
                   min_agreement=_per_precision(args.min_agreement, "--min-agreement"),
                   min_teacher_retention=args.min_teacher_retention)
    data = _prepared(args, reference)  # after the options: a typo fails before data is read
    seq_len = args.max_length or max(_manifest_length(path) for path in artifacts)
    output = Path(args.output_dir) if args.output_dir else artifacts[0].parent.parent / "bench"
    try:
        report, paths = bench_prepared(artifacts, data, reference, teacher, settings, gate, seq_len, output)
    except GateFailure as failure:
        from .bench.schema import BenchReport

        print_verdicts(BenchReport.model_validate(failure.report), report_paths(output))
        raise
    print_verdicts(report, paths)
    return 0


def _cmd_diagnose(args) -> int:
    from rich.console import Console

    from .diagnose import diagnose

    artifact = Path(args.artifact)
    reference = _reference(args.reference, artifact)
    test = _prepared(args, reference).splits["test"]
    rows = min(args.limit, len(test))
    found = diagnose(artifact, reference, list(test["text"])[:rows], list(test["label"])[:rows])
    console = Console(soft_wrap=True)  # findings name paths and graph nodes: never broken across lines
    console.print(f"{artifact}: agreement with the reference {found.agreement:.4f} on {rows} test texts")
    for check in found.checks:
        colour = {"found": "red", "clear": "green"}.get(check.status, "yellow")
        console.print(f"  [{colour}]{check.status:>7}[/] {check.name}: {check.summary}")
    console.print("[red]cause: " + found.causes[0].summary + "[/]" if found.causes else "[green]no known cause found[/]")
    if args.output:
        from .training import write_json

        write_json(Path(args.output), found.to_dict())
    return 0


def _reference(given: str | None, artifact: Path) -> Path:
    """The model an artifact was exported from: as given, else the path its manifest records."""
    if given:
        return Path(given)
    from .export.artifact import read_manifest

    source = Path(read_manifest(artifact).source.get("path", ""))
    if not (source / "config.json").is_file():
        raise ConfigError(f"{artifact}: the model it was exported from ({source}) is not there; pass --reference")
    return source


def _beside(model: Path, name: str) -> Path | None:
    folder = model.parent / name
    return folder if (folder / "config.json").is_file() else None


def _prepared(args, model: Path, fallback: str | None = None):
    """Labelled data: --data (a prepared folder or a source), else RUN/data beside the model, else ``fallback``."""
    from .data import PreparedData, load_data

    beside = model.parent / "data"
    source = args.data or (str(beside) if (beside / "data.json").is_file() else fallback)
    if source is None:
        raise ConfigError(f"no labelled data: pass --data (no prepared data beside {model})")
    if (Path(source) / "data.json").is_file():
        return PreparedData.load(Path(source))
    return load_data(_config(DataConfig, "--data", source=source, text_column=args.text_column,
                             label_column=args.label_column))


def _manifest_length(artifact: Path) -> int:
    from .export.artifact import read_manifest

    return read_manifest(artifact).sequence_length


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected comma-separated whole numbers, e.g. 1,2") from None
    return values


def _per_precision(items: list[str], option: str) -> dict[str, float]:
    values = {}
    for item in items:
        precision, _, number = item.partition("=")
        try:
            values[precision] = float(number)
        except ValueError:
            raise ConfigError(f"{option} {item!r}: expected PRECISION=NUMBER, e.g. int8-dynamic=1.0") from None
    return values


def _gate_and_print(teacher: Path, student: Path, data, gate: GateConfig, max_length: int) -> int:
    from .gate import gate_student

    try:
        report = gate_student(teacher, student, data, gate, max_length)
    except GateFailure as failure:
        _print_gate(failure.report)
        raise
    _print_gate(report)
    return 0


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(message)


def _print_gate(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"gate 1 (student vs teacher): {report['verdict']}")
    for column in ("model", "layers", "parameters", "test accuracy", "macro-F1"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for name in ("teacher", "student"):
        part = report[name]
        table.add_row(name, str(part["layers"]), f"{part['parameters']:,}", f"{part['test']['accuracy']:.4f}",
                      f"{part['test']['macro_f1']:.4f}")
    console = Console()
    console.print(table)
    colour = "green" if report["verdict"] == "PASS" else "red"
    floor = report["thresholds"]["min_retention"]
    console.print(f"[{colour}]{report['verdict']}[/]: retention {report['retention']:.4f} (floor {floor}), "
                  f"agreement {report['agreement']:.4f}; report {report['student']['path']}/distill_report.json")


_COMMANDS = {"run": _cmd_run, "fine-tune": _cmd_fine_tune, "distill": _cmd_distill, "gate": _cmd_gate,
             "export": _cmd_export, "bench": _cmd_bench, "diagnose": _cmd_diagnose}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for key, value in _OFFLINE.items():  # no hub at run time; set here, never at import
        os.environ.setdefault(key, value)
    try:
        return _COMMANDS[args.verb](args)
    except MobileDistillError as error:
        print(f"mobile-distill {args.verb}: {'FAIL' if isinstance(error, GateFailure) else 'error'}: {error}",
              file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"mobile-distill {args.verb}: interrupted; run the same command again to resume from the last "
              "checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
