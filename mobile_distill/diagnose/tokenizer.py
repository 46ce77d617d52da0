"""Tokenizer and length checks: the tokenizer files bundled in the artifact against the
reference's, and texts that the artifact's sequence length cuts short.

Settings alone do not decide a mismatch (a cased tokenizer only matters for texts with capitals),
so both tokenizers also encode the real texts; a mismatch is found when rows differ, and its
weight is measured by feeding the artifact the reference tokenizer's ids instead.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..bench.contract import check_tokenizer as check_tokenizer_contract
from ..layout import TOKENIZER_JSON
from ..metrics import agreement, kappa
from ..models import load_tokenizer
from .context import Probe
from .report import Cause, Outcome, clear, found

SPECIAL = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token")


def settings(tokenizer) -> dict[str, object]:
    """The settings that change ids: normalizer and pre-tokenizer options, special tokens with their
    ids, vocabulary, padding/truncation sides, length limit and the input names."""
    backend = json.loads(tokenizer.backend_tokenizer.to_str()) if hasattr(tokenizer, "backend_tokenizer") else {}
    found_settings: dict[str, object] = {}
    for part in ("normalizer", "pre_tokenizer", "post_processor"):
        found_settings.update(_flatten(part, backend.get(part)))
    model = backend.get("model") or {}
    for key in ("type", "unk_token", "continuing_subword_prefix", "max_input_chars_per_word"):
        found_settings[f"model.{key}"] = model.get(key)
    for name in SPECIAL:
        token = getattr(tokenizer, name, None)
        found_settings[name] = None if token is None else f"{token} (id {tokenizer.convert_tokens_to_ids(str(token))})"
    limit = getattr(tokenizer, "model_max_length", None)
    found_settings.update(
        do_lower_case=getattr(tokenizer, "do_lower_case", None), vocab_size=len(tokenizer.get_vocab()),
        padding_side=tokenizer.padding_side, truncation_side=tokenizer.truncation_side,
        model_max_length=limit if isinstance(limit, int) and limit < 1_000_000 else None,
        model_input_names=list(tokenizer.model_input_names))
    return found_settings


def _flatten(prefix: str, value) -> dict[str, object]:
    if isinstance(value, dict):
        return {key: v for k, item in value.items() for key, v in _flatten(f"{prefix}.{k}", item).items()}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return {key: v for i, item in enumerate(value) for key, v in _flatten(f"{prefix}.{i}", item).items()}
    return {prefix: json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value}


def check_tokenizer(probe: Probe) -> Outcome:
    artifact = probe.runner.tokenizer if probe.runner is not None else load_tokenizer(probe.artifact_dir)
    reference = probe.reference.tokenizer
    ours, theirs = settings(reference), settings(artifact)
    differences = {key: (ours.get(key), theirs.get(key)) for key in sorted(set(ours) | set(theirs))
                   if ours.get(key) != theirs.get(key)}
    theirs_vocab = artifact.get_vocab()
    vocab_changes = sum(1 for token, i in reference.get_vocab().items() if theirs_vocab.get(token) != i)
    rows, example = _differing_rows(probe, artifact, reference)
    detail = {"settings_differ": {k: [_plain(a), _plain(b)] for k, (a, b) in differences.items()},
              "vocab_entries_differ": vocab_changes, "texts": len(probe.sample), "texts_differ": len(rows),
              "example": example, "edited_since_export": _edited(probe)}
    what = _describe(differences, vocab_changes)
    if not rows:
        return _settings_only(probe, what, detail)
    before = after = chance = None
    if probe.delivered is not None and probe.probe_logits is not None:
        before = agreement(probe.delivered[: len(probe.sample)], probe.probe_reference)
        after, chance = probe.probe_agreement, kappa(probe.probe_logits, probe.probe_reference)
    restored = f"; feeding the artifact the reference tokenizer's ids moves agreement {before:.2f} -> {after:.2f}" \
        if before is not None else ""
    summary = (f"tokenizer mismatch: {what or 'same settings, different ids'}: {len(rows)} of {len(probe.sample)} "
               f"texts are encoded differently (ids or their positions){restored}")
    return found(Cause("tokenizer-mismatch", summary, detail, before, after, chance), detail=detail)


def _settings_only(probe: Probe, what: str, detail: dict) -> Outcome:
    """No probe text encodes differently. Still a cause when bench's contract check fails the tokenizer
    (a setting only some texts meet, an edited file): the contract's finding is diagnose's too."""
    contract = check_tokenizer_contract(probe.runner, probe.reference, probe.texts) if probe.runner else None
    if contract is not None and not contract.ok:
        detail = {**detail, "contract": contract.detail}
        summary = (f"tokenizer mismatch: {contract.detail}; the {len(probe.sample)} probe texts encode the same, "
                   f"so other texts (longer, cased, accented) meet it")
        return found(Cause("tokenizer-mismatch", summary, detail), detail=detail)
    note = f"settings differ ({what}) but " if what else ""
    return clear(f"{note}both tokenizers encode all {len(probe.sample)} texts the same", detail)


def _differing_rows(probe: Probe, artifact, reference) -> tuple[list[int], dict | None]:
    """Rows whose real tokens differ, in content or position (padding side), at the artifact's length."""
    padding = "max_length" if probe.manifest.static_shapes else "longest"
    encoded = [tokenizer(probe.sample, truncation=True, max_length=probe.manifest.sequence_length, padding=padding,
                         return_tensors="np") for tokenizer in (artifact, reference)]
    rows = [i for i in range(len(probe.sample)) if _tokens(encoded[0], i) != _tokens(encoded[1], i)]
    if not rows:
        return rows, None
    i = rows[0]
    shown = [tokenizer.convert_ids_to_tokens(_tokens(batch, i)[0])[:24]
             for tokenizer, batch in zip((reference, artifact), (encoded[1], encoded[0]))]
    return rows, {"text": probe.sample[i], "reference": shown[0], "artifact": shown[1]}


