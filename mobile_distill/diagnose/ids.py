"""Integer checks: the dtypes the model file takes against the manifest's, ids past the vocabulary,
and ids wrapped to fewer bits on the way to the embedding lookup.

A wrap is silent: a Cast of int64 ids to int8/int16 (or uint8/uint16) keeps the low bits, and a
Gather takes a negative index from the end of the table. So the artifact looks up row
``wrap(id)`` instead of ``id``. The probe feeds the reference those wrapped ids; if that
reproduces the artifact, the width is named.
"""

from __future__ import annotations

import copy

import numpy as np

from ..metrics import agreement, kappa
from .context import Probe, best, one_line, shown, trial
from .report import Cause, Outcome, clear, found, restores, skipped

WRAPS = ((8, False), (8, True), (16, False), (16, True))  # (bits, signed); 32-bit wraps need 2^31 ids


def check_id_dtype(probe: Probe) -> Outcome:
    """Compare each input's dtype in the manifest with what the model file declares."""
    actual = probe.file_inputs
    if actual is None:
        return skipped(f"input dtypes are read from ONNX and TFLite files only (this is {probe.manifest.target})")
    declared = {spec.name: spec.dtype for spec in probe.manifest.inputs}
    wrong = {name: (declared[name], actual[name]) for name in declared if name in actual and actual[name] != declared[name]}
    vocab = probe.reference.model.config.vocab_size
    narrow = {name: dtype for name, dtype in actual.items()
              if name == "input_ids" and np.issubdtype(np.dtype(dtype), np.integer) and np.iinfo(dtype).max < vocab - 1}
    if not wrong and not narrow:
        listed = ", ".join(f"{name} {dtype}" for name, dtype in actual.items())
        return clear(f"the model file takes the dtypes the manifest declares ({listed})")
    causes = []
    if wrong:
        causes.append(_dtype_cause(probe, wrong, actual))
    if narrow:
        summary = (f"input 'input_ids' is {narrow['input_ids']} in the model file, too narrow for the "
                   f"{vocab}-word vocabulary (largest {np.iinfo(narrow['input_ids']).max})")
        causes.append(Cause("id-dtype", summary, {"input_dtypes": actual, "vocab_size": vocab}))
    return found(*causes)


def _dtype_cause(probe: Probe, wrong: dict, actual: dict) -> Cause:
    """Name the mismatch; run the artifact with the dtypes its file declares to show what that restores."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, pair in wrong.items():
        groups.setdefault(pair, []).append(name)
    parts = [f"{'inputs' if len(names) > 1 else 'input'} {', '.join(names)} "
             f"{'are' if len(names) > 1 else 'is'} declared {want} in the manifest but the model file takes {have}"
             for (want, have), names in groups.items()]
    detail = {"declared": {name: want for name, (want, _) in wrong.items()}, "model_file": actual}
    before = after = chance = None
    if probe.runner is not None and all(have in ("int32", "int64") for _, have in wrong.values()):
        before = probe.probe_agreement if probe.probe_logits is not None else 0.0
        fixed = copy.copy(probe.runner)
        fixed.dtypes = {**probe.runner.dtypes, **{name: have for name, (_, have) in wrong.items()}}
        try:
            logits = probe.run(probe.batch, fixed)
            after, chance = agreement(logits, probe.probe_reference), kappa(logits, probe.probe_reference)
        except Exception as error:
            detail["with_file_dtypes"] = one_line(error)
    outcome = "it runs" if probe.probe_logits is not None else f"the runtime refuses the feed ({probe.run_error})"
    fixed_text = f"; fed the file's dtypes it agrees {after:.2f}" if after is not None else ""
    return Cause("id-dtype", "; ".join(parts) + f": as declared {outcome}{fixed_text}", detail, before, after, chance)


def check_id_range(probe: Probe) -> Outcome:
    """Ids the artifact's tokenizer gives past the embedding table; or ids wrapped to 8/16 bits."""
    vocab = int(probe.reference.model.config.vocab_size)
    tokenizer = probe.runner.tokenizer if probe.runner is not None else None
    if tokenizer is not None:
        ids = tokenizer(probe.sample, truncation=True, max_length=probe.manifest.sequence_length)["input_ids"]
        over = [i for i, row in enumerate(ids) if max(row, default=0) >= vocab]
        if over:
            top = max(max(ids[i]) for i in over)
            summary = (f"the artifact's tokenizer gives ids up to {top}, but the model's embedding table has {vocab} "
                       f"rows: {len(over)} of {len(ids)} texts use ids >= {vocab}")
            # Measured like a tokenizer mismatch (of which this is the sharper case): the artifact as
            # delivered, and fed the reference tokenizer's ids, which are all inside the table.
            before = after = chance = None
            if probe.delivered is not None and probe.probe_logits is not None:
                before = agreement(probe.delivered[: len(probe.sample)], probe.probe_reference)
                after, chance = probe.probe_agreement, kappa(probe.probe_logits, probe.probe_reference)
            detail = {"vocab_size": vocab, "max_id": int(top), "texts_over": len(over), "tokenizer_size": len(tokenizer)}
            return found(Cause("id-range", summary, detail, before, after, chance))
    if reason := probe.cannot_run():
        return skipped(f"ids are within the {vocab}-row table, and the wrap probes need to run the artifact: {reason}")
    return _wrap_probes(probe, vocab)


