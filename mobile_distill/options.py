"""The command line's verbs and options. Every option defaults to "not given" (None): only what the user set
is passed to the pydantic configs, so every default lives once, in `config.py` (the help texts read it
from there). Each option's ``dest`` is the recipe field it sets (``train.epochs`` is stored as
``train__epochs``), which is also how a message naming a config field is rewritten with the option's flag.

Imports nothing heavy (no torch): ``mobile-distill --help`` answers at once.
"""

from __future__ import annotations

import argparse

from pydantic import BaseModel

from . import config as cfg
from .emulate.cpus import CPUS
from .errors import ConfigError
from .precisions import PRECISION_NAMES
from .students import PRESETS, STUDENT_TYPES
from .targets import TARGET_NAMES

ALL = "all"


# ---- declaring options: dest = config field, default = not given, help names the config default ----

def field_default(model: type[BaseModel] | BaseModel, field: str):
    if isinstance(model, BaseModel):
        return getattr(model, field)
    return model.model_fields[field].get_default(call_default_factory=True)


def _shown(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) if value else "none"
    if value is None:
        return "none"
    return str(value)


def _option(group, flags, dest: str, help: str, default_from=None, **kwargs):
    """An option that sets config field ``dest`` (dotted); ``default_from``: (model or instance, field)."""
    if default_from is not None:
        help = f"{help} (default: {_shown(field_default(*default_from))})"
    flags = [flags] if isinstance(flags, str) else flags
    if kwargs.get("action") in (None, "append") and "choices" not in kwargs:
        kwargs.setdefault("metavar", flags[-1].lstrip("-").replace("-", "_").upper())
    group.add_argument(*flags, dest=dest.replace(".", "__"), default=None, help=help, **kwargs)


def given_options(args, prefix: str) -> dict:
    """The values the user gave for the fields under ``prefix`` (``"train"`` -> ``{"epochs": 3}``)."""
    start = prefix.replace(".", "__") + "__"
    return {key[len(start):]: value for key, value in vars(args).items()
            if key.startswith(start) and "__" not in key[len(start):] and value is not None}


