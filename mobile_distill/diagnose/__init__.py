"""Diagnose stage: when an exported artifact fails its accuracy gate, name the cause.

BERT classifiers collapse after conversion for a handful of known reasons. Each check below
looks for one of them by running the artifact through its own runtime (the runner interface;
never inferred from PyTorch) next to the PyTorch reference, and most of them by a
counterfactual: change the feed the way the suspected fault would, and see whether the
artifact's agreement with the reference comes back. A cause whose counterfactual closes at least
half of the disagreement is *confirmed* and ranked first.

The feed checks share one probe batch: the texts tokenized by the *reference* tokenizer and
shaped as the artifact takes them, padded past the longest text so the mask hides something.
That keeps tokenizer and truncation effects out of them; those have checks of their own.

file            The model file's SHA-256 against the manifest's record (file-modified), and whether
                its runtime loads it (file-unreadable): `diagnose.integrity`.
labels          The artifact's labels (manifest, labels.txt) against the reference's logit order
                (label-mismatch): indices still agree, but every name an app shows is wrong.
manifest        The model file's inputs against the manifest: their count, and for static shapes
                the sequence length (manifest-mismatch). Bench's contract check fails an artifact
                on these and on the next two; diagnose names them as the cause.
input-binding   Every other order of the input feeds (ids, mask, segment ids). Inputs are bound
                by name, and a graph whose names were swapped at export looks fine until its
                numbers are checked; the order that restores agreement is named.
id-dtype        The dtypes the model file takes (ONNX graph inputs, TFLite signature) against
                the manifest's: int32 vs int64 makes runtimes refuse or misread the feed. The
                artifact is rerun with the file's dtypes to show what that restores.
id-range        Ids from the artifact's tokenizer past the embedding table; and ids wrapped to
                8 or 16 bits (a narrowing Cast before the Gather): the reference is fed the
                wrapped ids, and the width that reproduces the artifact is named.
attention-mask  The reference run with no mask (all ones) and with the mask inverted: which
                one the artifact matches (mask-ignored, mask-inverted). Also whether the
                artifact's logits move at all when the mask is set to all ones.
token-types     The reference run with segment ids all ones, and with its token-type embedding
                dropped; for a reference without token types, whether the artifact (wrongly)
                reacts to them.
tokenizer       The artifact's bundled tokenizer files against the reference's tokenizer
                (tokenizer-mismatch): settings (lower-casing, accents, special tokens and ids,
                vocabulary, padding and truncation side, length limit), then both encode the
                real texts and the rows that differ are counted; the artifact fed the
                reference's ids shows how much of the disagreement that explains.
padding-length  Texts longer than the artifact's sequence length are cut; whether cutting
                changes the reference's own predictions, and whether the disagreements sit
                among the cut texts.
fp16-overflow   For artifacts that compute in fp16 (ONNX fp16, Core ML fp16 compute): the
                reference's activations, via forward hooks, against fp16's 65504; the modules
                that pass it are named.
layers          For quantized ONNX and TFLite artifacts (quantization-layer): every
                intermediate tensor against an fp32 export of the reference to the same format,
                run in the same runtime, the first one (in execution order) that diverges, and
                the quantized nodes ranked by the error they add (`layer_sensitivity`, for
                keeping the worst ones in float). ExecuTorch int8: every quantized Linear's
                output in the PT2E simulation the .pte was lowered from (its XNNPACK delegate
                exposes no intermediate tensor). Core ML: skipped, said plainly.
non-finite      The first operation writing NaN or inf, its module, and whether it read a weight
                holding NaN/inf or overflowed on finite inputs (`diagnose.departure`).
departure       Every precision: the artifact's intermediate tensors, tied to PyTorch modules,
                against the reference's module outputs on the same texts; the first module that
                departs beyond its precision's tolerance (module-departure; `diagnose.departure`).
weights         ExecuTorch fp32: the reference's parameters looked for byte for byte in the file,
                since its delegate exposes no tensor (`diagnose.weights`).
arm64-kernels   Not a check of this module: the aarch64 lane (`bench --emulate`,
                mobile_distill.emulate.layers) names it when the file's aarch64 run on an
                emulated phone CPU departs from its own x86 run, with the first departing tensor
                and the kernel family the aarch64 runtime picks for it on that CPU.

A counterfactual only counts when the match is beyond chance (Cohen's kappa >= 0.5): a feed
that makes the reference predict one class everywhere "agrees" with an artifact that has
collapsed to that class, and explains nothing; unless it reproduces the artifact's logits
themselves (relative error under 1%), which no coincidence does: an inverted mask that leaves only
padding to attend to collapses the artifact and its counterfactual to the same numbers.

A check that cannot apply (the artifact's runtime is unavailable here, e.g. Core ML off macOS;
no padding to probe the mask with; an fp32 artifact for fp16 overflow) reports "skipped" and why.
A check that raises is reported as "crashed" with the error, never as skipped: a crash is a bug in
the check, and the tests fail on it.
"""

from .run import (
    CHECKS,
    CODES,
    Cause,
    Check,
    Diagnosis,
    LayerComparison,
    NodeSensitivity,
    TensorError,
    compare_layers,
    diagnose,
    layer_sensitivity,
)

__all__ = ["CHECKS", "CODES", "Cause", "Check", "Diagnosis", "LayerComparison", "NodeSensitivity", "TensorError", "compare_layers", "diagnose", "layer_sensitivity"]
