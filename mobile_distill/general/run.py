"""General distillation: a student distilled from its teacher on an unlabelled corpus (see the package docstring)."""

from __future__ import annotations

import time
from pathlib import Path

from .. import ui
from ..config import GeneralConfig, StudentConfig
from ..context import RunContext
from ..hashing import folder_hash, settings_hash
from ..hashing import made_with as made_with_settings
from ..layout import GENERAL_LOG, LOSS_CURVES, TRAINER_LOG
from ..models import count_parameters, load_classifier, load_tokenizer
from ..runtime import is_main_process
from ..training import (
    barrier,
    last_checkpoint,
    plot_loss_curves,
    show_progress,
    training_arguments,
)
from .corpus import stream_corpus, tokenized_stream

__all__ = ["general_distill", "general_settings", "made_with"]

# The task head is not part of a general student: task distillation gives the student a new one.
_TASK_HEAD = ("classifier.", "pre_classifier.")


def general_settings(teacher_path: Path, config: GeneralConfig, student_config: StudentConfig,
                     context: RunContext) -> str:
    """Hash of everything that determines the general student: names its cache entry and checkpoints."""
    return settings_hash(folder_hash(teacher_path), config.model_dump(mode="json"), _shape(student_config),
                         context.seed)


def general_distill(teacher_path: Path, config: GeneralConfig, student_config: StudentConfig, output_dir: Path,
                    context: RunContext, settings: str | None = None) -> Path:
    """Distil the general student ``student_config`` describes from the pretrained teacher at
    ``teacher_path`` on the streamed corpus; write it to ``output_dir`` (atomically) and return it.
    A folder already made with the same settings is returned as it is. ``settings``: their
    `general_settings` hash, when the caller has it already (hashing reads the teacher's weights)."""
    settings = settings or general_settings(teacher_path, config, student_config, context)
    if made_with(output_dir, settings):
        ui.say(f"general student: reusing {output_dir} (same settings)")
        return output_dir
    start = time.perf_counter()
    with ui.stage("general", f"{student_config.type} student, {config.objective} objective, {config.max_steps:,} "
                  f"steps on {config.corpus.source}") as stage:
        folder = context.checkpoints / f"general-{settings}"
        trainer, student, tokenizer = _trainer(teacher_path, config, student_config, folder, context.seed)
        trainer.train(resume_from_checkpoint=last_checkpoint(folder))
        log = _log(settings, config, student, trainer, teacher_path, start)
        _save(trainer.model.student if config.objective == "tinybert" else trainer.model.student_classifier(),
              tokenizer, output_dir, log)
        losses = log["losses"]  # none logged when a rerun found the last step already done
        stage.summary = (f"{trainer.state.global_step:,} steps"
                         + (f", loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "")
                         + f", {log['parameters']['student']:,} parameters")
    return output_dir


def _trainer(teacher_path: Path, config: GeneralConfig, student_config: StudentConfig, folder: Path, seed: int):
    from transformers import DataCollatorWithPadding, set_seed

    from ..distill import heads_mode, student_tokenizer
    from ..distill.losses import TERMS
    from ..distill.trainer import (
        DistillationModule,
        DistillationTrainer,
        make_projections,
    )
    from ..students import build_student

    tokenizer = load_tokenizer(teacher_path)
    train = config.train.model_copy(update={"group_by_length": False})  # a stream has no lengths to sort by
    args = training_arguments(train, folder, seed, evaluate=False, max_steps=config.max_steps)
    shape = student_config.model_copy(update={"trim_vocabulary": False, "init": "teacher"})
    weights = config.resolved_weights()
    if config.objective == "distilbert":
        from .vocabulary import build_masked_lm_trainer

        trainer, student = build_masked_lm_trainer(teacher_path, tokenizer, shape, config, args, seed)
    else:
        teacher = load_classifier(teacher_path)
        set_seed(seed)  # the student's random weights are part of the settings
        student = build_student(teacher, shape)
        all_weights = {term: weights.get(term, 0.0) for term in TERMS}
        module = DistillationModule(student.model, make_projections(student.model, teacher, all_weights))
        stream = tokenized_stream(stream_corpus(config.corpus, seed), tokenizer, config.max_length)
        # Every batch padded to max_length: under DDP the first process reads one batch per process from
        # the stream and concatenates them before handing them out, which needs equal lengths. Most
        # windows of a long-text corpus are full anyway.
        collate = DataCollatorWithPadding(tokenizer, padding="max_length", max_length=config.max_length)
        trainer = DistillationTrainer(
            model=module, args=args, train_dataset=stream, processing_class=tokenizer, data_collator=collate,
            teacher=teacher, pairs=tuple(enumerate(student.layer_map)), temperature=config.temperature,
            weights=all_weights, heads=heads_mode(None, student.model, teacher, all_weights))
    show_progress(trainer, "general distillation", folder / TRAINER_LOG)
    return trainer, student, student_tokenizer(tokenizer, student.model)


def _shape(student_config: StudentConfig) -> dict:
    """The student settings a general student depends on (not the task-stage ones)."""
    return student_config.model_dump(mode="json", exclude={"init", "trim_vocabulary"})


def made_with(folder: Path, settings: str) -> bool:
    """Whether ``folder`` holds a general student made with ``settings`` (a `general_settings` hash)."""
    return made_with_settings(folder / GENERAL_LOG, settings)


def _log(settings: str, config: GeneralConfig, student, trainer, teacher_path: Path, start: float) -> dict:
    history = trainer.state.log_history
    return {
        "settings": settings,
        "objective": config.objective,
        "loss_weights": config.resolved_weights(),
        "student_type": student.type,
        "architecture": student.architecture.to_dict() if student.architecture else None,
        "layer_map": list(student.layer_map),
        "weight_origins_before": student.origins.summary(),
        "teacher": str(teacher_path),
        "corpus": config.corpus.model_dump(mode="json"),
        "config": config.model_dump(mode="json"),
        "steps": trainer.state.global_step,
        "sequences": trainer.state.global_step * trainer.args.train_batch_size
        * trainer.args.gradient_accumulation_steps * trainer.args.world_size,
        "losses": [round(row["loss"], 5) for row in history if "loss" in row],
        "parameters": {"student": count_parameters(student.model)},
        "seconds": round(time.perf_counter() - start, 1),
        "log_history": history,
    }


def _save(model, tokenizer, output_dir: Path, log: dict) -> None:
    """Rank 0 writes config, weights without the task head, tokenizer, log and loss plot; all ranks wait."""
    from safetensors.torch import save_file

    from ..atomic import atomic_folder, write_json

    if is_main_process():
        with atomic_folder(output_dir) as staging:
            model.config.save_pretrained(staging)
            state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()
                     if not name.startswith(_TASK_HEAD)}
            save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
            tokenizer.save_pretrained(staging)
            write_json(staging / GENERAL_LOG, log)
            plot_loss_curves(log["log_history"], staging / LOSS_CURVES, "general distillation")
    barrier()
