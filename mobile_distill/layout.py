"""Where things live: the run folder's layout and the names of the files each stage writes, defined
once. Stages, the pipeline, the CLI's defaults and the reports all take their paths from here.

    RUN/recipe.yaml          the recipe as resolved, every default spelled out
    RUN/data/                prepared splits + data.json (source, seed, row indices of every split)
    RUN/teacher/             teacher classifier (fine-tuned or copied from the cache)
    RUN/general/             general student (general distillation on unlabeled text), when made here
    RUN/student/             distilled student + distill_report.json + README.md model card
    RUN/student-untrimmed/   the student before vocabulary trimming, when it is trimmed
    RUN/student-qat/         the student after int8 quantization-aware training + qat_log.json, when asked
    RUN/checkpoints/         Trainer checkpoints, one folder per settings hash (resume points)
    RUN/artifacts/           one exported artifact folder per <target>-<precision>-s<length> (the QAT
                             student's: <target>-<precision>-qat-s<length>)
    RUN/bench/               bench.json, junit.xml, report.md, report.html, plots (gate 2 verdicts)
    RUN/search/              `mobile-distill search`: search.json, search.md, pareto.png, and per candidate
                             its estimate, student, artifacts and result (cached: a rerun resumes)
    RUN/logs/                what the libraries print (trainer, converters, runtimes), per stage
    RUN/run_summary.json     wall time of each stage and the verdicts

    CACHE/teachers/HASH/     fine-tuned teachers, by (teacher weights, data, settings)
    CACHE/general/HASH/      general students, by (teacher weights, corpus, student shape, settings)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# --- a run folder ---
RECIPE_FILE = "recipe.yaml"
RUN_SUMMARY = "run_summary.json"

# --- a prepared data folder ---
DATA_INFO = "data.json"
DATASET_DIR = "dataset"

# --- a model folder written by fine-tune or distill (HF_CONFIG and the weights are Hugging Face's own) ---
HF_CONFIG = "config.json"
LABELS_FILE = "labels.json"
TEACHER_REPORT = "teacher_report.json"
DISTILL_LOG = "distill_log.json"
QAT_LOG = "qat_log.json"  # a QAT student's record (settings hash, scheme, fake-quantized accuracy before/after)
GENERAL_LOG = "general_log.json"  # a general student's record (settings hash, objective, corpus, losses)
DISTILL_REPORT = "distill_report.json"
MODEL_CARD = "README.md"
LOSS_CURVES = "loss_curves.png"

# --- an artifact folder (the contract between export, bench and the apps) ---
MANIFEST = "manifest.json"
GOLDEN = "tokenizer_golden.json"
LABELS_TXT = "labels.txt"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
VOCAB_TXT = "vocab.txt"
EXPORT_LOG = "export.log"
DIAGNOSE_LOG = "diagnose.log"  # the runtimes' own output while `mobile-distill diagnose` probes the artifact

# --- a bench folder ---
BENCH_JSON = "bench.json"
JUNIT = "junit.xml"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
DIAGNOSIS_JSON = "diagnosis.json"
BENCH_LOG = "bench.log"  # the runtimes' own output during a bench

# --- Trainer checkpoints (RUN/checkpoints/<stage>-<settings hash>/) ---
TRAINER_LOG = "trainer_log.jsonl"  # every log dictionary of a Trainer run
TRAINER_STATE = "trainer_state.json"  # Trainer writes it last into a checkpoint: its presence marks one complete


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def recipe(self) -> Path:
        return self.root / RECIPE_FILE

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def teacher(self) -> Path:
        return self.root / "teacher"

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def general(self) -> Path:
        """The general student (`mobile-distill general`), where task distillation can start."""
        return self.root / "general"

    @property
    def search(self) -> Path:
        """`mobile-distill search`'s folder: its report and every candidate's cached work."""
        return self.root / "search"

    @property
    def qat_student(self) -> Path:
        """The student after quantization-aware training (recipe section ``qat``)."""
        return self.root / "student-qat"

    @property
    def untrimmed_student(self) -> Path:
        """The student before vocabulary trimming (student.trim_vocabulary), kept for the comparison."""
        return self.root / "student-untrimmed"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def bench(self) -> Path:
        return self.root / "bench"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def summary(self) -> Path:
        return self.root / RUN_SUMMARY

    @classmethod
    def of_model(cls, model_dir: Path) -> "RunLayout":
        """The run a model folder (RUN/student, RUN/teacher) belongs to."""
        return cls(Path(model_dir).parent)

    @classmethod
    def of_artifact(cls, artifact_dir: Path) -> "RunLayout":
        """The run an artifact folder (RUN/artifacts/NAME) belongs to."""
        return cls(Path(artifact_dir).parent.parent)


def is_prepared_data(folder: Path | str | None) -> bool:
    return folder is not None and (Path(folder) / DATA_INFO).is_file()
