"""`mobile-distill`: a thin command line over the Python API. It parses (the verbs and options are in
`options.py`), builds typed configs, calls the API for the verb, and prints results. Errors the user can
fix are one line, no traceback.

Importing this module imports nothing heavy (no torch): ``mobile-distill --help`` answers at once.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from pydantic import BaseModel, ValidationError

from . import config as cfg
from .errors import ConfigError, GateFailure, MobileDistillError
from .layout import BENCH_JSON, BENCH_LOG, DIAGNOSE_LOG, RunLayout, is_prepared_data
from .options import ALL, build_parser, field_default, given_options, option_flags, per_precision
from .runtime import OFFLINE_ENVIRONMENT, is_main_process

# ---- building configs from what was given ----

class _Verb:
    """One invocation: the parsed arguments and the flag of every config field this verb sets."""

    def __init__(self, args, flags: dict[str, str]):
        self.args = args
        self.flags = flags

    def given(self, prefix: str) -> dict:
        return given_options(self.args, prefix)

    def value(self, field: str, default=None):
        value = getattr(self.args, field.replace(".", "__"), None)
        return default if value is None else value

    def build(self, config_class: type[BaseModel], prefix: str, base: BaseModel | None = None, /, **extra):
        """``config_class`` from ``base`` (or its defaults), the given options under ``prefix`` that are its
        fields, and ``extra``."""
        given = {key: value for key, value in self.given(prefix).items() if key in config_class.model_fields}
        values = {**(base.model_dump() if base is not None else {}), **given, **extra}
        try:
            return config_class.model_validate(values)
        except ValidationError as error:
            raise ConfigError(self.explain(error, prefix)) from None

    def explain(self, error: ValidationError, prefix: str) -> str:
        problems = []
        for item in error.errors():
            parts = [str(part) for part in item["loc"] if not isinstance(part, int) and part != "[key]"]
            where = ".".join(parts)
            for size in range(len(parts), 0, -1):  # the option setting the longest leading part of the path
                flag = self.flags.get(".".join([prefix, *parts[:size]]))
                if flag:
                    where = " ".join([flag, *parts[size:]])
                    break
            message = "unknown option" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"{where}: {message}")
        return "; ".join(problems)

    def flagged(self, error: MobileDistillError) -> str:
        """The error's message with the config fields it names written as this verb's flags."""
        message = str(error)
        for field in error.fields:
            flag = next((flag for path, flag in self.flags.items()  # "seq_len" is set by the list "export.seq_lens"
                         if path.split(".")[-1] in (field, field + "s")), None)
            if flag:
                # the field as a word of the sentence, not inside a path or a longer name
                message = re.sub(rf"(?<![^\s(]){re.escape(field)}(?=[\s:,)]|$)", flag, message, count=1)
        return message


def _train(verb: _Verb, base: cfg.TrainConfig) -> cfg.TrainConfig:
    return verb.build(cfg.TrainConfig, "train", base)


def _data(verb: _Verb, recipe: cfg.Recipe):
    """Labelled data for fine-tune, distill and qat: --data (a prepared folder or a source), else RUN/data
    if it was prepared there, else the default source."""
    from .data import PreparedData
    from .pipeline import prepare_data

    source, folder = verb.value("data.source"), RunLayout(Path(recipe.output_dir)).data
    if source is None and is_prepared_data(folder):
        source = str(folder)
    if is_prepared_data(source):
        return PreparedData.load(Path(source))
    return prepare_data(verb.build(cfg.DataConfig, "data"), folder, recipe.seed)


def _lengths(verb: _Verb, **extra) -> cfg.DataConfig:
    """The data settings a stage reads beside the data itself (--max-length, a transfer set), validated:
    the data is given separately (`_data`), so the source here is the default one."""
    return verb.build(cfg.DataConfig, "data", None, source=field_default(cfg.DataConfig, "source"), **extra)


def _prepared(verb: _Verb, model: Path, fallback: str | None = None):
    """Labelled data already split: --data (a prepared folder or a source), else RUN/data of the run the
    model belongs to, else ``fallback``."""
    from .data import PreparedData, load_data

    beside = RunLayout.of_model(model).data
    source = verb.value("data.source") or (str(beside) if is_prepared_data(beside) else fallback)
    if source is None:
        raise ConfigError(f"no labelled data: pass --data (no prepared data beside {model})")
    if is_prepared_data(source):
        return PreparedData.load(Path(source))
    return load_data(verb.build(cfg.DataConfig, "data", source=source))


# ---- the verbs ----

def _printed(call, show, shown_on_failure):
    """``show(call())``; when a gate fails, ``show`` what the failure carries (``shown_on_failure(failure)``),
    then let the failure end the command (exit 1)."""
    try:
        value = call()
    except GateFailure as failure:
        show(shown_on_failure(failure))
        raise
    show(value)
    return value


def _cmd_run(verb: _Verb) -> int:
    from .pipeline import run_recipe

    args = verb.args
    recipe = cfg.load_recipe("quick" if args.quick else args.recipe)
    recipe = recipe.model_copy(update=verb.given("run"))
    _printed(lambda: run_recipe(recipe), _print_verdicts, lambda failure: getattr(failure, "result", None))
    return 0


def _print_verdicts(result) -> None:
    """The gate tables at the end of a run: gate 1, then gate 2."""
    from . import ui

    if result is None:
        return
    if result.gate_report is not None:
        ui.print_gate1(result.gate_report)
    if result.bench_report is not None:
        from .bench.report import print_verdicts, report_paths

        print_verdicts(result.bench_report, result.report_paths or report_paths(result.layout.bench))
    ui.print_run_summary(result)


def _cmd_search(verb: _Verb) -> int:
    from . import ui
    from .pipeline import search_recipe

    recipe = cfg.load_recipe(verb.args.recipe).model_copy(update=verb.given("run"))
    budget = verb.build(cfg.BudgetConfig, "budget", recipe.search.budget)
    search = verb.build(cfg.SearchConfig, "search", recipe.search, budget=budget)
    result = search_recipe(recipe.model_copy(update={"search": search}))
    chosen = result.chosen
    ui.say(f"report: {result.paths['md']} (plot {result.paths['plot']})")
    if chosen is None:
        ui.say("no artifact met the budget: see the report's trained artifacts for the closest ones")
        return 1
    ui.say(f"chosen: {chosen['path']} (accuracy {chosen['accuracy']:.4f}, {chosen['latency_ms']:.2f} ms, "
           f"{chosen['size_mb']:.2f} MB, gate 2 {chosen['gate2']})")
    return 0


def _cmd_fine_tune(verb: _Verb) -> int:
    from . import ui
    from .pipeline import execute

    teacher = verb.build(cfg.TeacherConfig, "teacher", model=verb.args.model or cfg.TeacherConfig().model,
                         fine_tune=_train(verb, cfg.TeacherConfig().fine_tune))
    recipe = verb.build(cfg.Recipe, "run", None, teacher=teacher, data=_lengths(verb))
    run = execute(recipe, ("fine-tune",), data=_data(verb, recipe))
    accuracy = run.teacher_report.get("validation", {}).get("accuracy")
    ui.say(f"teacher -> {run.teacher}" + (" (from cache)" if run.result.skipped else "")
           + (f"; validation accuracy {accuracy:.4f}" if accuracy is not None else ""))
    return 0


def _cmd_general(verb: _Verb) -> int:
    from . import ui
    from .context import RunContext
    from .general import general_distill
    from .models import resolve_model_path
    from .runtime import torch_threads

    recipe = verb.build(cfg.Recipe, "run", None)
    context = RunContext.of(recipe)
    student = verb.build(cfg.StudentConfig, "student")
    config = verb.build(cfg.GeneralConfig, "general", corpus=verb.build(cfg.CorpusConfig, "corpus"),
                        train=verb.build(cfg.TrainConfig, "train", cfg.GeneralConfig().train))
    teacher = resolve_model_path(verb.args.teacher or cfg.TeacherConfig().model)
    with torch_threads(context.threads):  # a stage of its own: it writes RUN/general, not the run's cache
        path = general_distill(teacher, config, student, context.layout.general, context)
    ui.say(f"general student -> {path}")
    return 0


def _cmd_distill(verb: _Verb) -> int:
    from .pipeline import execute

    distill = verb.build(cfg.DistillConfig, "distill", train=_train(verb, cfg.DistillConfig().train),
                         weights=verb.build(cfg.LossWeights, "weights"),
                         intermediate=verb.build(cfg.TrainConfig, "intermediate", cfg.DistillConfig().intermediate),
                         augment=verb.build(cfg.AugmentConfig, "augment") if verb.given("augment") else None)
    transfer = verb.build(cfg.TransferConfig, "transfer") if verb.value("transfer.source") else None
    recipe = verb.build(cfg.Recipe, "run", None, student=verb.build(cfg.StudentConfig, "student"), distill=distill,
                        gate=verb.build(cfg.GateConfig, "gate"), data=_lengths(verb, transfer=transfer))
    # under torchrun, rank 0 alone evaluates and writes the report
    stages = ("distill",) if verb.args.no_gate or not is_main_process() else ("distill", "gate")
    _printed(lambda: execute(recipe, stages, data=_data(verb, recipe), teacher=Path(verb.args.teacher)).result,
             _print_student, lambda failure: failure.result)
    return 0


def _print_student(result) -> None:
    from . import ui

    if not is_main_process():
        return
    ui.say(f"student -> {result.layout.student}" + (" (already made with these settings)" if result.skipped else ""))
    if result.gate_report is not None:
        ui.print_gate1(result.gate_report)


def _cmd_qat(verb: _Verb) -> int:
    from . import ui
    from .pipeline import execute

    qat = verb.build(cfg.QATConfig, "qat", train=_train(verb, cfg.QATConfig().train))
    recipe = verb.build(cfg.Recipe, "run", None, qat=qat, data=_lengths(verb))
    run = execute(recipe, ("qat",), data=_data(verb, recipe), teacher=Path(verb.args.teacher),
                  student=Path(verb.args.student))
    ui.say(f"QAT student -> {run.layout.qat_student}"
           + (" (already made with these settings)" if run.result.skipped else ""))
    return 0


def _cmd_gate(verb: _Verb) -> int:
    from .data import PreparedData

    gate = verb.build(cfg.GateConfig, "gate")
    source = Path(verb.value("data.source"))
    if not is_prepared_data(source):
        raise ConfigError(f"--data {source}: not a prepared data folder (RUN/data); gate compares the models on the "
                          "test split a run prepared")
    data = PreparedData.load(source)
    max_length = verb.value("data.max_length", field_default(cfg.DataConfig, "max_length"))
    return _gate_and_print(Path(verb.args.teacher), Path(verb.args.student), data, gate, max_length)


def _gate_and_print(teacher: Path, student: Path, data, gate: cfg.GateConfig, max_length: int) -> int:
    from . import ui
    from .gate import gate_student

    _printed(lambda: gate_student(teacher, student, data, gate, max_length), ui.print_gate1,
             lambda failure: failure.report)
    return 0


def _cmd_export(verb: _Verb) -> int:
    from . import ui
    from .export import export, export_all

    model = Path(verb.args.model)
    given = verb.given("export")
    targets = None if ALL in given.get("targets", [ALL]) else tuple(given["targets"])
    precisions = None if ALL in given.get("precisions", [ALL]) else tuple(given["precisions"])
    seq_lens = tuple(given.get("seq_lens") or [field_default(cfg.ExportOptions, "seq_len")])
    options = verb.build(cfg.ExportOptions, "export", seq_len=seq_lens[0],
                         keep_float=tuple(given.get("keep_float") or ()))
    train_texts, test_texts = _export_texts(verb, model)
    output = Path(verb.value("run.output_dir"))
    if targets and precisions and len(targets) == len(precisions) == len(seq_lens) == 1:
        written = [export(model, targets[0], precisions[0], output, options, train_texts, test_texts)]
    else:
        written = export_all(model, output, list(targets) if targets else None, seq_lens, options, train_texts,
                             test_texts, list(precisions) if precisions else None)
    for path in written:
        ui.say(f"exported -> {path}")
    return 0


def _export_texts(verb: _Verb, model: Path) -> tuple[list[str], list[str]]:
    """Training texts (sample batch, calibration) and test texts (golden file) for an export."""
    data = _prepared(verb, model, fallback=field_default(cfg.DataConfig, "source"))
    return list(data.splits["train"]["text"]), list(data.splits["test"]["text"])


def _cmd_bench(verb: _Verb) -> int:
    from .bench import bench_prepared, expand_artifacts
    from .bench.sources import find_reference, find_teacher, longest_sequence

    args = verb.args
    settings = verb.build(cfg.BenchConfig, "bench")  # a mistyped option fails before any file is read
    artifacts = expand_artifacts([Path(path) for path in args.artifacts])
    reference = find_reference(artifacts[0], args.reference)
    teacher = find_teacher(reference, args.teacher)
    gate_values = verb.given("gate2")
    for field in ("max_accuracy_drop", "min_agreement"):
        if field in gate_values:
            gate_values[field] = per_precision(gate_values[field], verb.flags[f"gate2.{field}"])
    try:
        gate = cfg.Gate2Config.model_validate(gate_values)
    except ValidationError as error:
        raise ConfigError(verb.explain(error, "gate2")) from None
    data = _prepared(verb, reference)  # after the options: a typo fails before data is read
    seq_len = args.max_length or longest_sequence(artifacts)
    output = Path(verb.value("run.output_dir")) if verb.value("run.output_dir") else RunLayout.of_artifact(artifacts[0]).bench
    from .bench.report import print_verdicts, report_paths

    _printed(lambda: bench_prepared(artifacts, data, reference, teacher, settings, gate, seq_len, output,
                                    [Path(f) for f in args.device_results]),
             lambda shown: print_verdicts(*shown), lambda failure: (failure.report, report_paths(output)))
    return 0


def _cmd_diagnose(verb: _Verb) -> int:
    from . import ui
    from .diagnose import diagnose

    from .bench.sources import find_reference

    artifact = Path(verb.args.artifact)
    reference = find_reference(artifact, verb.args.reference)
    settings = verb.build(cfg.DiagnoseConfig, "diagnose")
    test = _prepared(verb, reference).splits["test"]
    rows = min(settings.texts, len(test))
    with ui.native_output_to(artifact / DIAGNOSE_LOG):  # runtime chatter, beside the converters' export.log
        found = diagnose(artifact, reference, list(test["text"])[:rows], list(test["label"])[:rows])
    ui.print_diagnosis(found, rows)
    if verb.args.output:
        from .atomic import write_json

        write_json(Path(verb.args.output), found.to_dict())
    return 0


def _cmd_app_bundle(verb: _Verb) -> int:
    from .bench import expand_artifacts
    from .bench.sources import find_reference
    from .device import app_bundle, check_artifacts, test_sample

    args = verb.args
    artifacts = expand_artifacts([Path(path) for path in args.artifacts])
    check_artifacts(artifacts)  # before reading any data: the app cannot run them anyway
    reference = find_reference(artifacts[0], args.reference)
    sample = test_sample(_prepared(verb, reference), reference, args.sample_size)
    index = app_bundle(artifacts, Path(args.output_dir), sample, reference)
    print(f"wrote {index}; build and run the app as android_demo/README.md says")
    return 0


def _cmd_report(verb: _Verb) -> int:
    from .bench import publish
    from .bench.baseline import load_report
    from .bench.report import print_verdicts, report_paths
    from .device import merge_device_results

    args = verb.args
    source = Path(args.bench)
    path = source / BENCH_JSON if source.is_dir() else source
    report = load_report(path)
    gate = cfg.Gate2Config.model_validate(report.thresholds) if report.thresholds else cfg.Gate2Config()
    merge_device_results(report, [Path(f) for f in args.device_results], gate)
    output = Path(args.output_dir) if args.output_dir else path.parent
    _printed(lambda: publish(report, output), lambda paths: print_verdicts(report, paths),
             lambda failure: report_paths(output))
    return 0


def _cmd_emulate(verb: _Verb) -> int:
    from .emulate.commands import cli_emulate

    return cli_emulate(setup=verb.args.setup, info=verb.args.info, serve=verb.args.serve, cpu=verb.args.cpu)


def _log_file(verb: _Verb) -> Path | None:
    """Where this command's library output goes (what it prints itself stays on the terminal)."""
    args, output = verb.args, verb.value("run.output_dir")
    if args.verb == "run":
        try:
            recipe = cfg.load_recipe("quick" if args.quick else args.recipe)
        except ConfigError:
            return None  # the command itself reports the bad recipe
        return RunLayout(Path(output or recipe.output_dir)).logs / "run.log"
    if args.verb in ("fine-tune", "general", "distill"):
        return RunLayout(Path(output)).logs / f"{args.verb}.log"
    if args.verb == "gate":
        return RunLayout.of_model(Path(args.student)).logs / "gate.log"
    if args.verb == "export":
        return Path(output).parent / "export.log"
    if args.verb == "bench" and output:
        return Path(output) / BENCH_LOG
    return None


