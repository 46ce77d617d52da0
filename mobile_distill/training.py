"""What fine-tuning and distillation share: Trainer arguments, checkpoint discovery, atomic saving,
process rank, and the loss-curve plot."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from .config import TrainConfig


def is_main_process() -> bool:
    """True on the process that writes outputs: rank 0 under torchrun, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait for every process (under torchrun) so no rank reads a file rank 0 is still writing."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def training_arguments(config: TrainConfig, output_dir: Path, seed: int, evaluate: bool = True) -> TrainingArguments:
    """Trainer arguments for CPU (or whatever accelerate finds) that checkpoint and keep the best model."""
    steps = dict(save_steps=config.save_steps, eval_steps=config.save_steps) if evaluate else {}
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
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
        **steps,
    )


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest `checkpoint-N` folder under ``output_dir``, to resume from, or None."""
    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None


@contextmanager
def atomic_folder(target: Path):
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` in one rename.

    On any exception the temporary folder is removed, so a failed write never leaves a
    half-written model behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            target.rename(backup)
            staging.rename(target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False)
    with handle:
        json.dump(payload, handle, indent=2)
    os.replace(handle.name, path)


def save_trained_model(trainer, tokenizer, labels, output_dir: Path, report_file: str, report: dict, title: str) -> None:
    """Rank 0 writes the trained model, tokenizer, labels, report and loss plot atomically; all ranks wait."""
    from .models import write_labels

    if is_main_process():
        with atomic_folder(output_dir) as staging:
            trainer.model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            write_labels(staging, labels)
            write_json(staging / report_file, report)
            plot_loss_curves(trainer.state.log_history, staging / "loss_curves.png", title)
    barrier()


def plot_loss_curves(log_history: list[dict], path: Path, title: str) -> None:
    """Plot every logged training loss term and the validation accuracy against the step."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display is needed or assumed
    import matplotlib.pyplot as plt

    train = [row for row in log_history if "loss" in row]
    keys = sorted({k for row in train for k in row if k == "loss" or k.startswith("loss_")})
    evals = [row for row in log_history if "eval_accuracy" in row]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key in keys:
        points = [(row["step"], row[key]) for row in train if key in row]
        left.plot(*zip(*points), label=key)
    left.set(xlabel="step", ylabel="loss", title=f"{title}: training losses")
    left.legend()
    if evals:
        right.plot([row["step"] for row in evals], [row["eval_accuracy"] for row in evals], marker="o")
    right.set(xlabel="step", ylabel="accuracy", title="validation accuracy")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