def option_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Config field (dotted) -> the flag that sets it, for this verb."""
    return {action.dest.replace("__", "."): action.option_strings[-1] if action.option_strings else action.dest
            for action in parser._actions
            if action.dest not in ("help", argparse.SUPPRESS) and action.help != argparse.SUPPRESS}


def _verbosity_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("-q", "--quiet", action="store_const", const=0, dest="verbosity",
                       help="print only the verdicts and errors")
    group.add_argument("-v", "--verbose", action="store_const", const=2, dest="verbosity",
                       help="also print what the libraries print (trainer logs, converter and runtime output)")


def _data_options(parser, labelled_only: bool = False, data_help: str | None = None) -> None:
    group = parser.add_argument_group("data")
    source = field_default(cfg.DataConfig, "source")
    _option(group, "--data", "data.source", (data_help or "prepared data folder (RUN/data), built-in dataset "
            "(rotten_tomatoes, imdb), CSV/TSV/JSONL/Parquet file, or a folder saved with datasets' save_to_disk; "
            "default: OUTPUT/data if it exists, else") + (f" {source}" if (data_help or "else").endswith("else") else ""))
    _option(group, "--text-column", "data.text_column", "column holding the text", (cfg.DataConfig, "text_column"))
    _option(group, "--label-column", "data.label_column", "column holding the label, string or integer",
            (cfg.DataConfig, "label_column"))
    if labelled_only:
        return
    _option(group, "--text-pair-column", "data.text_pair_column", "column holding the second text of a pair, if any")
    _option(group, "--max-length", "data.max_length", "tokens per text; longer texts are truncated and counted",
            (cfg.DataConfig, "max_length"), type=int)
    _option(group, "--limit", "data.limit", "use a stratified subsample of this many labelled rows", type=int)
    _option(group, "--seed", "run.seed", "seed for splits and training", (cfg.Recipe, "seed"), type=int)


def _train_options(parser, defaults: cfg.TrainConfig) -> None:
    group = parser.add_argument_group("training")
    _option(group, "--epochs", "train.epochs", "passes over the training split", (defaults, "epochs"), type=float)
    _option(group, "--learning-rate", "train.learning_rate", "peak learning rate", (defaults, "learning_rate"),
            type=float)
    _option(group, "--batch-size", "train.batch_size", "examples per step per process", (defaults, "batch_size"),
            type=int)
    _option(group, "--gradient-accumulation-steps", "train.gradient_accumulation_steps",
            "steps to accumulate before an update", (defaults, "gradient_accumulation_steps"), type=int)
    _option(group, "--save-steps", "train.save_steps", "checkpoint (and evaluate) every N steps; a rerun resumes "
            "from the last", (defaults, "save_steps"), type=int)
    _option(group, "--no-group-by-length", "train.group_by_length", "sample batches at random instead of grouping "
            "texts of similar length (less padding)", action="store_const", const=False)
    _option(group, "--threads", "run.threads", "torch CPU threads", (cfg.Recipe, "threads"), type=int)


def _student_options(parser, with_init: bool = True):
    student = parser.add_argument_group("student")
    _option(student, "--student", "student.type", "the type of student: "
            + "; ".join(f"{name}: {kind.summary}" for name, kind in STUDENT_TYPES.items()),
            (cfg.StudentConfig, "type"), choices=list(STUDENT_TYPES))
    # --student's old name, still read where users type it, kept out of --help and error messages.
    student.add_argument("--recipe", dest="student__type", default=None, choices=list(STUDENT_TYPES),
                         help=argparse.SUPPRESS)
    _option(student, "--preset", "student.preset", "a named shape of the student type; default: the type's own",
            choices=sorted(PRESETS))
    _option(student, "--layers", "student.layers", "the teacher layer each student layer learns from, comma-separated, "
            "0-based; default: uniform, ending at the last", type=_int_tuple)
    for flag, field, description in [("--num-layers", "num_layers", "student layers"),
                                      ("--hidden-size", "hidden_size", "a transformer layer's width (tinybert, "
                                       "mobilebert)"),
                                      ("--lstm-size", "lstm_size", "bilstm: the LSTM's width per direction"),
                                      ("--filters", "filters", "cnn: filters per kernel size"),
                                      ("--num-heads", "num_heads", "attention heads"),
                                      ("--intermediate-size", "intermediate_size", "feed-forward width (bilstm, "
                                       "cnn: the ReLU layer before the logits)"),
                                      ("--embedding-size", "embedding_size", "word-embedding width (mobilebert, "
                                       "bilstm, cnn)"),
                                      ("--intra-bottleneck-size", "intra_bottleneck_size", "MobileBERT's bottleneck"),
                                      ("--feedforward-networks", "feedforward_networks", "MobileBERT's FFNs per layer")]:
        _option(student, flag, f"student.{field}", f"{description}; default: the preset's", type=int)
    _option(student, "--kernel-sizes", "student.kernel_sizes", "the cnn student's convolution widths in tokens, "
            "comma-separated; default: the preset's", type=_int_tuple)
    if with_init:  # distill's own: general distillation builds its student unpruned
        _option(student, "--prune-heads", "student.prune_heads", "fraction of attention heads to remove before "
                "distillation, least important first", (cfg.StudentConfig, "prune_heads"), type=float)
        _option(student, "--prune-ffn", "student.prune_ffn", "fraction of each layer's feed-forward neurons to "
                "remove before distillation, least important first", (cfg.StudentConfig, "prune_ffn"), type=float)
        _option(student, "--init", "student.init", "teacher (copy or project what the shapes allow), random, or the "
                "folder of a general student of the same type and shape", (cfg.StudentConfig, "init"))
    return student


def _gate_options(parser) -> None:
    group = parser.add_argument_group("gate 1")
    _option(group, "--min-retention", "gate.min_retention", "student/teacher test accuracy must reach this",
            (cfg.GateConfig, "min_retention"), type=float)
    _option(group, "--min-agreement", "gate.min_agreement", "floor on the fraction of identical predictions",
            (cfg.GateConfig, "min_agreement"), type=float)
    _option(group, "--min-gain-over-majority", "gate.min_gain_over_majority", "the student's accuracy must exceed "
            "the test split's majority-class rate by this much", (cfg.GateConfig, "min_gain_over_majority"), type=float)


def _quantization_options(group) -> None:
    _option(group, "--onnx-weight-type", "export.onnx_weight_type", "ONNX int8-dynamic weight type",
            (cfg.QuantizationOptions, "onnx_weight_type"), choices=["qint8", "quint8"])
    _option(group, "--per-channel", "export.per_channel", "per-channel int8 weight scales; --no-per-channel for "
            "per-tensor", (cfg.QuantizationOptions, "per_channel"), action=argparse.BooleanOptionalAction)
    _option(group, "--onnx-graph", "export.onnx_graph", "ONNX graph: fused (onnxruntime contrib operators), plain "
            "(standard operators only, for runtimes without them) or auto (fused for fp32/fp16, plain for int8)",
            (cfg.QuantizationOptions, "onnx_graph"), choices=["auto", "fused", "plain"])
    _option(group, "--calibration-size", "export.calibration_size", "training texts used to calibrate static int8",
            (cfg.QuantizationOptions, "calibration_size"), type=int)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line like every other error of this tool."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mobile-distill",
        description="Distil BERT text classifiers into small students, export them for phones, and gate every "
        "exported file on accuracy in its own runtime. Each verb is one pipeline stage; `run` chains them from a "
        "recipe file.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in (_add_run, _add_fine_tune, _add_general, _add_distill, _add_gate, _add_qat, _add_export, _add_bench,
                _add_diagnose, _add_search, _add_app_bundle, _add_report, _add_emulate):
        _verbosity_options(add(verbs))
    return parser


def _add_run(verbs):
    run = verbs.add_parser("run", help="run the stages a recipe names (default: the built-in default recipe)",
                           description="Run a recipe: " + " -> ".join(cfg.STAGES) + ". The resolved recipe is "
                           "copied into the output folder. Built-in recipes: " + ", ".join(cfg.builtin_recipe_names()))
    run.add_argument("recipe", nargs="?", default="default", help="recipe YAML file or built-in name (default: default)")
    run.add_argument("--quick", action="store_true", help="use the built-in quick recipe (a small subsample)")
    _option(run, ["-o", "--output-dir"], "run.output_dir", "override the recipe's output_dir")
    _option(run, "--cache-dir", "run.cache_dir", "override the recipe's cache_dir (fine-tuned teachers)")
    return run


def _add_search(verbs):
    search = verbs.add_parser(
        "search", help="find the most accurate student that meets a latency, size and accuracy budget",
        description="Search students (DistilBERT depths, pruned, TinyBERT widths, BiLSTM, CNN; or the recipe's "
        "search.candidates) for the budget: every candidate is timed untrained in the target's runtime, only those "
        "that fit are distilled (largest first, stopped early when far under the accuracy floor), and their artifacts "
        "are measured in their own runtime. Writes OUTPUT/search/search.md, search.json and pareto.png; a rerun "
        "reuses every finished candidate. Exits 1 when no artifact meets the budget.")
    search.add_argument("recipe", nargs="?", default="default", help="recipe (data, teacher, search section) YAML "
                        "file or built-in name (default: default)")
    _option(search, ["-o", "--output-dir"], "run.output_dir", "override the recipe's output_dir (the search goes to "
            "OUTPUT/search)")
    budget = search.add_argument_group("budget")
    _option(budget, "--target", "budget.target", "the runtime latency is measured in", (cfg.BudgetConfig, "target"),
            choices=list(TARGET_NAMES))
    _option(budget, "--threads", "budget.threads", "threads latency is measured at", (cfg.BudgetConfig, "threads"),
            type=int)
    _option(budget, "--seq-len", "budget.seq_len", "tokens per text; default: the recipe's data.max_length", type=int)
    _option(budget, "--max-latency-ms", "budget.max_latency_ms", "median batch-1 latency limit in ms", type=float)
    _option(budget, "--max-size-mb", "budget.max_size_mb", "model file size limit in MB", type=float)
    _option(budget, "--max-accuracy-drop", "budget.max_accuracy_drop", "test accuracy points the artifact may lose "
            "against the teacher", (cfg.BudgetConfig, "max_accuracy_drop"), type=float)
    _option(budget, "--time-limit-minutes", "search.time_limit_minutes", "no candidate starts training after this",
            (cfg.SearchConfig, "time_limit_minutes"), type=float)
    return search


def _add_fine_tune(verbs):
    fine_tune = verbs.add_parser("fine-tune", help="fine-tune a teacher classifier on labelled data",
                                 description="Fine-tune a local BERT-family model (or a built-in encoder) into the "
                                 "teacher at OUTPUT/teacher. Results are cached by a hash of model, data and settings.")
    fine_tune.add_argument("model", nargs="?", default=None, help="built-in encoder name or local model folder "
                           f"(default: {cfg.TeacherConfig.model_fields['model'].default})")
    _option(fine_tune, ["-o", "--output-dir"], "run.output_dir", "run folder; the teacher goes to OUTPUT/teacher",
            required=True)
    _option(fine_tune, "--cache-dir", "run.cache_dir", "cache of fine-tuned teachers", (cfg.Recipe, "cache_dir"))
    _data_options(fine_tune)
    _train_options(fine_tune, cfg.TeacherConfig().fine_tune)
    return fine_tune


def _add_general(verbs):
    general = verbs.add_parser(
        "general", help="general distillation: a student learns a pretrained teacher on unlabeled text",
        description="Distil the pretrained TEACHER into a general student on an unlabeled corpus, streamed (corpora "
        "larger than memory work), and write it to OUTPUT/general; `mobile-distill distill --init OUTPUT/general` "
        "starts task distillation from it. Runs under torchrun / accelerate launch across processes and nodes.")
    general.add_argument("teacher", nargs="?", default=None, help="pretrained encoder folder or built-in name "
                         f"(default: {cfg.TeacherConfig.model_fields['model'].default})")
    _option(general, ["-o", "--output-dir"], "run.output_dir", "run folder; the general student goes to "
            "OUTPUT/general", required=True)
    corpus = general.add_argument_group("corpus")
    _option(corpus, "--corpus", "corpus.source", cfg.CorpusConfig.model_fields["source"].description,
            (cfg.CorpusConfig, "source"))
    _option(corpus, "--text-column", "corpus.text_column", "text column of a CSV/JSONL/Parquet corpus",
            (cfg.CorpusConfig, "text_column"))
    _option(corpus, "--shuffle-buffer", "corpus.shuffle_buffer", "texts held in the streaming shuffle buffer",
            (cfg.CorpusConfig, "shuffle_buffer"), type=int)
    _option(corpus, "--max-length", "general.max_length", "tokens per sequence; longer texts are cut into several",
            (cfg.GeneralConfig, "max_length"), type=int)
    _student_options(general, with_init=False)
    training = general.add_argument_group("training")
    defaults = cfg.GeneralConfig().train
    _option(training, "--objective", "general.objective", "tinybert (hidden states and attention; any teacher) or "
            "distilbert (triple loss; a masked-LM teacher)", (cfg.GeneralConfig, "objective"),
            choices=["tinybert", "distilbert"])
    _option(training, "--max-steps", "general.max_steps", "optimiser steps", (cfg.GeneralConfig, "max_steps"), type=int)
    _option(training, "--learning-rate", "train.learning_rate", "peak learning rate", (defaults, "learning_rate"),
            type=float)
    _option(training, "--batch-size", "train.batch_size", "sequences per step per process", (defaults, "batch_size"),
            type=int)
    _option(training, "--gradient-accumulation-steps", "train.gradient_accumulation_steps", "steps to accumulate "
            "before an update: effective batch = batch size x this x processes",
            (defaults, "gradient_accumulation_steps"), type=int)
    _option(training, "--save-steps", "train.save_steps", "checkpoint every N steps; a rerun resumes from the last",
            (defaults, "save_steps"), type=int)
    _option(training, "--temperature", "general.temperature", "distilbert objective: temperature of the soft targets",
            (cfg.GeneralConfig, "temperature"), type=float)
    _option(training, "--mlm-probability", "general.mlm_probability", "distilbert objective: share of tokens masked",
            (cfg.GeneralConfig, "mlm_probability"), type=float)
    _option(training, "--seed", "run.seed", "seed for shuffling and initialisation", (cfg.Recipe, "seed"), type=int)
    _option(training, "--threads", "run.threads", "torch CPU threads", (cfg.Recipe, "threads"), type=int)
    return general


def _add_distill(verbs):
    distill = verbs.add_parser("distill", help="distil a teacher into a student and run gate 1",
                               description="Build a student from TEACHER (a local classifier folder), distil it on the "
                               "data, write it to OUTPUT/student, then compare it with the teacher on the test split "
                               "(gate 1). Exits 1 when the gate fails.")
    distill.add_argument("teacher", help="teacher classifier folder (e.g. RUN/teacher)")
    _option(distill, ["-o", "--output-dir"], "run.output_dir", "run folder; the student goes to OUTPUT/student",
            required=True)
    _data_options(distill)
    _train_options(distill, cfg.DistillConfig().train)
    student = _student_options(distill)
    _option(student, "--trim-vocabulary", "student.trim_vocabulary", "keep only the wordpieces the task's texts use "
            "(plus special tokens and single characters): a smaller embedding table", action="store_const", const=True)
    losses = distill.add_argument_group("losses and schedule")
    _option(losses, "--temperature", "distill.temperature", "softmax temperature of the soft targets",
            (cfg.DistillConfig, "temperature"), type=float)
    _option(losses, "--schedule", "distill.schedule", "joint, two-stage (TinyBERT) or progressive (MobileBERT); "
            "default: the student type's", choices=["joint", "two-stage", "progressive"])
    _option(losses, "--attention-heads", "distill.attention_heads", "compare attention head by head, or the mean over "
            "heads; default: per-head when the head counts agree", choices=["per-head", "mean"])
    for field in cfg.LossWeights.model_fields:
        description = cfg.LossWeights.model_fields[field].description.split(" (")[0]
        _option(losses, f"--alpha-{field.replace('_', '-')}", f"weights.{field}",
                f"weight of the {description}; default: the student type's (docs/recipes.md)", type=float)
    _option(losses, "--intermediate-epochs", "intermediate.epochs", "epochs of the intermediate stage (two-stage) or of "
            "each layer's stage (progressive)", (cfg.DistillConfig().intermediate, "epochs"), type=float)
    _option(losses, "--intermediate-learning-rate", "intermediate.learning_rate", "peak learning rate of those stages",
            (cfg.DistillConfig().intermediate, "learning_rate"), type=float)
    _option(losses, "--intermediate-batch-size", "intermediate.batch_size", "examples per step per process in those "
            "stages", (cfg.DistillConfig().intermediate, "batch_size"), type=int)
    _option(losses, "--augment", "augment.copies", "TinyBERT's data augmentation: this many rewritten copies of each "
            "training text, taught by the teacher's soft targets (default: off)", type=int)
    _option(losses, "--augment-masked-lm", "augment.masked_lm", "augmentation candidates from this masked-LM model's "
            "predictions (the teacher's vocabulary), as in the paper; default: the teacher's nearest words")
    _option(student, "--transfer", "transfer.source", "unlabeled transfer set (built-in name or file) taught by "
            "soft targets only")
    _option(student, "--transfer-column", "transfer.text_column", "text column of the transfer set",
            (cfg.TransferConfig, "text_column"))
    _option(student, "--transfer-limit", "transfer.limit", "use at most this many transfer texts", type=int)
    student.add_argument("--no-gate", action="store_true", help="skip gate 1 (e.g. to gate later with `mobile-distill gate`)")
    _gate_options(distill)
    return distill


def _add_gate(verbs):
    gate = verbs.add_parser("gate", help="gate 1: compare a student with its teacher on the test split",
                            description="Evaluate TEACHER and STUDENT on the same test split; write "
                            "STUDENT/distill_report.json and a model card. Exits 1 on FAIL.")
    gate.add_argument("teacher", help="teacher classifier folder")
    gate.add_argument("student", help="student classifier folder")
    _option(gate, "--data", "data.source", "prepared data folder (RUN/data) holding the test split", required=True)
    _option(gate, "--max-length", "data.max_length", "tokens per text", (cfg.DataConfig, "max_length"), type=int)
    _gate_options(gate)
    return gate


def _add_qat(verbs):
    qat = verbs.add_parser("qat", help="int8 quantization-aware training of a student against its teacher",
                           description="Train STUDENT with int8 fake quantization of every linear layer (weights per "
                           "channel, activations per token) on the data's training split, learning from TEACHER's "
                           "soft targets and the labels; write the result, a plain student folder with qat_log.json "
                           "(validation accuracy with fake quantization before and after), to OUTPUT/student-qat. "
                           "Export its int8 precisions and bench them beside the student's own.")
    qat.add_argument("teacher", help="teacher classifier folder (e.g. RUN/teacher)")
    qat.add_argument("student", help="student classifier folder (e.g. RUN/student)")
    _option(qat, ["-o", "--output-dir"], "run.output_dir", "run folder; the QAT student goes to OUTPUT/student-qat",
            required=True)
    _data_options(qat)
    _train_options(qat, cfg.QATConfig().train)
    losses = qat.add_argument_group("losses")
    _option(losses, "--temperature", "qat.temperature", "softmax temperature of the soft targets",
            (cfg.QATConfig, "temperature"), type=float)
    _option(losses, "--alpha-kd", "qat.kd", "weight of the teacher's soft targets", (cfg.QATConfig, "kd"), type=float)
    _option(losses, "--alpha-ce", "qat.ce", "weight of the hard-label cross-entropy", (cfg.QATConfig, "ce"), type=float)
    return qat


def _add_export(verbs):
    export = verbs.add_parser(
        "export", help="export a classifier to ONNX, TFLite, Core ML or ExecuTorch at one or more precisions",
        description="Export MODEL (a local HF classifier folder, e.g. RUN/student) to artifact folders: model file, "
        "manifest.json, tokenizer files, labels.txt, tokenizer_golden.json. One target, precision and length writes "
        "OUTPUT itself; more write OUTPUT/<target>-<precision>-s<len>/. A failed export leaves nothing behind.")
    export.add_argument("model", help="classifier folder to export (e.g. RUN/student)")
    _option(export, ["-o", "--output-dir"], "run.output_dir", "artifact folder (or parent folder for several)",
            required=True)
    _option(export, "--target", "export.targets", "target format; repeat for several", (cfg.ExportConfig, "targets"),
            action="append", choices=[*TARGET_NAMES, ALL])
    _option(export, "--precision", "export.precisions", "precision; repeat for several; default: every one each "
            "target makes", action="append", choices=[*PRECISION_NAMES, ALL])
    _option(export, "--seq-len", "export.seq_lens", "static sequence length; repeat for several",
            (cfg.ExportOptions, "seq_len"), action="append", type=int)
    _data_options(export, labelled_only=True, data_help="texts for the sample batch, int8 calibration (train split) "
                  "and the golden tokenizer file (test split): a prepared data folder, built-in dataset or file; "
                  "default: MODEL/../data if it exists, else")
    quantization = export.add_argument_group("quantization")
    _quantization_options(quantization)
    _option(quantization, "--keep-float", "export.keep_float", "leave this layer unquantized (the target's own name, "
            "as diagnose ranks them); repeatable", action="append")
    return export


def _add_bench(verbs):
    bench = verbs.add_parser(
        "bench", help="gate 2: run artifacts on the test split in their own runtimes; latency, memory, reports",
        description="Run every ARTIFACT (an artifact folder, or a folder of them such as RUN/artifacts) on the same "
        "labelled test split through its own runtime, beside the PyTorch reference it was exported from and the "
        "teacher. Checks each file's interface contract first, then accuracy, agreement, logit error and KL, then "
        "batch-1 latency per thread count, load and first-inference time and the model's memory, each model in fresh "
        "processes holding only its runtime, in rounds interleaved across models. Gate 2 judges every artifact; failures are diagnosed. Writes bench.json, junit.xml, report.md "
        "and report.html to OUTPUT. Exits 1 when any artifact fails (Core ML off macOS is NOT RUN, not a failure).")
    bench.add_argument("artifacts", nargs="+", help="artifact folders, or folders holding them")
    _option(bench, ["-o", "--output-dir"], "run.output_dir", "where the reports go (default: RUN/bench beside "
            "RUN/artifacts)")
    _data_options(bench, labelled_only=True, data_help="prepared data folder (RUN/data) or data source; its test "
                  "split is used; default: the reference's RUN/data")
    bench.add_argument("--reference", help="PyTorch model the artifacts came from (default: the path in their manifest)")
    bench.add_argument("--teacher", help="teacher classifier, shown for context and the chained budget "
                       "(default: RUN/teacher beside the reference, if it exists; 'none' to leave it out)")
    bench.add_argument("--max-length", type=int, help="tokens per text for the PyTorch models (default: the "
                       "longest artifact sequence length)")
    _bench_timing_and_gate_options(bench)
    _bench_device_options(bench)
    return bench


def _bench_timing_and_gate_options(bench) -> None:
    timing = bench.add_argument_group("timing")
    _option(timing, "--threads", "bench.threads", "comma-separated thread counts to time", (cfg.BenchConfig, "threads"),
            type=_int_tuple)
    _option(timing, "--runs", "bench.runs", "timed batch-1 runs per thread count and round, at least",
            (cfg.BenchConfig, "runs"), type=int)
    _option(timing, "--min-duration", "bench.min_duration_s", "seconds of timed runs per thread count and round, at "
            "least", (cfg.BenchConfig, "min_duration_s"), type=float)
    _option(timing, "--rounds", "bench.rounds", "rounds per model, each a fresh process, interleaved across models; "
            "figures are medians over rounds", (cfg.BenchConfig, "rounds"), type=int)
    _option(timing, "--warmup", "bench.warmup", "untimed runs first, per round", (cfg.BenchConfig, "warmup"), type=int)
    _option(timing, "--max-round-spread", "bench.max_round_spread", "warn when a model's rounds' p50s differ by more "
            "than this (max / min - 1)", (cfg.BenchConfig, "max_round_spread"), type=float)
    _option(timing, "--release-timing", "bench.release_timing", cfg.BenchConfig.model_fields["release_timing"].description,
            action="store_const", const=True)
    _option(timing, "--no-timing", "bench.timing", "skip latency, load time and memory: accuracy and gate 2 only",
            action="store_const", const=False)
    gate = bench.add_argument_group("gate 2")
    _option(gate, "--max-drop", "gate2.max_accuracy_drop", "accuracy points an artifact may lose vs the reference, "
            "e.g. int8-dynamic=1.0; repeatable; defaults: " + _per_precision_defaults("max_accuracy_drop"),
            action="append", metavar="PRECISION=POINTS")
    _option(gate, "--min-agreement", "gate2.min_agreement", "floor on identical predictions with the reference, "
            "e.g. fp16=0.995; repeatable; defaults: " + _per_precision_defaults("min_agreement"),
            action="append", metavar="PRECISION=FRACTION")
    _option(gate, "--min-teacher-retention", "gate2.min_teacher_retention", "chained budget: artifact accuracy / "
            "teacher accuracy must reach this", (cfg.Gate2Config, "min_teacher_retention"), type=float)
    _option(gate, "--no-diagnose", "bench.diagnose", "do not diagnose failing artifacts", action="store_const",
            const=False)
    _option(gate, "--auto-fallback", "bench.auto_fallback", "re-quantize a failing int8 ONNX, TFLite or ExecuTorch "
            "artifact with its most sensitive layers in float (ranked by a per-layer comparison) until it passes; "
            "the passing one joins the report as NAME-fallback", action="store_const", const=True)


def _bench_device_options(bench) -> None:
    lane = bench.add_argument_group("aarch64 lane (the phone's CPU kernels, under emulation)")
    _option(lane, "--emulate", "bench.emulate", "comma-separated emulated ARM CPUs (" + ", ".join(CPUS) + ", or all): "
            "every ONNX, TFLite and ExecuTorch artifact also runs through the aarch64 build of its runtime on each, "
            "judged by gate 2 as a device of its own; set up once with `mobile-distill emulate --setup`",
            type=_name_tuple, metavar="CPUS")
    _option(lane, "--emulate-rows", "bench.emulate_rows", "test rows (a seeded sample) per artifact and CPU",
            (cfg.BenchConfig, "emulate_rows"), type=int)
    bench.add_argument("--device-results", action="append", default=[], metavar="FILE",
                       help="results JSON of the Android demo's benchmark screen (repeatable): merged into the "
                       "reports beside the host numbers and judged by gate 2, the device named")
    baseline = bench.add_argument_group("baseline (release gating)")
    _option(baseline, "--baseline", "bench.baseline", "bench.json of an earlier run: fail on regressions against it")
    _option(baseline, "--max-latency-increase", "bench.max_latency_increase", "allowed relative p50 latency increase "
            "over the baseline", (cfg.BenchConfig, "max_latency_increase"), type=float)
    _option(baseline, "--max-baseline-accuracy-drop", "bench.max_baseline_accuracy_drop", "allowed accuracy loss "
            "against the baseline, in points", (cfg.BenchConfig, "max_baseline_accuracy_drop"), type=float)


def _add_diagnose(verbs):
    diagnose = verbs.add_parser(
        "diagnose", help="name the cause of a collapsed artifact (input binding, mask, dtype, tokenizer, fp16, layer)",
        description="Probe ARTIFACT against the PyTorch model it came from for the known causes of post-conversion "
        "collapse: inputs bound in the wrong order, attention mask ignored or inverted, token types, integer dtype "
        "and range, tokenizer mismatch, padding length, fp16 overflow, labels in another order, a manifest the file "
        "contradicts, and the first layer where a quantized model diverges. Prints what it finds; writes "
        "diagnosis.json with -o. `bench` runs it on every failure.")
    diagnose.add_argument("artifact", help="artifact folder")
    diagnose.add_argument("--reference", help="PyTorch model it came from (default: the path in its manifest)")
    _data_options(diagnose, labelled_only=True, data_help="prepared data folder or data source; its test split is "
                  "used; default: the reference's RUN/data")
    _option(diagnose, "--texts", "diagnose.texts", "test texts to probe with", (cfg.DiagnoseConfig, "texts"), type=int)
    diagnose.add_argument("-o", "--output", help="write the findings to this JSON file")
    return diagnose


def _add_app_bundle(verbs):
    bundle = verbs.add_parser(
        "app-bundle", help="copy artifacts and a labelled test sample into the Android demo's assets",
        description="Prepare the Android demo (android_demo/) in one command: copy each ARTIFACT's model file, "
        "manifest, vocab, labels and golden tokenizer file into OUTPUT (the app's assets folder), with "
        "bundle.json (each model file's SHA-256) and test_sample.json (labelled test texts with the PyTorch "
        "reference's prediction for each, for the app's benchmark screen). TFLite and ONNX artifacts of one student.")
    bundle.add_argument("artifacts", nargs="+", help="artifact folders, or folders holding them (RUN/artifacts)")
    bundle.add_argument("-o", "--output-dir", required=True, help="the app's assets folder, e.g. "
                        "android_demo/app/src/main/assets")
    _data_options(bundle, labelled_only=True, data_help="prepared data folder (RUN/data) or data source; the "
                  "sample comes from its test split; default: the reference's RUN/data")
    bundle.add_argument("--reference", help="PyTorch model the artifacts came from (default: the path in their manifest)")
    bundle.add_argument("--sample-size", type=int, default=300, help="labelled test texts the app runs (default: 300)")
    return bundle


def _add_report(verbs):
    report = verbs.add_parser(
        "report", help="rewrite a bench's reports, merging phone results (--device-results) into gate 2",
        description="Read BENCH (a bench folder or its bench.json), merge each --device-results file written by the "
        "Android demo's benchmark screen (the phone's accuracy, agreement with the reference and latency, beside "
        "the host numbers), judge the device runs with the bench's gate 2 thresholds, and rewrite bench.json, "
        "junit.xml, report.md and report.html. Exits 1 when any artifact fails, on the host or on a device. A "
        "results file from another export than the benched one (model SHA-256 differs) is an error.")
    report.add_argument("bench", help="bench folder (RUN/bench) or bench.json")
    report.add_argument("--device-results", action="append", default=[], metavar="FILE",
                        help="results JSON pulled from the phone; repeatable")
    report.add_argument("-o", "--output-dir", help="where the reports go (default: the bench folder)")
    return report


def _add_emulate(verbs):
    emulate = verbs.add_parser(
        "emulate", help="the aarch64 lane: set it up, show its emulated CPUs, or serve an artifact on one",
        description="The aarch64 lane runs exported files through the aarch64 builds of their runtimes under qemu, "
        "one emulated ARM CPU at a time (" + ", ".join(CPUS) + "): the kernels a phone's CPU takes. `bench --emulate` "
        "uses it. --setup builds it once into a cache outside the repo (qemu, an arm64 Debian userland, the aarch64 "
        "wheels at this host's runtime versions); --info shows each CPU's features as its runtimes see them; --serve "
        "runs ARTIFACT on --cpu behind the line-delimited JSON protocol of the Android core's JVM harness.")
    mode = emulate.add_mutually_exclusive_group(required=True)
    mode.add_argument("--setup", action="store_true", help="build (or check) the lane's toolchain")
    mode.add_argument("--info", action="store_true", help="the toolchain's versions and each emulated CPU's features")
    mode.add_argument("--serve", metavar="ARTIFACT", help="serve this artifact folder on stdin/stdout from --cpu")
    emulate.add_argument("--cpu", default="cortex-a76", choices=list(CPUS), help="the emulated CPU (default: "
                         "cortex-a76)")
    return emulate


def _per_precision_defaults(field: str) -> str:
    return ", ".join(f"{name}={value}" for name, value in field_default(cfg.Gate2Config, field).items())


def _name_tuple(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated whole numbers, e.g. 1,2") from None


def per_precision(items: list[str], option: str) -> dict[str, float]:
    """``["int8-dynamic=1.0", ...]`` as given to a repeatable per-precision ``option``, as a dict."""
    values = {}
    for item in items:
        precision, _, number = item.partition("=")
        try:
            values[precision] = float(number)
        except ValueError:
            raise ConfigError(f"{option} {item!r}: expected PRECISION=NUMBER, e.g. int8-dynamic=1.0") from None
    return values
