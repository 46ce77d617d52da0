"""Teacher stage: use a local classifier as is, or fine-tune a pretrained encoder on the task.

Fine-tuned teachers are cached under a hash of (model weights, data, settings), so a second run
with the same inputs reuses the first one's teacher instead of training again.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from transformers import Trainer, set_seed

from . import ui
from .atomic import atomic_folder
from .config import TeacherConfig
from .context import RunContext
from .data import PreparedData, collator_for, tokenize_split
from .evaluate import trainer_metrics
from .hashing import folder_hash, settings_hash
from .layout import TEACHER_REPORT, TRAINER_LOG
from .models import (
    check_model_folder,
    load_classifier,
    load_tokenizer,
    require_labels,
    resolve_model_path,
)
from .runtime import is_main_process
from .training import (
    last_checkpoint,
    save_trained_model,
    show_progress,
    training_arguments,
)


@dataclass(frozen=True)
class TeacherResult:
    path: Path
    report: dict
    from_cache: bool = False


def prepare_teacher(config: TeacherConfig, data: PreparedData, context: RunContext) -> TeacherResult:
    """Return a teacher classifier for ``data``'s labels: the given one, a cached one (from
    ``context.cache_dir``), or a new fine-tune into ``context.layout.teacher``."""
    source = resolve_model_path(config.model)
    check_model_folder(source)
    if config.fine_tune is None:
        return _use_as_is(source, data)
    key = teacher_cache_key(source, data, config, context.seed, context.max_length)
    cached = context.cache_dir / "teachers" / key if context.cache_dir is not None else None
    output_dir = context.layout.teacher
    train = config.fine_tune
    with ui.stage("teacher", f"fine-tune {config.model} on {len(data.splits['train']):,} texts, "
                  f"{train.epochs:g} epoch(s)") as stage:
        if cached is not None and (cached / TEACHER_REPORT).is_file():
            if is_main_process():
                with atomic_folder(output_dir) as staging:
                    shutil.copytree(cached, staging, dirs_exist_ok=True)
            # Other ranks read the cache entry itself: the copy in output_dir may still be being written.
            path = output_dir if is_main_process() else cached
            result = TeacherResult(path=path, report=json.loads((cached / TEACHER_REPORT).read_text()),
                                   from_cache=True)
        else:
            result = fine_tune(source, config, data, output_dir, context, key)
            if cached is not None and is_main_process():
                with atomic_folder(cached) as staging:
                    shutil.copytree(output_dir, staging, dirs_exist_ok=True)
        accuracy = result.report.get("validation", {}).get("accuracy")
        stage.summary = (f"{accuracy:.4f} validation accuracy" if accuracy is not None else "ready") + \
            (" (reused from the cache)" if result.from_cache else "")
    return result


def teacher_cache_key(source: Path, data: PreparedData, config: TeacherConfig, seed: int, max_length: int) -> str:
    return settings_hash({"model": folder_hash(source), "data": data.fingerprint, "labels": data.labels,
                          "config": config.model_dump(mode="json"), "seed": seed, "max_length": max_length})


def fine_tune(source: Path, config: TeacherConfig, data: PreparedData, output_dir: Path, context: RunContext,
              key: str) -> TeacherResult:
    """Fine-tune ``source`` on the train split with transformers.Trainer, keeping the best validation checkpoint.

    An interrupted run resumes from its last checkpoint in ``context.checkpoints/<key>``.
    """
    checkpoints_dir, max_length = context.checkpoints / key, context.max_length
    start = time.perf_counter()
    tokenizer = load_tokenizer(source)
    # The new classification head is drawn from torch's generator, which a process seeds at random: seeded
    # here, the teacher the cache key names is one teacher, not a new draw each run (Trainer seeds only later).
    set_seed(context.seed)
    model = load_classifier(source, labels=data.labels)
    train = tokenize_split(data.splits["train"], tokenizer, max_length, desc="tokenizing train")
    validation = tokenize_split(data.splits["validation"], tokenizer, max_length, desc="tokenizing validation")
    trainer = Trainer(
        model=model,
        args=training_arguments(config.fine_tune, checkpoints_dir, context.seed),
        train_dataset=train.dataset,
        eval_dataset=validation.dataset,
        processing_class=tokenizer,
        data_collator=collator_for(tokenizer, max_length, model.config.model_type),
        compute_metrics=trainer_metrics,
    )
    show_progress(trainer, "fine-tuning", checkpoints_dir / TRAINER_LOG)
    trainer.train(resume_from_checkpoint=last_checkpoint(checkpoints_dir))
    validation_metrics = trainer.evaluate()
    report = {
        "source_model": str(source),
        "source_hash": folder_hash(source),
        "cache_key": key,
        "labels": list(data.labels),
        "validation": {k.removeprefix("eval_"): v for k, v in validation_metrics.items()},
        "truncated": {"train": train.truncated, "validation": validation.truncated, "max_length": max_length},
        "fine_tune": config.fine_tune.model_dump(mode="json"),
        "seconds": round(time.perf_counter() - start, 1),
        "log_history": trainer.state.log_history,
    }
    save_trained_model(trainer.model, tokenizer, data.labels, output_dir, TEACHER_REPORT, report, "teacher fine-tuning",
                       trainer.state.log_history)
    return TeacherResult(path=output_dir, report=report)


def _use_as_is(source: Path, data: PreparedData) -> TeacherResult:
    require_labels(source, data.labels, hint="; set teacher.fine_tune to train a head for these labels")
    return TeacherResult(path=source, report={"source_model": str(source), "source_hash": folder_hash(source)})
