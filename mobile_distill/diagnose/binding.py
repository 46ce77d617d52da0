"""Feed checks: are the inputs bound to the right names, is the mask used the right way round,
do the segment ids mean what the reference means by them?

Each is a counterfactual: change the feed (on the artifact's side, or the reference's) in the way
the suspected fault would, and see whether agreement comes back (`report.restores`).
"""

from __future__ import annotations

import copy
import itertools

import numpy as np

from .context import Probe, best, shown, trial
from .report import Cause, Outcome, clear, found, restores, skipped

MAX_PERMUTED_INPUTS = 4  # 24 orders; BERT classifiers take 2 or 3 inputs


def check_binding(probe: Probe) -> Outcome:
    """Inputs named as the manifest says? Then try every other order of the feeds; name the one
    that restores agreement."""
    if probe.runner is None:
        return skipped(probe.cannot_run())
    declared = list(probe.runner.input_names)
    actual = list(probe.file_inputs or declared)
    if set(actual) != set(declared):
        return _wrong_names(probe, declared, actual)
    if reason := probe.cannot_run():
        return skipped(reason)
    if len(declared) > MAX_PERMUTED_INPUTS:
        return skipped(f"{len(declared)} inputs are too many orders to try")
    before = probe.probe_agreement
    if before >= 1.0:
        return clear(f"agreement on the probe batch is already {before:.2f} with the inputs as bound")
    trials, refused = _orders(probe, probe.runner, declared, declared, skip_identity=True)
    chosen = best(trials)
    detail = {"inputs": declared, "agreement_as_bound": before, "orders": {t.name: t.agreement for t in trials},
              "refused_by_runtime": refused}
    if chosen and restores(before, chosen.agreement, chosen.kappa, chosen.reproduces):
        binding = dict(zip(declared, chosen.name.split(",")))
        summary = (f"inputs bound in the wrong order: feeding {_moves(binding)} restores agreement "
                   f"{before:.2f} -> {chosen.agreement:.2f}")
        return found(Cause("input-binding", summary, {**detail, "binding": binding}, before, chosen.agreement,
                           chosen.kappa, chosen.reproduces), detail=detail)
    tried = f"best other order {shown(chosen, before)}" if chosen else "no other order runs"
    return clear(f"no other order of the inputs {declared} agrees better than as bound ({before:.2f}; {tried})", detail)


def _orders(probe: Probe, runner, targets: list[str], sources: list[str], skip_identity: bool):
    """Run the artifact with each assignment of the probe batch's ``sources`` to its ``targets``."""
    trials, refused = [], []
    for order in itertools.permutations(sources):
        if skip_identity and list(order) == targets:
            continue
        label = ",".join(order)
        try:  # e.g. ids fed to the segment-id input index past a 2-row table: not the answer
            logits = probe.run({name: probe.batch[source] for name, source in zip(targets, order)}, runner)
        except Exception:
            refused.append(label)
            continue
        trials.append(trial(label, logits, probe.probe_reference))
    return trials, refused


def _moves(binding: dict[str, str]) -> str:
    return " and ".join(f"{source}'s data to input '{name}'" for name, source in binding.items() if name != source)


def _wrong_names(probe: Probe, declared: list[str], actual: list[str]) -> Outcome:
    """The model file's inputs are not the names the manifest (and every app) feeds: the runtime
    refuses the feed, or leaves an input unfed. Bind by name to the file's inputs to show what fixes it."""
    listing = f"the model file's inputs are {actual}, the manifest declares {declared}"
    detail = {"file_inputs": actual, "manifest_inputs": declared}
    if len(actual) != len(declared) or len(actual) > MAX_PERMUTED_INPUTS or not set(declared) <= set(probe.batch):
        return found(Cause("input-binding", f"inputs bound by the wrong name: {listing}", detail))
    runner = copy.copy(probe.runner)
    runner.input_names = actual
    runner.dtypes = {name: dtype if dtype in ("int32", "int64") else "int64" for name, dtype in probe.file_inputs.items()}
    trials, _ = _orders(probe, runner, actual, declared, skip_identity=False)
    chosen = best(trials)
    before = probe.probe_agreement if probe.probe_logits is not None else 0.0
    if chosen is None or not restores(before, chosen.agreement, chosen.kappa, chosen.reproduces):
        return found(Cause("input-binding", f"inputs bound by the wrong name: {listing}", detail))
    binding = dict(zip(actual, chosen.name.split(",")))
    summary = (f"inputs bound by the wrong name: {listing}; feeding {_moves(binding)} restores agreement "
               f"{before:.2f} -> {chosen.agreement:.2f}")
    return found(Cause("input-binding", summary, {**detail, "binding": binding}, before, chosen.agreement,
                       chosen.kappa, chosen.reproduces))