def _tokens(batch, row: int) -> tuple[list[int], list[int]]:
    """The real (unpadded) ids of a row, and where they sit."""
    where = np.flatnonzero(batch["attention_mask"][row])
    return batch["input_ids"][row][where].tolist(), where.tolist()


def _describe(differences: dict, vocab_changes: int) -> str:
    """The differing settings in words, the ones that matter most first."""
    phrases = []
    lower = differences.get("normalizer.lowercase") or differences.get("do_lower_case")
    if lower:
        phrases.append("the artifact's tokenizer does not lower-case (the reference's does)" if lower[0]
                       else "the artifact's tokenizer lower-cases (the reference's does not)")
    for key, (ours, theirs) in differences.items():
        if key in ("normalizer.lowercase", "do_lower_case") or (key == "vocab_size" and vocab_changes):
            continue
        if key in SPECIAL:
            phrases.append(f"{key} is {ours} in the reference, {theirs} in the artifact")
        elif key in ("padding_side", "truncation_side"):
            phrases.append(f"{key.replace('_', ' ')} is {theirs} (the reference's: {ours})")
        else:
            phrases.append(f"{key}: reference {_plain(ours)}, artifact {_plain(theirs)}")
    if vocab_changes:
        phrases.append(f"{vocab_changes} vocabulary entries differ")
    return "; ".join(phrases[:3]) + (f" (+{len(phrases) - 3} more)" if len(phrases) > 3 else "")


def _plain(value):
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _edited(probe: Probe) -> bool | None:
    """tokenizer.json no longer has the hash the manifest recorded at export."""
    path = probe.artifact_dir / TOKENIZER_JSON
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest() != probe.manifest.tokenizer.sha256


def check_padding_length(probe: Probe) -> Outcome:
    """Texts longer than the artifact's sequence length lose their ends; does that flip predictions?"""
    limit, reference_limit = probe.manifest.sequence_length, probe.reference.seq_len
    tokenizer = probe.reference.tokenizer
    lengths = np.array([len(ids) for ids in tokenizer(probe.texts, truncation=True, max_length=reference_limit)["input_ids"]])
    cut = np.flatnonzero(lengths > limit)
    if not len(cut):
        return clear(f"no text is longer than the artifact's {limit} tokens (longest {lengths.max()})")
    texts = [probe.texts[i] for i in cut]
    encoded = tokenizer(texts, truncation=True, max_length=limit, padding="longest", return_tensors="np",
                        return_token_type_ids="token_type_ids" in probe.reference.input_names)
    shortened = probe.reference.predict({name: encoded[name] for name in probe.reference.input_names})
    full = probe.full_reference
    flipped = int((shortened.argmax(-1) != full[cut].argmax(-1)).sum())
    detail = {"sequence_length": limit, "reference_length": reference_limit, "texts": len(probe.texts),
              "texts_cut": len(cut), "cut_changes_reference": flipped}
    before = after = chance = None
    where = ""
    if probe.delivered is not None:
        as_cut = full.copy()
        as_cut[cut] = shortened
        before, after = agreement(probe.delivered, full), agreement(probe.delivered, as_cut)
        chance = kappa(probe.delivered, as_cut)
        wrong = probe.delivered.argmax(-1) != full.argmax(-1)
        detail.update(disagreements=int(wrong.sum()), disagreements_in_cut=int(wrong[cut].sum()))
        where = (f"; {int(wrong[cut].sum())} of the {int(wrong.sum())} disagreements are among the cut texts "
                 f"(against the reference cut the same way, agreement {before:.2f} -> {after:.2f})")
    summary = (f"the artifact reads {limit} tokens, the reference up to {reference_limit}: {len(cut)} of "
               f"{len(probe.texts)} texts are cut, which changes the reference's own prediction on {flipped} of them{where}")
    if not flipped:
        return clear(summary, detail)
    return found(Cause("padding-length", summary, detail, before, after, chance), detail=detail)
