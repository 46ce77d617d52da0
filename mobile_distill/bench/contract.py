"""The interface contract check: does the exported file take what its manifest says, the way the
reference model does? It runs before any accuracy number is trusted, because each broken
contract below is a known way for a converted BERT to collapse while random-input checks pass.

Every probe runs the exported file itself through its runtime (the runner) on real text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..hashing import content_sha256, file_sha256
from ..layout import TOKENIZER_JSON
from ..models import read_labels
from .schema import ContractCheck

PROBE_TEXTS = 4  # shortest texts of the split: the most padding, so mask trouble shows
# How far the artifact may move, as a share of how far the reference moves, before an input counts as
# ignored (the mask) or as used (token types). Not a half: a healthy int8 artifact moves a little under
# masked padding (dynamic activation ranges see the padded positions), and a healthy static int8 one
# moves far less than the reference when segment ids change, because its logits are clipped to the
# calibrated range (measured on a tiny BERT: 4.4 vs 12). An ignored input moves the artifact by 0.
MASK_LEAK_RATIO = 0.25
USED_RATIO = 0.1
# Relative logit error under which the artifact "is" the reference run without a mask: fp32 files that
# ignore it sit at ~1e-6, int8 ones at 0.05-0.2 (their own quantization error); a graph broken elsewhere
# in attention lands far above.
MASK_IGNORED_ERROR = 0.25
# How far rounding alone may move the logits under changed padding, as a multiple of the file's own largest
# logit error with no mask in play (_rounding_noise). An int8 file with dynamic activation ranges takes each
# tensor's scale over every position, padded ones included, so other ids under the padding re-draw its
# rounding: the logits move by about that error's size whatever the mask does (two draws). Measured on the
# parity test's tiny MobileBERT with qint8 7-bit weights: moved 0.84 for an error of 0.38 (2.2x), where the
# unmasked reference moves 3.1. A file that ignores its mask moves by about the reference's own movement;
# the second condition (nearer the masked reference) keeps it from hiding behind its rounding.
NOISE_RATIO = 3.0


def check_integrity(folder: Path, manifest, found: str | None = None) -> ContractCheck:
    """Is the model file the one the export wrote? Its SHA-256 (``found``, when the caller has hashed it
    already) against the manifest's record."""
    path = Path(folder) / manifest.model_file
    if not path.exists():
        return ContractCheck(name="file integrity", ok=False, detail=f"{path} is missing; export the artifact again")
    if manifest.model_sha256 is None:
        return ContractCheck(name="file integrity", ok=True, detail="not recorded (an artifact made before 2026-12)")
    found = found or content_sha256(path)
    if found != manifest.model_sha256:
        return ContractCheck(name="file integrity", ok=False, detail=(
            f"{path} is not the file the export wrote: sha256 {found[:12]}..., the manifest records "
            f"{manifest.model_sha256[:12]}...; export it again, or find what replaced or edited it"))
    return ContractCheck(name="file integrity", ok=True, detail=f"sha256 {found[:12]}... as recorded at export")


def unloadable(path: Path, error: BaseException) -> ContractCheck:
    """The runtime's own reason for refusing the model file, in one line."""
    reason = f"{type(error).__name__}: {_runtime_words(error)}"[:300]
    return ContractCheck(name="loads", ok=False, detail=f"its runtime cannot load {path}: {reason}")


def _runtime_words(error: BaseException) -> str:
    """The last line of a runtime's error: where onnxruntime and LiteRT put their reason."""
    return (str(error).strip().splitlines() or [type(error).__name__])[-1].strip()


