"""One runner interface for every format: ``load_runner(folder).predict(texts or batch) -> logits``.

Bench, the gates and diagnosis are written once against `Runner`. Each runner tokenizes with the
tokenizer files bundled in the artifact (never the reference's), so a tokenizer mismatch shows
up in the numbers instead of being papered over. The runner class of each target comes from the
target registry (`mobile_distill.targets`).
"""

from .load import Runner, load_runner

__all__ = ["Runner", "load_runner"]
