"""Vocabulary trimming: keep only the wordpieces a task uses.

Most of a small student's bytes are word embeddings for wordpieces the task never uses (30,522 rows
of which a sentiment data set touches a third). Trimming keeps the pieces the task's texts produce
(training, validation and transfer texts: never the test split, which measures the result), every
special token, and every single-character piece with and without the ``##`` prefix, so any text
still tokenizes: a word whose pieces were dropped falls back to other pieces or characters, not to
[UNK]. The embedding rows are remapped in the student, and the tokenizer files are rewritten with
the new ids, so every export, the MediaPipe metadata and tokenizer_golden.json carry the trimmed
vocabulary. Texts whose pieces were all kept get identical tokens and identical logits.

No library does this for Hugging Face WordPiece tokenizers (TextPruner does it for its own
models and does not rewrite tokenizer.json), hence written here.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_folder, write_json
from .layout import LABELS_FILE, TOKENIZER_CONFIG, TOKENIZER_JSON, VOCAB_TXT

TRIM_REPORT = "trim_report.json"


@dataclass(frozen=True)
class TrimResult:
    path: Path
    report: dict


def pieces_to_keep(tokenizer, texts: list[str]) -> list[int]:
    """Ids to keep, in their original order: what ``texts`` use, special tokens, single characters."""
    vocab = tokenizer.get_vocab()
    keep = set(tokenizer.all_special_ids)
    for start in range(0, len(texts), 2048):
        for ids in tokenizer(texts[start: start + 2048], add_special_tokens=False)["input_ids"]:
            keep.update(ids)
    prefix = json.loads(tokenizer.backend_tokenizer.to_str())["model"].get("continuing_subword_prefix", "##")
    keep.update(i for token, i in vocab.items()
                if len(token) == 1 or (token.startswith(prefix) and len(token) == len(prefix) + 1))
    return sorted(keep)


def trim_vocabulary(model_dir: Path, texts: list[str], output_dir: Path, test_texts: list[str] | None = None) -> TrimResult:
    """Write to ``output_dir`` the model at ``model_dir`` with only the wordpieces ``texts`` need; report
    the sizes and, for ``test_texts``, how many tokenize differently after trimming."""
    import torch

    from .models import load_classifier, load_tokenizer

    model_dir = Path(model_dir)
    tokenizer = load_tokenizer(model_dir)
    kept = pieces_to_keep(tokenizer, texts)
    new_id = {old: new for new, old in enumerate(kept)}
    model = load_classifier(model_dir)
    embeddings = model.get_input_embeddings()
    before = embeddings.weight.shape[0]
    with torch.no_grad():
        table = torch.nn.Embedding(len(kept), embeddings.weight.shape[1],
                                   padding_idx=new_id.get(model.config.pad_token_id))
        table.weight.copy_(embeddings.weight[kept])
    model.set_input_embeddings(table)
    model.config.vocab_size = len(kept)
    if model.config.pad_token_id is not None:
        model.config.pad_token_id = new_id[model.config.pad_token_id]
    with atomic_folder(Path(output_dir)) as staging:
        model.save_pretrained(staging)
        _copy_extras(model_dir, staging)
        _rewrite_tokenizer(model_dir, staging, new_id)
        report = _report(model_dir, staging, before, len(kept), embeddings.weight.shape[1], texts, test_texts)
        write_json(staging / TRIM_REPORT, report)
    return TrimResult(path=Path(output_dir), report=report)


def _copy_extras(source: Path, target: Path) -> None:
    """Everything of the model folder that is neither weights, config nor tokenizer: labels, reports, card."""
    skip = {"config.json", TOKENIZER_JSON, TOKENIZER_CONFIG, VOCAB_TXT, "special_tokens_map.json"}
    for path in source.iterdir():
        if path.is_file() and path.name not in skip and path.suffix != ".safetensors":
            shutil.copy2(path, target / path.name)
    if not (target / LABELS_FILE).exists() and (source / LABELS_FILE).exists():
        shutil.copy2(source / LABELS_FILE, target / LABELS_FILE)


def _rewrite_tokenizer(source: Path, target: Path, new_id: dict[int, int]) -> None:
    """tokenizer.json (vocabulary, added tokens, the post-processor's special-token ids), the config's
    added-token table and vocab.txt, with the new ids."""
    data = json.loads((source / TOKENIZER_JSON).read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    data["model"]["vocab"] = {token: new_id[i] for token, i in sorted(vocab.items(), key=lambda item: item[1])
                              if i in new_id}
    for token in data.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    for special in ((data.get("post_processor") or {}).get("special_tokens") or {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    if data.get("padding") and "pad_id" in data["padding"]:
        data["padding"]["pad_id"] = new_id[data["padding"]["pad_id"]]
    (target / TOKENIZER_JSON).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    config = json.loads((source / TOKENIZER_CONFIG).read_text(encoding="utf-8"))
    if "added_tokens_decoder" in config:
        config["added_tokens_decoder"] = {str(new_id[int(i)]): token for i, token in config["added_tokens_decoder"].items()}
    (target / TOKENIZER_CONFIG).write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    ordered = sorted(data["model"]["vocab"].items(), key=lambda item: item[1])
    (target / VOCAB_TXT).write_text("".join(f"{token}\n" for token, _ in ordered), encoding="utf-8")


def _report(source: Path, target: Path, before: int, after: int, width: int, texts: list[str],
            test_texts: list[str] | None) -> dict:
    from .models import load_tokenizer

    report = {"source": str(source), "pieces_before": before, "pieces_after": after, "embedding_width": width,
              "parameters_removed": (before - after) * width, "texts_used": len(texts)}
    if test_texts:
        old, new = load_tokenizer(source), load_tokenizer(target)
        a = [old.convert_ids_to_tokens(ids) for ids in old(test_texts)["input_ids"]]
        b = [new.convert_ids_to_tokens(ids) for ids in new(test_texts)["input_ids"]]
        report["test_texts"] = len(test_texts)
        report["test_texts_tokenized_differently"] = sum(x != y for x, y in zip(a, b))
    return report


def trim_and_compare(model_dir: Path, data, output_dir: Path, max_length: int, transfer_texts=None) -> TrimResult:
    """Trim the student at ``model_dir`` to the pieces of the training and validation texts (and the transfer
    set), then measure both students on the test split: the report says how many test texts tokenize
    differently and what that does to accuracy and agreement."""
    from . import ui
    from .gate import evaluate_on_test
    from .metrics import agreement

    texts = list(data.splits["train"]["text"]) + list(data.splits["validation"]["text"])
    if transfer_texts is not None:
        texts += list(transfer_texts["text"])
    test = list(data.splits["test"]["text"])
    with ui.stage("trim", f"vocabulary of {model_dir} to the pieces of {len(texts):,} texts") as stage:
        result = trim_vocabulary(model_dir, texts, output_dir, test)
        untrimmed, untrimmed_logits = evaluate_on_test(Path(model_dir), data, max_length)
        trimmed, trimmed_logits = evaluate_on_test(Path(output_dir), data, max_length)
        report = {**result.report, "test_accuracy": {"untrimmed": untrimmed.test.accuracy,
                                                     "trimmed": trimmed.test.accuracy},
                  "agreement_with_untrimmed": agreement(trimmed_logits, untrimmed_logits),
                  "parameters": {"untrimmed": untrimmed.parameters, "trimmed": trimmed.parameters}}
        write_json(Path(output_dir) / TRIM_REPORT, report)
        stage.summary = (f"{report['pieces_before']:,} -> {report['pieces_after']:,} wordpieces, "
                         f"{report['parameters']['untrimmed']:,} -> {report['parameters']['trimmed']:,} parameters; "
                         f"test accuracy {untrimmed.test.accuracy:.4f} -> {trimmed.test.accuracy:.4f} "
                         f"({report['test_texts_tokenized_differently']} of {len(test)} test texts tokenize "
                         "differently)")
    return TrimResult(path=Path(output_dir), report=report)
