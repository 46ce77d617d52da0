"""Core ML on Linux: the package is produced, its spec loads, inputs/outputs match the manifest,
weights have the precision that was asked for, and running it says clearly that it needs macOS."""

import platform

import pytest

from mobile_distill.errors import ModelError
from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest
from mobile_distill.runners import load_runner

from .conftest import make_texts, save_tiny_model

TEXTS = [text for text, _ in make_texts(120, seed=12)]
_ML_DTYPES = {65568: "float32", 65552: "float16", 131104: "int32"}  # ArrayFeatureType.ArrayDataType


def _spec(artifact):
    import coremltools as ct

    return ct.utils.load_spec(str(artifact / "model.mlpackage"))


def _op_types(spec) -> set[str]:
    return {op.type for function in spec.mlProgram.functions.values()
            for block in function.block_specializations.values() for op in block.operations}


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("bert"), layers=2)


@pytest.mark.parametrize("precision,weight_op", [("fp32", None), ("fp16", None),
                                                 ("int8", "constexpr_affine_dequantize"),
                                                 ("palettized", "constexpr_lut_to_dense")])
def test_package_spec_matches_manifest(bert, tmp_path, precision, weight_op):
    artifact = export(bert, "coreml", precision, tmp_path / "a", ExportOptions(seq_len=32), TEXTS, TEXTS)
    manifest, spec = read_manifest(artifact), _spec(artifact)
    inputs = [(i.name, _ML_DTYPES[i.type.multiArrayType.dataType], tuple(i.type.multiArrayType.shape))
              for i in spec.description.input]
    assert inputs == [(s.name, s.dtype, s.shape) for s in manifest.inputs]
    (output,) = spec.description.output
    assert output.name == "logits" and _ML_DTYPES[output.type.multiArrayType.dataType] == manifest.output.dtype
    assert spec.description.metadata.userDefined["labels"].splitlines() == ["negative", "positive"]
    assert spec.description.input[0].shortDescription and output.shortDescription
    ops = _op_types(spec)
    compressed = {"constexpr_affine_dequantize", "constexpr_lut_to_dense", "constexpr_blockwise_shift_scale"} & ops
    if weight_op is None:
        assert not compressed
    else:
        assert compressed, f"no compressed weights in {sorted(ops)}"


@pytest.mark.skipif(platform.system() == "Darwin", reason="on macOS the model runs")
def test_running_on_linux_says_it_needs_macos(bert, tmp_path):
    artifact = export(bert, "coreml", "fp32", tmp_path / "a", ExportOptions(seq_len=32), TEXTS, TEXTS)
    with pytest.raises(ModelError, match="coreml models run only on macOS"):
        load_runner(artifact)
