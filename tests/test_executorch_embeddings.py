"""ExecuTorch int8-dynamic quantizes the embedding tables, not only the Linears. On a tiny BERT whose
66,000-word table is nearly all of its weights: the .pte stores that table in 8 bits and looks rows up
with the quantized embedding kernel, the runtime bench uses runs it within int8's parity with
PyTorch, refuses ids past a table with an error (the quantized lookup itself would abort the process),
and keep_float can name the table to leave it in float."""

import numpy as np
import pytest

from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest
from mobile_distill.precisions import PRECISIONS
from mobile_distill.runners import load_runner

from .planted import HIDDEN, LAYERS, WIDE_VOCAB, agreement, margin_texts, save_planted_model, wide_texts

pytestmark = pytest.mark.slow  # three ExecuTorch exports: about two minutes of CPU

SEQ_LEN = 32
TEXTS = wide_texts(200, seed=1)
TRAIN = wide_texts(64, seed=2)
WORDS = "model.bert.embeddings.word_embeddings"  # as keep_float names it: the path under the export wrapper
TABLE_BYTES = len(WIDE_VOCAB) * HIDDEN * 4  # the word table in fp32: 4.2 MB of the model's 4.3
EMBEDDINGS = 3  # words, positions, token types
LINEARS = LAYERS * 6 + 2  # per layer q, k, v, attention output, intermediate, output; then pooler and classifier
INT8 = PRECISIONS["int8-dynamic"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model folder, {precision: its .pte artifact}) for fp32 and int8-dynamic."""
    root = tmp_path_factory.mktemp("wide_vocab")
    model = save_planted_model(root / "model", TRAIN, vocab=WIDE_VOCAB)
    return model, {precision: export(model, "executorch", precision, root / precision, ExportOptions(seq_len=SEQ_LEN),
                                     TRAIN, TEXTS[:8])
                   for precision in ("fp32", "int8-dynamic")}


def _size(artifact) -> int:
    return (artifact / "model.pte").stat().st_size


def _operators(artifact) -> set[str]:
    """The kernels the .pte's program calls outside its XNNPACK delegate, read from the file."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary((artifact / "model.pte").read_bytes())
    program = getattr(program, "program", program)  # executorch 1.x wraps it with its named data
    return {operator.name for plan in program.execution_plan for operator in plan.operators}


def test_int8_pte_stores_the_embedding_tables_in_8_bits(exported):
    _, made = exported
    fp32, int8 = _size(made["fp32"]), _size(made["int8-dynamic"])
    # 1 byte a weight plus a float scale and zero point per 16-wide row saves 0.625 of the float table;
    # with the Linears alone quantized the file would save a few kB of their weights.
    assert fp32 > TABLE_BYTES and fp32 - int8 > 0.55 * TABLE_BYTES, (fp32, int8, TABLE_BYTES)
    operators = _operators(made["int8-dynamic"])
    assert "quantized_decomposed::embedding_byte" in operators and "aten::embedding" not in operators, operators
    assert "aten::embedding" in _operators(made["fp32"])
    quantization = read_manifest(made["int8-dynamic"]).quantization
    assert quantization["quantized_modules"] == ["Linear", "Embedding"]
    assert (quantization["quantized_embeddings"], quantization["quantized_linears"]) == (EMBEDDINGS, LINEARS)
    assert quantization["embedding_rows"] == {"input_ids": len(WIDE_VOCAB), "token_type_ids": 2}


def test_int8_pte_runs_in_the_bench_runtime_within_int8_parity(exported):
    model, made = exported
    reference = load_runner(model, seq_len=SEQ_LEN).predict(TEXTS)
    logits = load_runner(made["int8-dynamic"]).predict(TEXTS)  # fails to load if embedding_byte is not registered
    assert np.isfinite(logits).all()
    difference = float(np.quantile(np.abs(logits - reference).max(-1), INT8.logit_diff_quantile))
    assert difference <= INT8.max_abs_logit_diff, difference
    decided = margin_texts(reference, INT8.max_abs_logit_diff)  # not the coin flips
    assert len(decided) >= 60 and 0.25 <= reference[decided].argmax(-1).mean() <= 0.75
    assert agreement(logits[decided], reference[decided]) >= INT8.min_agreement


def test_ids_past_a_table_raise_instead_of_aborting(exported):
    """What diagnose feeds on purpose: ids past the word table (a tokenizer with more words), and ids bound
    to the token-type input (swapped inputs). Unguarded, embedding_byte's ET_CHECK kills this process."""
    _, made = exported
    runner = load_runner(made["int8-dynamic"])
    batch = runner.encode(TEXTS[:2])
    past = {**batch, "input_ids": np.where(batch["attention_mask"] > 0, len(WIDE_VOCAB), 0)}
    with pytest.raises(RuntimeError, match=f"input_ids holds id {len(WIDE_VOCAB)}, outside the {len(WIDE_VOCAB)}-row"):
        runner.predict(past)
    with pytest.raises(RuntimeError, match="token_type_ids holds id .* outside the 2-row"):
        runner.predict({**batch, "token_type_ids": batch["input_ids"]})
    assert np.isfinite(runner.predict(batch)).all()  # the process and the runner still work


def test_keep_float_leaves_the_word_table_in_float(exported, tmp_path):
    model, made = exported
    options = ExportOptions(seq_len=SEQ_LEN, keep_float=(WORDS,))
    kept = export(model, "executorch", "int8-dynamic", tmp_path / "kept", options, TRAIN, TEXTS[:8])
    assert _size(kept) > _size(made["fp32"]) - 0.05 * TABLE_BYTES
    assert {"aten::embedding", "quantized_decomposed::embedding_byte"} <= _operators(kept)
    quantization = read_manifest(kept).quantization
    assert quantization["kept_float"] == [WORDS]
    assert (quantization["quantized_embeddings"], quantization["quantized_linears"]) == (EMBEDDINGS - 1, LINEARS)
