"""Distil stage: train the student against the teacher with transformers.Trainer, in the stages its
schedule names (joint, TinyBERT's two stages, MobileBERT's progressive layer-by-layer transfer).

The student comes from the student registry (`mobile_distill.students`), the loss terms from
`losses`, the stages from `stages`; `trainer.DistillationTrainer` runs each. A rerun with the same
settings skips finished stages and resumes the unfinished one from its last checkpoint, even after
``kill -9``.
"""

from .run import (
    DistillResult,
    distill,
    distill_settings,
    heads_mode,
    prune_student,
    student_tokenizer,
)

__all__ = ["DistillResult", "distill", "distill_settings", "heads_mode", "prune_student", "student_tokenizer"]