def check_contract(runner, reference, texts: list[str]) -> list[ContractCheck]:
    """All contract checks of ``runner`` (an artifact) against ``reference`` (the PyTorch model)."""
    probe = sorted(texts, key=len)[:PROBE_TEXTS]
    checks = [_inputs(runner), _labels(runner, reference), check_tokenizer(runner, reference, texts)]
    if not checks[0].ok:  # feeding a file whose inputs are not what the manifest says cannot tell more
        return checks
    for name, probe_check in (("outputs", _finite_outputs), ("attention mask", _mask), ("token types", _token_types)):
        try:
            checks.append(probe_check(runner, reference, probe))
        except Exception as error:  # the runtime refusing our real input IS the finding; keep its words
            refused = f"the runtime refused real input: {_runtime_words(error)}"
            checks.append(ContractCheck(name=name, ok=False, detail=refused))
    return checks


def _inputs(runner) -> ContractCheck:
    """Names, order, dtypes and shapes the file declares vs the manifest."""
    declared = runner.declared_inputs()
    expected = [(spec.name, spec.dtype, tuple(spec.shape)) for spec in runner.manifest.inputs]
    problems = []
    if len(declared) != len(expected):
        problems.append(f"the file has {len(declared)} inputs, the manifest lists {len(expected)}")
    by_name = all(name is not None for name, _, _ in declared)
    if by_name and [name for name, _, _ in declared] != [name for name, _, _ in expected]:
        problems.append(f"input order/names in the file {[n for n, _, _ in declared]} != manifest {[n for n, _, _ in expected]}")
    for (name, dtype, shape), (want_name, want_dtype, want_shape) in zip(declared, expected):
        label = name or want_name
        if dtype != want_dtype:
            problems.append(f"{label}: the file takes {dtype}, the manifest says {want_dtype}")
        if runner.manifest.static_shapes and tuple(shape) != tuple(want_shape):
            problems.append(f"{label}: the file's shape {tuple(shape)} != manifest {tuple(want_shape)}")
    detail = "; ".join(problems) or f"{len(declared)} inputs as the manifest says: " + ", ".join(
        f"{n} {d}{list(s)}" for n, d, s in expected)
    return ContractCheck(name="inputs", ok=not problems, detail=detail)


def _labels(runner, reference) -> ContractCheck:
    ours, theirs = list(runner.labels), list(read_labels(Path(reference.folder)))
    ok = ours == theirs
    return ContractCheck(name="labels", ok=ok, detail=f"{ours}" if ok else f"artifact labels {ours} != reference {theirs}")


def check_tokenizer(runner, reference, texts: list[str]) -> ContractCheck:
    """The artifact's own tokenizer files vs the manifest's record and vs the reference tokenizer
    (on the first 200 texts). Diagnose reports a failure of this check as its tokenizer cause too."""
    texts = texts[:200]
    spec = runner.manifest.tokenizer
    problems = []
    file = Path(runner.folder) / TOKENIZER_JSON
    if file.is_file() and file_sha256(file) != spec.sha256:
        problems.append("tokenizer.json differs from the one recorded at export (sha256)")
    ours, theirs = runner.tokenizer, reference.tokenizer
    if len(ours) > reference.model.config.vocab_size:
        problems.append(f"tokenizer has {len(ours)} tokens, the model's embedding table {reference.model.config.vocab_size}")
    for setting in ("do_lower_case", "strip_accents", "padding_side", "truncation_side"):
        a, b = _setting(ours, setting), _setting(theirs, setting)
        if a != b:
            problems.append(f"{setting}: artifact {a} vs reference {b}")
    special = {name: ours.convert_tokens_to_ids(token) for name, token in ours.special_tokens_map.items() if isinstance(token, str)}
    reference_special = {name: theirs.convert_tokens_to_ids(token) for name, token in theirs.special_tokens_map.items()
                         if isinstance(token, str)}
    if special != reference_special:
        problems.append(f"special token ids {special} vs reference {reference_special}")
    length = runner.seq_len
    a = ours(texts, truncation=True, max_length=length)["input_ids"]
    b = theirs(texts, truncation=True, max_length=length)["input_ids"]
    differing = sum(x != y for x, y in zip(a, b))
    if differing:
        problems.append(f"{differing} of {len(texts)} texts tokenise differently from the reference")
    return ContractCheck(name="tokenizer", ok=not problems,
                         detail="; ".join(problems) or f"same settings and ids as the reference on {len(texts)} texts")