def check_mask(probe: Probe) -> Outcome:
    """Does the artifact use the mask, and the right way round? (1 = token, 0 = padding)."""
    if reason := probe.cannot_run():
        return skipped(reason)
    mask = probe.batch["attention_mask"]
    padded = (mask == 0).any(-1)
    if not padded.any():
        return skipped("no text in the probe batch has padding, so the mask cannot matter")
    before = probe.probe_agreement
    detail = {"padded_texts": int(padded.sum()), "texts": len(mask)}
    if "attention_mask" in probe.runner.input_names:
        unmasked = probe.run({**probe.batch, "attention_mask": np.ones_like(mask)})
        change = float(np.abs(unmasked[padded] - probe.probe_logits[padded]).max())
        detail["artifact_change_when_unmasked"] = change  # 0.0: the artifact does not read the mask
    ones, inverted = np.ones_like(mask), 1 - mask
    ignored = trial("ignored", probe.probe_logits, probe.reference_logits({**probe.batch, "attention_mask": ones}))
    flipped = trial("inverted", probe.probe_logits, probe.reference_logits({**probe.batch, "attention_mask": inverted}))
    detail.update(agreement_as_given=before, agreement_if_ignored=ignored.agreement,
                  agreement_if_inverted=flipped.agreement)
    chosen = best([ignored, flipped])
    if chosen is ignored and restores(before, ignored.agreement, ignored.kappa, ignored.reproduces):
        unchanged = ("its logits do not change when the mask is set to all ones, and " if
                     detail.get("artifact_change_when_unmasked", 1.0) <= 1e-6 else "")
        summary = (f"the artifact ignores attention_mask: {unchanged}the reference run without a mask agrees "
                   f"{ignored.agreement:.2f} with it ({before:.2f} with the mask), on {int(padded.sum())} padded texts")
        return found(Cause("mask-ignored", summary, detail, before, ignored.agreement, ignored.kappa,
                           ignored.reproduces), detail=detail)
    if chosen is flipped and restores(before, flipped.agreement, flipped.kappa, flipped.reproduces):
        summary = (f"the artifact reads attention_mask inverted (0 = token, 1 = padding): the reference fed "
                   f"1 - mask agrees {flipped.agreement:.2f} with it ({before:.2f} with the mask as given)")
        return found(Cause("mask-inverted", summary, detail, before, flipped.agreement, flipped.kappa,
                           flipped.reproduces), detail=detail)
    return clear(f"the mask is used as the reference uses it ({before:.2f} agreement as given, "
                 f"{shown(ignored, before)} if ignored, {shown(flipped, before)} if inverted; "
                 f"{int(padded.sum())} padded texts)", detail)


def check_token_types(probe: Probe) -> Outcome:
    """Segment ids: missing (the type embedding dropped) or wrong (all ones) on the artifact's side?"""
    if reason := probe.cannot_run():
        return skipped(reason)
    reference_uses = "token_type_ids" in probe.reference.input_names
    artifact_takes = "token_type_ids" in probe.runner.input_names
    if not reference_uses and not artifact_takes:
        return skipped("neither the reference nor the artifact takes token_type_ids")
    if not reference_uses:
        return _unused_token_types(probe)
    before = probe.probe_agreement
    types = probe.batch["token_type_ids"]
    trials = [
        trial("all ones", probe.probe_logits, probe.reference_logits({**probe.batch, "token_type_ids": np.ones_like(types)})),
        trial("dropped", probe.probe_logits, probe.reference_logits(probe.batch, silence="token_type_embeddings")),
    ]
    agreements = {t.name: t.agreement for t in trials}
    said = {t.name: shown(t, before) for t in trials}
    detail = {"agreement_as_given": before, "agreement_if": agreements, "artifact_takes_token_type_ids": artifact_takes}
    chosen = best(trials)
    if restores(before, chosen.agreement, chosen.kappa, chosen.reproduces):
        what = ("adds no token-type embedding (segment ids missing)" if chosen.name == "dropped"
                else "treats every token as segment 1 (token_type_ids all ones)")
        summary = (f"the artifact {what}: the reference run that way agrees {chosen.agreement:.2f} with it "
                   f"({before:.2f} with segment 0)")
        return found(Cause("token-types", summary, detail, before, chosen.agreement, chosen.kappa,
                           chosen.reproduces), detail=detail)
    note = "" if artifact_takes else "; the artifact has no token_type_ids input (segment 0 is built in)"
    return clear(f"segment ids agree with the reference's ({before:.2f} as given, {said['all ones']} "
                 f"if all ones, {said['dropped']} if dropped){note}", detail)


def _unused_token_types(probe: Probe) -> Outcome:
    """The reference has no segment embeddings (DistilBERT); the artifact must then ignore the input."""
    types = probe.batch["token_type_ids"]
    change = float(np.abs(probe.run({**probe.batch, "token_type_ids": np.ones_like(types)}) - probe.probe_logits).max())
    if change > 1e-6:
        summary = (f"the artifact's output depends on token_type_ids (logits move by {change:.3g} when they are "
                   "all ones), but the reference has no token types")
        return found(Cause("token-types", summary, {"change_when_all_ones": change}))
    return clear("the artifact takes token_type_ids (for apps that feed three inputs) and ignores them, as the "
                 "reference has no token types")
