"""TFLite Model Metadata for BERT-style text classifiers, without tflite-support.

Writes the metadata MediaPipe Tasks' TextClassifier needs (three int32 input
tensors named "ids" / "mask" / "segment_ids" in metadata, a BertTokenizer input
process unit with the vocab file, and a label file on the output tensor) into a
.tflite made by litert-torch, and reads it back.

Writing reuses mediapipe's own metadata writer (mediapipe>=0.10 on PyPI). Its
`metadata.py` imports a compiled module `_pywrap_metadata_version` that the
wheels do not ship; it is only used to compute the `min_parser_version` string.
`_metadata_version_shim()` supplies a pure-Python port of that function for
the duration of the import only, so nothing fake is left in `sys.modules`.

Reading uses only the flatbuffer schema (`metadata_schema_py_generated`,
`schema_py_generated`) plus `zipfile`: a .tflite with metadata is the model
flatbuffer with a zip archive of the associated files appended.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import types
import zipfile
from typing import Dict, Optional, Sequence

_METADATA_NAME = b"TFLITE_METADATA"  # key of the metadata buffer in Model.metadata
_SHIM_PARENTS = ("mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata",
                 "mediapipe.tasks.cc.metadata.python")
_SHIM_LEAF = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"

# Input roles MediaPipe's BertPreprocessorCalculator looks up by *metadata*
# name (TensorMetadata.name), mapped to the usual HF / Model Maker spellings.
_ROLE_ALIASES = {
    "ids": ("input_ids", "input_word_ids", "ids"),
    "mask": ("attention_mask", "input_mask", "mask"),
    "segment_ids": ("token_type_ids", "input_type_ids", "segment_ids"),
}
# Order of forward() arguments when litert-torch names them args_0, args_1, ...
DEFAULT_POSITIONAL_ORDER = ("input_ids", "attention_mask", "token_type_ids")


# --------------------------------------------------------------------------
# Minimum metadata parser version (port of mediapipe/tasks/cc/metadata/
# metadata_version.cc).  Each schema member added after 1.0.0 raises the
# minimum; for a BERT classifier the answer is "1.1.0" (input_process_units and
# BertTokenizerOptions were both added in 1.1.0; label files are 1.0.0).
# MediaPipe's C++ extractor refuses metadata whose min_parser_version is newer
# than the parser it was built with, so overstating it breaks loading.
# --------------------------------------------------------------------------
def _fb():
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
    return fb


def _bump(current, version):
    return max(current, version)


def _files_version(files):
    fb, v = _fb(), (1, 0, 0)
    for f in files or []:
        if f.type == fb.AssociatedFileType.VOCABULARY:
            v = _bump(v, (1, 0, 1))
        if f.type == fb.AssociatedFileType.SCANN_INDEX_FILE:
            v = _bump(v, (1, 4, 0))
        if f.version is not None:
            v = _bump(v, (1, 4, 1))
    return v


def _units_version(units):
    opts, v = _fb().ProcessUnitOptions, (1, 0, 0)
    for u in units or []:
        if u.optionsType in (opts.BertTokenizerOptions,
                             opts.SentencePieceTokenizerOptions):
            v = _bump(v, (1, 1, 0))
        if u.optionsType == opts.RegexTokenizerOptions:
            v = _bump(v, (1, 2, 1))
    return v


def _tensor_version(t):
    v = max(_files_version(t.associatedFiles), _units_version(t.processUnits))
    audio = _fb().ContentProperties.AudioProperties
    if t.content is not None and t.content.contentPropertiesType == audio:
        v = _bump(v, (1, 3, 0))
    return v


def _subgraph_version(sg):
    v = max([_tensor_version(t) for t in (sg.inputTensorMetadata or [])]
            + [_tensor_version(t) for t in (sg.outputTensorMetadata or [])]
            + [_files_version(sg.associatedFiles)])
    for units in (sg.inputProcessUnits, sg.outputProcessUnits):
        if units is not None:  # the field's presence alone needs 1.1.0
            v = max(v, (1, 1, 0), _units_version(units))
    if sg.inputTensorGroups is not None or sg.outputTensorGroups is not None:
        v = _bump(v, (1, 2, 0))
    if sg.customMetadata is not None:
        v = _bump(v, (1, 5, 0))
    return v


def min_parser_version(metadata_buf: bytes) -> str:
    """Smallest metadata parser version able to read `metadata_buf`."""
    fb = _fb()
    md = fb.ModelMetadataT.InitFromObj(
        fb.ModelMetadata.GetRootAsModelMetadata(bytearray(metadata_buf), 0))
    v = max([(1, 0, 0), _files_version(md.associatedFiles)]
            + [_subgraph_version(sg) for sg in md.subgraphMetadata or []])
    return "%d.%d.%d" % v


# --------------------------------------------------------------------------
# Import mediapipe's writer with the shim.
# --------------------------------------------------------------------------
def _real_module_exists(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


@contextlib.contextmanager
def _metadata_version_shim():
    """Temporarily provide mediapipe.tasks.cc.metadata.python._pywrap_metadata_version.

    Only the import of mediapipe's metadata.py needs the module to be findable;
    afterwards metadata.py keeps its own reference, so the fake packages are
    removed again and a later real wheel that ships the module wins.
    """
    if _real_module_exists(_SHIM_LEAF):
        yield
        return
    leaf = types.ModuleType(_SHIM_LEAF)
    leaf.GetMinimumMetadataParserVersion = min_parser_version
    fakes = {name: types.ModuleType(name) for name in _SHIM_PARENTS}
    fakes[_SHIM_LEAF] = leaf
    for name in _SHIM_PARENTS:
        fakes[name].__path__ = []  # mark as package so submodule imports resolve
    fakes[_SHIM_PARENTS[0]].metadata = fakes[_SHIM_PARENTS[1]]
    fakes[_SHIM_PARENTS[1]].python = fakes[_SHIM_PARENTS[2]]
    fakes[_SHIM_PARENTS[2]]._pywrap_metadata_version = leaf
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _mediapipe_writer_modules():
    """Returns (metadata, metadata_writer, text_classifier) from mediapipe."""
    with _metadata_version_shim():
        from mediapipe.tasks.python.metadata import metadata
        from mediapipe.tasks.python.metadata.metadata_writers import (
            metadata_writer,
            text_classifier,
        )
    return metadata, metadata_writer, text_classifier


# --------------------------------------------------------------------------
# Model inspection helpers (schema only, no interpreter).
# --------------------------------------------------------------------------
def _model(buf):
    from mediapipe.tasks.metadata import schema_py_generated as sfb
    return sfb.Model.GetRootAsModel(buf, 0)


def _input_tensors(buf):
    """[(tensor_name, shape, type)] of subgraph 0 inputs, in subgraph order."""
    sg = _model(buf).Subgraphs(0)
    out = []
    for i in range(sg.InputsLength()):
        t = sg.Tensors(sg.Inputs(i))
        out.append((t.Name().decode(), [int(d) for d in t.ShapeAsNumpy()], t.Type()))
    return out


def _signature_inputs(buf) -> Dict[str, str]:
    """{signature input name: tensor name} of the first SignatureDef."""
    m = _model(buf)
    if m.SignatureDefsLength() == 0:
        return {}
    sd, sg = m.SignatureDefs(0), m.Subgraphs(0)
    return {sd.Inputs(j).Name().decode():
            sg.Tensors(sd.Inputs(j).TensorIndex()).Name().decode()
            for j in range(sd.InputsLength())}


def _role_of(signature_name: str, positional_order: Sequence[str]) -> Optional[str]:
    # litert-torch names positional forward() args "args_<k>".
    if signature_name.startswith("args_") and signature_name[5:].isdigit():
        k = int(signature_name[5:])
        signature_name = positional_order[k] if k < len(positional_order) else ""
    for role, aliases in _ROLE_ALIASES.items():
        if signature_name in aliases:
            return role
    return None


def resolve_bert_input_tensor_names(
        buf, positional_order: Sequence[str] = DEFAULT_POSITIONAL_ORDER) -> Dict[str, str]:
    """Maps ids/mask/segment_ids to TFLite tensor names via the SignatureDef."""
    roles = {}
    for sig_name, tensor_name in _signature_inputs(buf).items():
        role = _role_of(sig_name, positional_order)
        if role is not None:
            roles[role] = tensor_name
    if set(roles) != set(_ROLE_ALIASES):
        raise ValueError(f"cannot map signature inputs {_signature_inputs(buf)} "
                         "to ids/mask/segment_ids; pass input_tensor_names")
    return roles


def _without_associated_files(buf: bytearray) -> bytearray:
    """Drops the zip of associated files an earlier metadata write appended.

    mediapipe's populator refuses to pack a file name that is already packed,
    so re-writing metadata on a .tflite that has some must start from the bare
    flatbuffer. zipfile reports absolute offsets even with data prepended.
    """
    if not zipfile.is_zipfile(io.BytesIO(buf)):
        return buf
    with zipfile.ZipFile(io.BytesIO(buf)) as z:
        offsets = [info.header_offset for info in z.infolist()]
    return buf[:min(offsets)] if offsets else buf


def inline_offset_buffers(buf: bytearray) -> bytearray:
    """Move constant data stored after the flatbuffer (by offset) back inside it.

    ai-edge-quantizer writes models with 256 KB or more of weights in this "offset buffer"
    layout. mediapipe's populator rebuilds the model through the flatbuffer object API, which
    keeps each buffer's offset but not the bytes appended after the flatbuffer, so the written
    file fails to load ("Constant buffer N specified an out of range offset"). Inlining first
    gives a plain flatbuffer that the populator handles (models under 2 GB only).
    """
    import flatbuffers
    import numpy as np
    from mediapipe.tasks.metadata import schema_py_generated as sfb

    model = sfb.ModelT.InitFromPackedBuf(bytes(buf), 0)
    moved = False
    for buffer in model.buffers or []:
        if buffer.offset and buffer.offset > 1:
            buffer.data = np.frombuffer(bytes(buf[buffer.offset:buffer.offset + buffer.size]), dtype=np.uint8)
            buffer.offset, buffer.size = 0, 0
            moved = True
    if not moved:
        return buf
    builder = flatbuffers.Builder(len(buf) + (1 << 20))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytearray(builder.Output())


def _check_mediapipe_bert_inputs(buf):
    # MediaPipe picks its BERT preprocessor only for exactly three int32
    # inputs shaped [1, L] (text_model_utils.cc / text_preprocessing_graph.cc).
    from mediapipe.tasks.metadata import schema_py_generated as sfb
    inputs = _input_tensors(buf)
    if len(inputs) != 3:
        raise ValueError(f"MediaPipe BERT classifiers need 3 inputs, got {len(inputs)}")
    for name, shape, ttype in inputs:
        if ttype != sfb.TensorType.INT32 or len(shape) != 2 or shape[0] != 1:
            raise ValueError(f"input {name}: need int32 [1, L], got type "
                             f"{ttype} shape {shape}")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def write_bert_classifier_metadata(
        model_path: str,
        output_path: str,
        vocab_path: str,
        labels: Sequence[str],
        lower_case: bool = True,
        input_tensor_names: Optional[Dict[str, str]] = None,
        positional_order: Sequence[str] = DEFAULT_POSITIONAL_ORDER,
        model_name: str = "TextClassifier",
        model_description: str = "Classify the input text into a set of known categories.",
) -> str:
    """Writes BERT text-classifier metadata + vocab + labels into a .tflite.

    input_tensor_names: optional {"ids"|"mask"|"segment_ids": tensor name};
      by default they are found from the SignatureDef (named inputs, or
      args_<k> interpreted through `positional_order`).
    lower_case: the metadata schema has no lower-case flag for BertTokenizer;
      MediaPipe (and TFLite Task Library) always ASCII-lowercase input text.
      A cased vocab would be silently mis-tokenized, so only True is accepted.
    Returns the metadata JSON produced by MediaPipe's C++ displayer.
    """
    if not lower_case:
        raise ValueError("BertTokenizer metadata cannot express a cased model: "
                         "MediaPipe lowercases all input text")
    with open(model_path, "rb") as f:
        buf = inline_offset_buffers(_without_associated_files(bytearray(f.read())))
    _check_mediapipe_bert_inputs(buf)
    names = input_tensor_names or resolve_bert_input_tensor_names(buf, positional_order)
    _, metadata_writer, _ = _mediapipe_writer_modules()
    # Same three calls as text_classifier.MetadataWriter.create_for_bert_model,
    # but with our own name/description. The writer orders the input metadata
    # by TFLite tensor name, so index i of input_tensor_metadata == input i.
    writer = metadata_writer.MetadataWriter(buf)
    writer.add_general_info(model_name, model_description)
    writer.add_bert_text_input(
        metadata_writer.BertTokenizer(vocab_file_path=vocab_path),
        ids_name=names["ids"], mask_name=names["mask"],
        segment_name=names["segment_ids"])
    writer.add_classification_output(metadata_writer.Labels().add(list(labels)))
    tflite_bytes, json_text = writer.populate()
    del writer  # its __del__ removes a temp dir; do it now, not at interpreter exit
    with open(output_path, "wb") as f:
        f.write(tflite_bytes)
    return json_text


def _metadata_buffer(buf) -> Optional[bytes]:
    m = _model(buf)
    for i in range(m.MetadataLength()):
        if m.Metadata(i).Name() == _METADATA_NAME:
            return m.Buffers(m.Metadata(i).Buffer()).DataAsNumpy().tobytes()
    return None


def _files(tensor_or_options) -> list:
    return [(f.name.decode(), f.type) for f in (tensor_or_options.associatedFiles or [])]


def read_metadata(path: str) -> dict:
    """Parses metadata with the flatbuffer schema only (independent of writer)."""
    fb = _fb()
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    raw = _metadata_buffer(buf)
    if raw is None:
        return {"has_metadata": False}
    md = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(raw, 0))
    sg = md.subgraphMetadata[0]
    zip_files = {}
    if zipfile.is_zipfile(io.BytesIO(buf)):  # associated files live in an appended zip
        with zipfile.ZipFile(io.BytesIO(buf)) as z:
            zip_files = {n: z.read(n) for n in z.namelist()}
    tokenizer = None
    for unit in sg.inputProcessUnits or []:
        if unit.optionsType == fb.ProcessUnitOptions.BertTokenizerOptions:
            vocab = unit.options.vocabFile[0].name.decode()
            tokenizer = {"type": "BertTokenizer", "vocab_file": vocab,
                         "vocab_in_model": vocab in zip_files,
                         "vocab_size": len(zip_files.get(vocab, b"").splitlines()),
                         # not stored in the schema; implied by every reader
                         "lower_case_implied": True}
    label_file = next((n for n, t in _files(sg.outputTensorMetadata[0])
                       if t == fb.AssociatedFileType.TENSOR_AXIS_LABELS), None)
    labels = zip_files[label_file].decode().splitlines() if label_file in zip_files else None
    tensors = _input_tensors(buf)
    return {
        "has_metadata": True,
        "name": md.name and md.name.decode(),
        "min_parser_version": md.minParserVersion and md.minParserVersion.decode(),
        # metadata names are what MediaPipe binds on; index == subgraph input index
        "input_names": [t.name.decode() for t in sg.inputTensorMetadata],
        "input_tensor_names": [t[0] for t in tensors],
        "input_shapes": [t[1] for t in tensors],
        "signature_inputs": _signature_inputs(buf),
        "tokenizer": tokenizer,
        "output_names": [t.name.decode() for t in sg.outputTensorMetadata],
        "label_file": label_file,
        "labels": labels,
        "associated_files": sorted(zip_files),
    }


def display_metadata_json(path: str) -> str:
    """Second, independent reader: MediaPipe's C++ flatbuffer parser -> JSON."""
    metadata, _, _ = _mediapipe_writer_modules()
    return metadata.MetadataDisplayer.with_model_file(path).get_metadata_json()
