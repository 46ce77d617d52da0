"""What fine-tuning and distillation share: Trainer arguments, checkpoint discovery, atomic saving,
process rank, and the loss-curve plot."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import torch
from transformers import TrainerCallback, TrainingArguments

from . import ui
from .atomic import atomic_folder, write_json
from .config import TrainConfig
from .layout import LOSS_CURVES, TRAINER_STATE
from .runtime import is_main_process, world_size


def barrier() -> None:
    """Wait for every process (under torchrun) so no rank reads a file rank 0 is still writing."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def training_arguments(config: TrainConfig, output_dir: Path, seed: int, evaluate: bool = True,
                       max_steps: int | None = None) -> TrainingArguments:
    """Trainer arguments for CPU (or whatever accelerate finds) that checkpoint and keep the best model.
    ``max_steps``: train for that many optimiser steps instead of ``config.epochs`` (a streamed corpus)."""
    steps = dict(save_steps=config.save_steps) | (dict(eval_steps=config.save_steps) if evaluate else {})
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        max_steps=max_steps or -1,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        eval_strategy="steps" if evaluate else "no",
        save_strategy="steps",
        save_total_limit=2,
        load_best_model_at_end=evaluate,
        metric_for_best_model="accuracy" if evaluate else None,
        greater_is_better=True if evaluate else None,
        logging_steps=max(1, min(50, config.save_steps // 4)),
        logging_first_step=True,
        report_to="none",
        seed=seed,
        data_seed=seed,
        # Without use_cpu, torchrun on a CPU-only machine shards the data but never wraps the model in
        # DDP (accelerate reports DistributedType.NO): every rank would train its own model.
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if world_size() > 1 and not torch.cuda.is_available() else None,
        dataloader_num_workers=0,
        remove_unused_columns=False,  # the distillation teacher needs columns the student does not take
        label_names=["labels"],
        disable_tqdm=True,  # `show_progress` puts one bar of ours in place of Trainer's
        **steps,
    )


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest complete `checkpoint-N` folder under ``output_dir``, to resume from, or None.

    Trainer writes a checkpoint in place, trainer_state.json last; a process killed while saving
    leaves a newer folder without it (or with it cut short), which must not be resumed from.
    """
    if not output_dir.is_dir():
        return None
    complete = [folder for folder in output_dir.glob("checkpoint-*")
                if folder.name.split("-")[-1].isdigit() and _readable_state(folder / TRAINER_STATE)]
    return str(max(complete, key=lambda folder: int(folder.name.split("-")[-1]))) if complete else None


def _readable_state(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


class StageProgress(TrainerCallback):
    """One progress bar for a Trainer run (steps, ETA, the latest loss and validation accuracy) in place
    of Trainer's own bars and printed log dictionaries; every log dictionary goes to ``log_file``."""

    def __init__(self, description: str, log_file: Path):
        self.description = description
        self.log_file = Path(log_file)
        self.bar = None
        self._exit = ExitStack()
        self.loss = self.accuracy = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not is_main_process():
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.bar = self._exit.enter_context(ui.progress(self.description, state.max_steps))
        if state.global_step:  # resumed from a checkpoint
            self.bar.update(advance=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self._text(), advance=1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not is_main_process() or not logs:
            return
        self.loss = logs.get("loss", self.loss)
        self.accuracy = logs.get("eval_accuracy", self.accuracy)
        with open(self.log_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        """End the bar; also when training ends in an exception (Trainer then calls no on_train_end)."""
        self._exit.close()
        self.bar = None

    def _text(self) -> str:
        parts = [self.description]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        if self.accuracy is not None:
            parts.append(f"val acc {self.accuracy:.3f}")
        return ", ".join(parts)


def show_progress(trainer, description: str, log_file: Path) -> StageProgress:
    """Replace Trainer's tqdm bars and printed log dictionaries with one `StageProgress` bar (returned, so a
    caller whose training may end in an exception can close it)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    progress = StageProgress(description, log_file)
    trainer.add_callback(progress)
    return progress


def save_trained_model(model, tokenizer, labels, output_dir: Path, report_file: str, report: dict, title: str,
                       log_history: list[dict]) -> None:
    """Rank 0 writes the trained model, tokenizer, labels, report and loss plot atomically; all ranks wait."""
    from .models import write_labels

    if is_main_process():
        with atomic_folder(output_dir) as staging:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            write_labels(staging, labels)
            write_json(staging / report_file, report)
            plot_loss_curves(log_history, staging / LOSS_CURVES, title)
    barrier()


def plot_loss_curves(log_history: list[dict], path: Path, title: str) -> None:
    """Plot every logged training loss term and the validation accuracy against the step.

    matplotlib's object API (no pyplot): no backend is switched and no figure is left registered.
    """
    from matplotlib.figure import Figure

    train = [row for row in log_history if "loss" in row]
    keys = sorted({k for row in train for k in row if k == "loss" or k.startswith("loss_")})
    evals = [row for row in log_history if "eval_accuracy" in row]
    figure = Figure(figsize=(11, 4))
    left, right = figure.subplots(1, 2)
    for key in keys:
        points = [(row["step"], row[key]) for row in train if key in row]
        left.plot(*zip(*points), label=key)
    left.set(xlabel="step", ylabel="loss", title=f"{title}: training losses")
    if keys:
        left.legend()
    if evals:
        right.plot([row["step"] for row in evals], [row["eval_accuracy"] for row in evals], marker="o")
    right.set(xlabel="step", ylabel="accuracy", title="validation accuracy")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