_COMMANDS = {"run": _cmd_run, "fine-tune": _cmd_fine_tune, "general": _cmd_general, "distill": _cmd_distill,
             "gate": _cmd_gate, "qat": _cmd_qat, "export": _cmd_export, "bench": _cmd_bench, "diagnose": _cmd_diagnose,
             "search": _cmd_search,
             "app-bundle": _cmd_app_bundle, "report": _cmd_report, "emulate": _cmd_emulate}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, or a usage error already printed on one line
        return exit.code if isinstance(exit.code, int) else 2
    sub = next(action for action in parser._actions if action.dest == "verb").choices[args.verb]
    verb = _Verb(args, option_flags(sub))
    for key, value in OFFLINE_ENVIRONMENT.items():  # no hub at run time; set here, never at import
        os.environ.setdefault(key, value)
    from . import ui

    with ui.verbosity(args.verbosity if args.verbosity is not None else ui.NORMAL):
        try:
            with ui.library_output(_log_file(verb)):
                return _COMMANDS[args.verb](verb)
        except MobileDistillError as error:
            kind = "FAIL" if isinstance(error, GateFailure) else "error"
            print(f"mobile-distill {args.verb}: {kind}: {verb.flagged(error)}", file=sys.stderr)
            return error.exit_code
        except KeyboardInterrupt:
            print(f"mobile-distill {args.verb}: interrupted; run the same command again to resume from the last "
                  "checkpoint", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