def _setting(tokenizer, name: str):
    """A tokenizer setting as the fast tokenizer applies it (its normalizer), else the attribute."""
    normalizer = json.loads(tokenizer.backend_tokenizer.to_str()).get("normalizer") or {}
    if name == "do_lower_case" and "lowercase" in normalizer:
        return normalizer["lowercase"]
    if name == "strip_accents" and "strip_accents" in normalizer:  # BERT: null means "as lowercase"
        value = normalizer["strip_accents"]
        return normalizer.get("lowercase") if value is None else value
    return getattr(tokenizer, name, None)


def _finite_outputs(runner, reference, probe: list[str]) -> ContractCheck:
    logits = runner.predict(probe)
    if logits.shape != (len(probe), len(runner.labels)):
        return ContractCheck(name="outputs", ok=False, detail=f"logits shape {logits.shape}, expected "
                             f"({len(probe)}, {len(runner.labels)})")
    if not np.isfinite(logits).all():
        return ContractCheck(name="outputs", ok=False, detail="NaN or inf logits on real padded text")
    return ContractCheck(name="outputs", ok=True, detail=f"finite logits, one per label, at length {runner.seq_len}")


def _perturb_padding(batch: dict, vocab_size: int, seed: int = 0) -> dict:
    """Other ids under the padding, except at the padding position next to a real token: MobileBERT's
    trigram embedding gives each token its neighbours' embeddings, so that one id is part of the last real
    token's input in the reference too (always the pad id there), and changing it is not a mask test."""
    rng = np.random.default_rng(seed)
    ids = batch["input_ids"].copy()
    mask = batch["attention_mask"]
    padded = mask == 0
    beside = np.zeros_like(padded)
    beside[:, 1:] = padded[:, 1:] & (mask[:, :-1] == 1)  # right padding's first position
    beside[:, :-1] |= padded[:, :-1] & (mask[:, 1:] == 1)  # left padding's last position
    changed = padded & ~beside
    ids[changed] = rng.integers(1000 if vocab_size > 2000 else 5, vocab_size, size=int(changed.sum()))
    return {**batch, "input_ids": ids}


def _mask(runner, reference, probe: list[str]) -> ContractCheck:
    """Changing the ids under padding must not move the artifact's logits (its mask works)."""
    batch = runner.encode(probe, pad_to_length=True)
    if not (batch["attention_mask"] == 0).any():
        return ContractCheck(name="attention mask", ok=True, detail="no padding in the probe texts: not probed")
    vocab = reference.model.config.vocab_size
    noisy = _perturb_padding(batch, vocab)
    logits, noisy_logits = runner.predict(batch), runner.predict(noisy)
    moved = np.abs(noisy_logits - logits).max()
    if not np.isfinite(moved):  # NaN compares false with everything: it must not read as a leak, nor as none
        return ContractCheck(name="attention mask", ok=False, detail="inconclusive: the artifact's logits are not "
                             "finite, so what padding does to them cannot be measured (see outputs)")
    # The yardstick: how far the reference moves when those same positions are NOT masked.
    ones = np.ones_like(batch["attention_mask"])
    plain = _for_reference(batch, reference)
    masked_reference = reference.predict(plain)  # what padding must not change
    unmasked_reference = reference.predict({**_for_reference(noisy, reference), "attention_mask": ones})
    yardstick = np.abs(unmasked_reference - masked_reference).max()
    detail = (f"padding ids changed: artifact logits moved {moved:.2g} (unmasked reference would move {yardstick:.2g})")
    if moved <= MASK_LEAK_RATIO * yardstick or moved < 1e-3:
        return ContractCheck(name="attention mask", ok=True, detail=detail)
    noise = _rounding_noise(runner, reference, batch)
    nearer_masked = np.linalg.norm(noisy_logits - masked_reference) < np.linalg.norm(noisy_logits - unmasked_reference)
    if moved <= NOISE_RATIO * noise and nearer_masked:
        return ContractCheck(name="attention mask", ok=True, detail=(
            f"{detail}: within {NOISE_RATIO:g} x the file's own rounding error with no mask in play ({noise:.2g}), "
            "and its logits stay nearer the masked reference than the unmasked one"))
    # Padding reaches the logits. Name an ignored mask only when the reference run without a mask gives the
    # artifact's logits: a graph broken anywhere else in attention leaks padding too.
    without_mask = reference.predict({**plain, "attention_mask": ones})
    error = _relative_error(logits, without_mask)
    if error <= MASK_IGNORED_ERROR:
        return ContractCheck(name="attention mask", ok=False, detail=f"attention mask ignored: {detail}; the artifact "
                             f"gives the logits of the reference run without a mask (relative error {error:.2g})")
    return ContractCheck(name="attention mask", ok=False, detail=(
        f"padding leaks into the logits, cause inconclusive: {detail}, but the reference run without a mask does "
        f"not give the artifact's logits (relative error {error:.2g}); diagnose finds where the artifact departs"))


