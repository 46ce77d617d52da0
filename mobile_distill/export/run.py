"""Export: a checkpoint to one artifact folder per target, precision and length (see the package docstring)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from .. import ui
from ..atomic import atomic_folder
from ..errors import ConfigError, ModelError
from ..families import family
from ..hashing import content_sha256, folder_hash
from ..layout import EXPORT_LOG, MANIFEST
from ..models import check_model_folder, load_classifier, load_tokenizer, read_labels
from ..targets import TARGETS, supported_pairs
from ..manifest import Manifest, read_manifest, write_manifest
from .artifact import tool_versions, write_labels_txt, write_tokenizer_files
from .context import ExportContext, ExportOptions
from .golden import write_golden
from .wrapper import ClassifierWrapper, uses_token_types


def check_pair(target: str, precision: str) -> None:
    if (target, precision) not in supported_pairs():
        listed = ", ".join(f"{t}/{p}" for t, p in supported_pairs())
        raise ConfigError(f"target {target} with precision {precision} is not supported; supported: {listed}",
                          fields=("target", "precision"))


def check_output_dir(output_dir: Path) -> None:
    """Refuse an output that would destroy other work: an existing file, or a folder inside an existing
    artifact (``-o ARTIFACT/model.onnx`` would replace the model file with a folder). An existing
    artifact folder itself may be the output: it is replaced in one step, as a re-export does."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"output_dir {output_dir} is an existing file; give a folder for the artifact",
                          fields=("output_dir",))
    inside = next((parent for parent in output_dir.resolve().parents if (parent / MANIFEST).is_file()), None)
    if inside is not None:
        raise ConfigError(f"output_dir {output_dir} lies inside the artifact {inside}; give a folder outside it "
                          f"(or {inside} itself, to export it again)", fields=("output_dir",))


def artifact_name(target: str, precision: str, seq_len: int, variant: str | None = None) -> str:
    """``<target>-<precision>[-<variant>]-s<length>``; variant: another student of the same run (``qat``)."""
    return f"{target}-{precision}-{variant + '-' if variant else ''}s{seq_len}"


def export(
    model_dir: Path,
    target: str,
    precision: str,
    output_dir: Path,
    options: ExportOptions = ExportOptions(),
    texts: list[str] | None = None,
    golden_texts: list[str] | None = None,
) -> Path:
    """Export ``model_dir`` to ``output_dir`` (written atomically: a failed export leaves nothing).

    ``texts``: real training texts for the sample batch and int8 calibration; ``golden_texts``:
    texts whose reference ids go into tokenizer_golden.json (with built-in edge cases).
    """
    check_pair(target, precision)
    check_output_dir(Path(output_dir))
    model_dir = Path(model_dir)
    config = check_model_folder(model_dir)
    positions = family(config).usable_positions(config.get("max_position_embeddings", 512))
    if options.seq_len > positions:
        raise ConfigError(f"seq_len {options.seq_len} is over {model_dir}'s {positions} positions; use at most "
                          f"{positions}", fields=("seq_len",))
    if precision == "int8-static" and not texts:
        raise ConfigError(f"{target} int8-static needs calibration texts: give data with training texts",
                          fields=("data",))
    start = time.perf_counter()
    model = load_classifier(model_dir).eval()
    tokenizer = load_tokenizer(model_dir)
    labels = tuple(read_labels(model_dir))
    wrapper = ClassifierWrapper(model, uses_token_types(model))
    context = ExportContext(target, precision, wrapper, tokenizer, labels, options, list(texts or []))
    exporter = TARGETS[target].load("exporter")
    with atomic_folder(Path(output_dir)) as staging, ui.native_output_to(staging / EXPORT_LOG):
        exported = exporter(context, staging)
        tokenizer_spec = write_tokenizer_files(staging, tokenizer, options.seq_len)
        write_labels_txt(staging, labels)
        write_golden(staging, tokenizer, list(golden_texts or texts or [])[:480], options.seq_len, wrapper.input_names)
        manifest = Manifest(
            target=target, precision=precision, model_file=exported.model_file,
            model_sha256=content_sha256(staging / exported.model_file), inputs=exported.inputs,
            output=exported.output, sequence_length=options.seq_len, static_shapes=exported.static_shapes,
            labels=labels, tokenizer=tokenizer_spec,
            source={"path": str(model_dir), "hash": folder_hash(model_dir), "model_type": model.config.model_type},
            quantization=exported.quantization, graph=exported.graph, options=options.model_dump(mode="json"), tool_versions=tool_versions(),
            export_seconds=round(time.perf_counter() - start, 2),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        write_manifest(staging, manifest)
    return Path(output_dir)


def export_all(
    model_dir: Path, output_root: Path, targets: list[str] | None = None, seq_lens: tuple[int, ...] = (128,),
    options: ExportOptions = ExportOptions(), texts: list[str] | None = None, golden_texts: list[str] | None = None,
    precisions: list[str] | None = None, reuse: bool = False, variant: str | None = None,
) -> list[Path]:
    """Every supported (target, precision) pair of ``targets`` and ``precisions`` (default: all), at every length.

    ``reuse``: keep an artifact already in place that was made from the same checkpoint with the
    same options and tool versions (the run verb's rerun skips finished exports this way).
    """
    pairs = plan_exports(targets, precisions)
    source_hash = folder_hash(Path(model_dir)) if reuse else None
    jobs = [(target, precision, seq_len) for target, precision in pairs for seq_len in seq_lens
            if texts or precision != "int8-static"]  # no calibration texts: the single export says so loudly
    written, reused = [], 0
    with ui.stage("export", f"{len(jobs)} artifact(s) of {model_dir}") as stage, \
            ui.progress("exporting", len(jobs)) as bar:
        for target, precision, seq_len in jobs:
            name = artifact_name(target, precision, seq_len, variant)
            bar.update(f"export {name}")
            pair_options = options.model_copy(update={"seq_len": seq_len})
            out = Path(output_root) / name
            if reuse and _is_current(out, source_hash, pair_options):
                reused += 1
            else:
                export(model_dir, target, precision, out, pair_options, texts, golden_texts)
            written.append(out)
            bar.update(advance=1)
        stage.summary = f"{len(written)} artifact(s) in {output_root}" + (f", {reused} reused" if reused else "")
    return written


def plan_exports(targets: list[str] | None, precisions: list[str] | None) -> list[tuple[str, str]]:
    """The supported pairs among ``targets`` x ``precisions`` (None: all); an error if there are none."""
    pairs = [(t, p) for t, p in supported_pairs() if (not targets or t in targets) and (not precisions or p in precisions)]
    if not pairs:
        listed = ", ".join(f"{t}/{p}" for t, p in supported_pairs())
        raise ConfigError(f"no supported pair matches target(s) {targets or 'all'} and precision(s) "
                          f"{precisions or 'all'}; supported: {listed}", fields=("targets", "precisions"))
    return pairs


def _is_current(folder: Path, source_hash: str, options: ExportOptions) -> bool:
    try:
        manifest = read_manifest(folder)
    except ModelError:
        return False
    return (manifest.source.get("hash") == source_hash and manifest.options == options.model_dump(mode="json")
            and manifest.tool_versions == tool_versions() and (folder / manifest.model_file).exists())


__all__ = ["ExportOptions", "artifact_name", "check_pair", "export", "export_all", "plan_exports", "supported_pairs"]
