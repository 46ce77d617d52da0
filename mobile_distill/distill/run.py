"""Distill: a student trained against its teacher, stage by stage (see the package docstring)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from .. import ui
from ..config import DistillConfig, StudentConfig
from ..context import RunContext
from ..data import PreparedData, collator_for, tokenize_split
from ..errors import ConfigError
from ..evaluate import trainer_metrics
from ..hashing import folder_hash, settings_hash
from ..layout import DISTILL_LOG, TRAINER_LOG
from ..models import (
    count_parameters,
    forward_inputs,
    load_classifier,
    load_tokenizer,
    require_labels,
)
from ..students import STUDENT_TYPES, build_student, teacher_shape
from ..training import (
    last_checkpoint,
    save_trained_model,
    show_progress,
    training_arguments,
)
from .losses import ATTENTION, INTERMEDIATE, TERMS
from .stages import DONE, MODULE_STATE, Stage, freeze_all_but, layer_prefix, plan_stages
from .trainer import DistillationModule, DistillationTrainer, make_projections

__all__ = ["DistillResult", "distill", "distill_settings", "heads_mode", "prune_student", "student_tokenizer"]


def distill_settings(teacher_path, data, config, student_config, context: RunContext, transfer_texts=None) -> str:
    """Hash of everything that determines the student: names its checkpoints and marks it done."""
    parts = [folder_hash(teacher_path), data.fingerprint, config.model_dump(mode="json"),
             student_config.model_dump(mode="json"), context.seed, context.max_length,
             transfer_texts._fingerprint if transfer_texts is not None else None]
    return settings_hash(*parts)


@dataclass(frozen=True)
class DistillResult:
    path: Path
    log: dict


@dataclass
class _Run:
    """What every stage of one distillation shares."""

    teacher: object
    module: DistillationModule
    tokenizer: object
    train: datasets.Dataset
    validation: datasets.Dataset
    config: DistillConfig
    heads: str
    seed: int
    root: Path
    collate: object  # the batch collator, padding as the exported files will
    counts: dict = field(default_factory=dict)
    callbacks: tuple = ()  # extra Trainer callbacks for every stage (the budget search's early stop and deadline)


def distill(
    teacher_path: Path,
    data: PreparedData,
    config: DistillConfig,
    student_config: StudentConfig,
    output_dir: Path,
    context: RunContext,
    transfer_texts: datasets.Dataset | None = None,
    callbacks: tuple = (),
) -> DistillResult:
    """Build the student from the teacher at ``teacher_path`` and distil it on ``data``'s train split.

    Checkpoints go to ``context.checkpoints/student-<settings hash>/<stage>``. Writes the best student (by
    validation accuracy in the last stage) to ``output_dir`` atomically, with tokenizer, labels, loss
    log (the stages, the loss weights, where every weight came from) and loss-curve plot.
    """
    start = time.perf_counter()
    settings = distill_settings(teacher_path, data, config, student_config, context, transfer_texts)
    max_length = context.max_length
    recipe = STUDENT_TYPES[student_config.type]
    weights = config.weights.resolved(recipe.default_weights)
    if not any(value > 0 for value in weights.values()):
        raise ConfigError("distill.weights: every loss weight is 0; set at least one above 0", fields=("weights",))
    schedule = config.schedule or recipe.schedule
    with ui.stage("distill", f"{recipe.name} student, {schedule} schedule, on {len(data.splits['train']):,} texts"
                  ) as stage:
        run, student = _prepare(teacher_path, data, config, student_config, weights,
                                context.checkpoints / f"student-{settings}", context.seed, max_length, transfer_texts)
        run.callbacks = tuple(callbacks)
        prefixes = layer_prefix(student.model)
        stages = plan_stages(schedule, weights, config, student.layer_map, *prefixes)
        history, trainer = [], None
        for number, planned in enumerate(stages, 1):
            trainer = _run_stage(run, planned, f"{number}/{len(stages)}")
            logged = trainer.state.log_history if trainer else []
            history.append({**planned.describe(), "steps": trainer.state.global_step if trainer else None,
                            "losses": [round(row["loss"], 5) for row in logged if "loss" in row],
                            "log_history": logged})
        log = _log(settings, student, run, weights, schedule, history, teacher_path, data, max_length, start)
        save_trained_model(run.module.student, student_tokenizer(run.tokenizer, student.model), data.labels,
                           output_dir, DISTILL_LOG, log, "distillation", history[-1]["log_history"])
        stage.summary = (f"{log['best_validation_accuracy'] or 0:.4f} validation accuracy, "
                         f"{log['parameters']['student']:,} parameters (teacher {log['parameters']['teacher']:,})")
    return DistillResult(path=output_dir, log=log)


def _prepare(teacher_path, data, config, student_config, weights, root, seed, max_length, transfer_texts):
    from transformers import set_seed

    tokenizer = load_tokenizer(teacher_path)
    teacher = load_classifier(teacher_path)
    require_labels(teacher_path, data.labels)
    set_seed(seed)  # the student's random weights are part of the settings its checkpoints are named by
    student = build_student(teacher, student_config)
    train = tokenize_split(data.splits["train"], tokenizer, max_length, desc="tokenizing train")
    if student_config.prune_heads or student_config.prune_ffn:
        prune_student(student.model, train.dataset, tokenizer, max_length, student_config.prune_heads,
                       student_config.prune_ffn)
    heads = heads_mode(config.attention_heads, student.model, teacher, weights)
    module = DistillationModule(student.model, make_projections(student.model, teacher, weights))
    validation = tokenize_split(data.splits["validation"], tokenizer, max_length, desc="tokenizing validation")
    extra = _unlabelled(transfer_texts, config, data, teacher, tokenizer, root, seed)
    train_set = _with_unlabelled(train.dataset, extra, tokenizer, max_length)
    transfer = len(transfer_texts) if transfer_texts is not None else 0
    counts = {"train": len(train.dataset), "transfer": transfer,
              "augmented": len(train_set) - len(train.dataset) - transfer, "validation": len(validation.dataset),
              "truncated": {"train": train.truncated, "validation": validation.truncated}}
    collate = collator_for(tokenizer, max_length, teacher.config.model_type, student.model.config.model_type)
    return (_Run(teacher, module, tokenizer, train_set, validation.dataset, config, heads, seed, root, collate, counts),
            student)


def prune_student(model, train, tokenizer, max_length: int, heads: float, ffn: float, rows: int = 512) -> None:
    """Remove ``heads`` of the attention heads, then ``ffn`` of each layer's feed-forward neurons, each
    scored on up to ``rows`` training rows (labels included) of the model as it is at that point."""
    from ..models import forward_inputs
    from .. import prune

    collate = collator_for(tokenizer, max_length, model.config.model_type, model.config.model_type)
    subset = train.select(range(min(rows, len(train))))

    def batches():
        return (forward_inputs(model, collate([subset[i] for i in range(start, min(start + 32, len(subset)))]))
                for start in range(0, len(subset), 32))

    if heads:
        chosen = prune.heads_to_prune(prune.head_importance(model, batches()), heads)
        prune.prune_heads(model, chosen)
        ui.say(f"pruned {sum(map(len, chosen.values()))} heads; heads per layer now {prune.remaining_heads(model)}")
    if ffn:
        before = sum(prune.remaining_neurons(model))
        prune.prune_neurons(model, prune.neurons_to_keep(prune.neuron_importance(model, batches()), ffn))
        ui.say(f"pruned {before - sum(prune.remaining_neurons(model))} feed-forward neurons; widths now "
               f"{prune.remaining_neurons(model)}")


def heads_mode(asked: str | None, student, teacher, weights: dict[str, float]) -> str:
    """How attention losses compare heads: a per-head comparison of different head counts is refused
    here, in one line, before any training."""
    if not any(weights[t] > 0 for t in ATTENTION):
        return asked or "mean"  # nothing compares attention (every textnet student): the mode is moot
    ours, theirs = teacher_shape(student.config)["num_heads"], teacher_shape(teacher.config)["num_heads"]
    if getattr(student.config, "pruned_heads", None):
        ours = -1  # some layers have fewer heads than the config says: never per-head
    if asked == "per-head" and ours != theirs and any(weights[t] > 0 for t in ATTENTION):
        raise ConfigError(f"distill.attention_heads: per-head attention losses need the same head count, but the "
                          f"student has {ours} heads and the teacher {theirs}; use mean (attention averaged over "
                          "heads) or give the student the teacher's head count", fields=("attention_heads",))
    return asked or ("per-head" if ours == theirs else "mean")


def _run_stage(run: _Run, stage: Stage, position: str) -> DistillationTrainer | None:
    """Train one stage, or load it when a previous run finished it; returns its trainer (None if loaded)."""
    from safetensors.torch import load_file

    folder = run.root / stage.name
    done = folder / DONE / MODULE_STATE
    if done.is_file():
        run.module.load_state_dict(load_file(str(done)))
        ui.say(f"  stage {position} {stage.name}: already done")
        return None
    intermediate = bool(INTERMEDIATE & set(stage.weights))
    prefixes = stage.trainable if intermediate else None
    freeze_all_but(run.module, prefixes)
    if not intermediate:  # the projections serve intermediate losses only; frozen, DDP never waits for them
        for parameter in run.module.projections.parameters():
            parameter.requires_grad_(False)
    trainer = DistillationTrainer(
        model=run.module, args=training_arguments(stage.train, folder, run.seed, evaluate=stage.evaluate),
        train_dataset=run.train, eval_dataset=run.validation if stage.evaluate else None,
        processing_class=run.tokenizer, data_collator=run.collate,
        compute_metrics=trainer_metrics if stage.evaluate else None, teacher=run.teacher,
        pairs=stage.pairs, temperature=run.config.temperature, weights={t: stage.weights.get(t, 0.0) for t in TERMS},
        heads=run.heads)
    progress = show_progress(trainer, f"{stage.name} ({position})", folder / TRAINER_LOG)
    for callback in run.callbacks:
        trainer.add_callback(callback)
    try:
        trainer.train(resume_from_checkpoint=last_checkpoint(folder))
    finally:  # a callback may stop training with an exception (the search's deadline): end the bar either way
        progress.close()
    freeze_all_but(run.module, None)
    _mark_done(run.module, folder / DONE)
    return trainer


def _mark_done(module, folder: Path) -> None:
    from safetensors.torch import save_file

    from ..atomic import atomic_folder
    from ..runtime import is_main_process

    if is_main_process():
        with atomic_folder(folder) as staging:
            save_file({name: tensor.detach().contiguous() for name, tensor in module.state_dict().items()},
                      str(staging / MODULE_STATE))


def _log(settings, student, run, weights, schedule, history, teacher_path, data, max_length, start) -> dict:
    last = history[-1]["log_history"]
    accuracy = max((row["eval_accuracy"] for row in last if "eval_accuracy" in row), default=None)
    return {
        "settings": settings,
        "student_type": student.type,
        "architecture": student.architecture.to_dict() if student.architecture else None,
        "weight_origins": student.origins.summary(),
        "layer_map": list(student.layer_map),
        "schedule": schedule,
        "loss_weights": weights,
        "attention_heads": run.heads,
        "projections": {name: list(p.weight.shape) for name, p in run.module.projections.items()},
        "teacher": str(teacher_path),
        "parameters": {"teacher": count_parameters(run.teacher), "student": count_parameters(run.module.student)},
        "config": run.config.model_dump(mode="json"),
        "examples": {key: value for key, value in run.counts.items() if key != "truncated"},
        "truncated": {**run.counts["truncated"], "max_length": max_length},
        "stages": [{key: value for key, value in item.items() if key != "log_history"} for item in history],
        "steps": sum(item["steps"] or 0 for item in history),
        "best_validation_accuracy": accuracy,
        "seconds": round(time.perf_counter() - start, 1),
        "log_history": last,
    }


def student_tokenizer(tokenizer, student):
    """The teacher's tokenizer, told which inputs the student takes (DistilBERT: no token_type_ids)."""
    student_tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, local_files_only=True)
    student_tokenizer.model_input_names = [name for name in tokenizer.model_input_names
                                           if name in forward_inputs(student, dict.fromkeys(tokenizer.model_input_names))]
    student_tokenizer.init_kwargs["model_input_names"] = student_tokenizer.model_input_names
    return student_tokenizer


def _unlabelled(transfer_texts, config, data, teacher, tokenizer, root: Path, seed: int):
    """The texts taught by the teacher's soft targets only: the transfer set, and TinyBERT's augmented texts."""
    parts = [transfer_texts] if transfer_texts is not None and len(transfer_texts) else []
    if config.augment is not None:
        from .augment import augmented_texts

        parts.append(augmented_texts(list(data.splits["train"]["text"]), teacher, tokenizer, config.augment,
                                     root.parent, seed))
    return datasets.concatenate_datasets(parts) if parts else None


def _with_unlabelled(train: datasets.Dataset, texts, tokenizer, max_length: int):
    """Append unlabelled texts with label -100: they teach through the teacher's soft targets only."""
    if texts is None or len(texts) == 0:
        return train
    extra = tokenize_split(texts, tokenizer, max_length, desc="tokenizing unlabelled texts").dataset
    extra = extra.add_column("labels", [-100] * len(extra)).cast(train.features)
    return datasets.concatenate_datasets([train, extra])