def _wrap_probes(probe: Probe, vocab: int) -> Outcome:
    before, ids = probe.probe_agreement, probe.batch["input_ids"]
    trials, affected = [], {}
    for bits, signed in WRAPS:
        wrapped = wrap(ids, bits, signed, vocab)
        if wrapped is None or np.array_equal(wrapped, ids):
            continue  # no id is changed by this width (or it would index outside the table): nothing to learn
        label = f"{'int' if signed else 'uint'}{bits}"
        trials.append(trial(label, probe.probe_logits, probe.reference_logits({**probe.batch, "input_ids": wrapped})))
        affected[label] = int((wrapped != ids).any(-1).sum())
    if not trials:
        return clear(f"every id is below {vocab} and below 128, so no 8- or 16-bit wrap could change it")
    chosen = best(trials)
    detail = {"agreement_as_given": before, "agreement_if_wrapped": {t.name: t.agreement for t in trials}}
    if restores(before, chosen.agreement, chosen.kappa, chosen.reproduces):
        bits = int(chosen.name.removeprefix("u").removeprefix("int"))
        rule = f"ids mod {2 ** bits}" if chosen.name.startswith("u") else f"ids wrapped to signed {bits}-bit"
        summary = (f"token ids are wrapped to {bits} bits ({chosen.name}) before the embedding lookup: the reference "
                   f"fed {rule} agrees {chosen.agreement:.2f} with the artifact ({before:.2f} with the true ids); "
                   f"{affected[chosen.name]} of {len(ids)} texts have ids that the wrap changes")
        return found(Cause("id-range", summary, {**detail, "wrap": chosen.name, "texts_affected": affected[chosen.name]},
                           before, chosen.agreement, chosen.kappa, chosen.reproduces), detail=detail)
    return clear(f"ids are below the {vocab}-row table and no 8/16-bit wrap explains the artifact "
                 f"({before:.2f} as given; " + ", ".join(f"{t.name} {shown(t, before)}" for t in trials) + ")", detail)


def wrap(ids: np.ndarray, bits: int, signed: bool, vocab: int) -> np.ndarray | None:
    """The rows an embedding Gather reads after a Cast of ``ids`` to a ``bits``-wide integer.

    Two's-complement wrap; a negative index counts from the end of the table (ONNX Gather), so it
    becomes ``vocab + index``. None when some index would fall outside the table altogether.
    """
    wrapped = ids % (1 << bits)
    if signed:
        wrapped = np.where(wrapped >= 1 << (bits - 1), wrapped - (1 << bits), wrapped)
        wrapped = np.where(wrapped < 0, wrapped + vocab, wrapped)
    if (wrapped < 0).any() or (wrapped >= vocab).any():
        return None
    return wrapped.astype(np.int64)