def _rounding_noise(runner, reference, batch: dict) -> float:
    """The artifact's largest logit error against the reference with every position attended, so that no
    mask is in play: a file that ignores its mask is as right here as a healthy one, and the figure is its
    rounding alone. 0 when that error is too large to be rounding (MASK_IGNORED_ERROR, relative): a file
    broken elsewhere must not excuse its padding leak with its own brokenness."""
    ones = np.ones_like(batch["attention_mask"])
    logits = runner.predict({**batch, "attention_mask": ones})
    expected = reference.predict({**_for_reference(batch, reference), "attention_mask": ones})
    return float(np.abs(logits - expected).max()) if _relative_error(logits, expected) <= MASK_IGNORED_ERROR else 0.0


def _relative_error(logits: np.ndarray, expected: np.ndarray) -> float:
    """||logits - expected|| / ||expected|| (NaN where the logits are not finite, which no bound accepts)."""
    return float(np.linalg.norm(logits - expected) / max(np.linalg.norm(expected), 1e-12))


def _token_types(runner, reference, probe: list[str]) -> ContractCheck:
    """token_type_ids present exactly where they matter, and acting as in the reference."""
    reference_uses = "token_type_ids" in reference.input_names
    artifact_has = "token_type_ids" in runner.input_names
    if reference_uses and not artifact_has:
        return ContractCheck(name="token types", ok=False, detail="the reference uses token_type_ids; the artifact has no such input")
    if not artifact_has:
        return ContractCheck(name="token types", ok=True, detail="neither model takes token_type_ids")
    batch = runner.encode(probe, pad_to_length=True)
    flipped = {**batch, "token_type_ids": batch["attention_mask"].copy()}  # segment 1 over every real token
    moved = np.abs(runner.predict(flipped) - runner.predict(batch)).max()
    if not reference_uses:  # e.g. DistilBERT's TFLite keeps a third input for MediaPipe; it must be inert
        ok = moved < 1e-3
        return ContractCheck(name="token types", ok=ok, detail=f"token_type_ids {'inert' if ok else 'change the output'} "
                             f"as in the reference (logits moved {moved:.2g})")
    yardstick = np.abs(reference.predict(_for_reference(flipped, reference))
                       - reference.predict(_for_reference(batch, reference))).max()
    ok = yardstick < 1e-3 or moved >= USED_RATIO * yardstick
    return ContractCheck(name="token types", ok=ok, detail=("" if ok else "token_type_ids ignored by the artifact: ")
                         + f"segment change moves artifact logits {moved:.2g}, reference {yardstick:.2g}")


def _for_reference(batch: dict, reference) -> dict:
    """The artifact's batch as the reference takes it (segment 0 where the artifact has no segment ids)."""
    zeros = np.zeros_like(batch["input_ids"])
    return {name: batch.get(name, zeros) for name in reference.input_names}
