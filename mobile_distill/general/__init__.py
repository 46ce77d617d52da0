"""General (task-agnostic) distillation: a student learns the pretrained teacher's internals on
unlabeled text, before any task. Its output, a general student, is where task distillation starts
(``student.init: PATH``), as in TinyBERT (general, then task distillation) and DistilBERT.

Objectives:
  tinybert    embedding-layer MSE, hidden-state MSE and attention-score MSE on every mapped layer,
              through learnable projections across widths (Jiao et al. 2020, section 3.3). Reads the
              teacher's internals only, so any encoder works, the bundled sentence encoder included.
  distilbert  the triple loss L = a*L_ce + b*L_mlm + c*L_cos (Sanh et al. 2019): soft targets over
              the vocabulary at temperature T on the masked positions, the student's own masked-LM
              loss, and the cosine between last hidden states; dynamic masking, no NSP. Needs a
              teacher with a masked-LM head (`vocabulary.py`).

The corpus is streamed (`corpus.py`), so a corpus larger than memory works; training runs for
``max_steps`` optimiser steps with Trainer (checkpoints, resume after kill -9, gradient
accumulation for large effective batches, DDP under torchrun / accelerate launch).
"""

from .run import general_distill, general_settings, made_with

__all__ = ["general_distill", "general_settings", "made_with"]
