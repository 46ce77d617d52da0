"""What the Android demo's plain-Java core is tested against: golden tokenizer folders for several
vocabularies, statistics vectors computed with numpy and scikit-learn, and the runner of its JUnit
suite (android_demo/core/run-tests.sh, which installs a JDK and JUnit from Debian's packages
where they are missing)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mobile_distill.export.artifact import write_tokenizer_files
from mobile_distill.export.golden import stress_texts, write_golden

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "android_demo" / "core"
RUN_TESTS = CORE / "run-tests.sh"


def real_texts(count: int = 480) -> list[str]:
    """Rotten Tomatoes sentences (lower-cased by their publisher) and IMDB reviews (cased, long, with markup)."""
    from mobile_distill.data.sources import read_builtin

    rotten = read_builtin("rotten_tomatoes")[0]["text"][: count // 2]
    imdb = read_builtin("imdb")[0]["text"][: count - count // 2]
    return [*rotten, *imdb]


def _cased_vocab(folder: Path, texts: list[str]) -> Path:
    """A cased WordPiece vocabulary trained by `tokenizers` on real and stress texts."""
    from tokenizers import BertWordPieceTokenizer

    trainer = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    trainer.train_from_iterator(texts + stress_texts(texts, 3000, seed=7), vocab_size=6000, min_frequency=2)
    folder.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(folder))
    return folder / "vocab.txt"


def _trimmed_vocab(tokenizer, folder: Path, texts: list[str]) -> Path:
    """The demo vocabulary trimmed to the pieces ``texts`` use (`mobile_distill.trim`'s rule)."""
    from mobile_distill.trim import pieces_to_keep

    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("".join(f"{by_id[i]}\n" for i in pieces_to_keep(tokenizer, texts)), encoding="utf-8")
    return path


def _golden_folder(folder: Path, tokenizer, texts: list[str], seq_len: int, inputs: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = write_tokenizer_files(folder, tokenizer, seq_len)
    (folder / "manifest.json").write_text(json.dumps({"sequence_length": seq_len, "tokenizer": spec.model_dump(mode="json")}))
    write_golden(folder, tokenizer, texts, seq_len, inputs)
    return folder


def write_golden_folders(root: Path, demo_model: Path) -> list[Path]:
    """Golden folders for the demo student's vocabulary, a cased one (with and without accent
    stripping) and a trimmed one, at different lengths and input sets."""
    from transformers import BertTokenizerFast

    from mobile_distill.models import load_tokenizer

    texts = real_texts()
    demo = load_tokenizer(demo_model)
    cased = _cased_vocab(root / "cased-vocab", texts)
    trimmed = _trimmed_vocab(demo, root / "trimmed-vocab", texts[:200])
    return [
        _golden_folder(root / "uncased", demo, texts, 64, ["input_ids", "attention_mask", "token_type_ids"]),
        _golden_folder(root / "cased", BertTokenizerFast(vocab=str(cased), do_lower_case=False), texts, 128,
                       ["input_ids", "attention_mask"]),
        _golden_folder(root / "cased-strip-accents",
                       BertTokenizerFast(vocab=str(cased), do_lower_case=False, strip_accents=True), texts, 48,
                       ["input_ids", "attention_mask", "token_type_ids"]),
        _golden_folder(root / "trimmed", BertTokenizerFast(vocab=str(trimmed), do_lower_case=True), texts, 64,
                       ["input_ids", "attention_mask"]),
    ]


def write_stats_vectors(path: Path, seed: int = 0) -> Path:
    """Latency samples with numpy's percentiles, mean and population std; predictions with accuracy
    and scikit-learn's macro-F1: the definitions bench uses, for the Java core to match."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    cases = []
    for n in (1, 2, 3, 7, 10, 30, 31, 100, 257):
        samples = rng.lognormal(1.5, 0.4, n).round(4)
        cases.append({"samples": samples.tolist(), "p50": float(np.percentile(samples, 50)),
                      "p90": float(np.percentile(samples, 90)), "p99": float(np.percentile(samples, 99)),
                      "mean": float(samples.mean()), "std": float(samples.std())})
    metrics = []
    for n, classes in ((10, 2), (57, 2), (200, 3), (31, 4)):
        labels = rng.integers(0, classes, n)
        predicted = np.where(rng.random(n) < 0.7, labels, rng.integers(0, classes, n))
        metrics.append({"predicted": predicted.tolist(), "labels": labels.tolist(),
                        "accuracy": float(np.mean(predicted == labels)),
                        "macro_f1": float(f1_score(labels, predicted, average="macro", labels=np.unique(labels)))})
    path.write_text(json.dumps({"cases": cases, "metrics": metrics}))
    return path


@contextmanager
def _core_build():
    """One build of the core at a time: `make test` runs test files in two processes (pytest-xdist), and
    run-tests.sh compiles into one folder (and may install a JDK with apt, which takes one lock)."""
    build = CORE / "build"
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_java_tests(golden: list[Path], vectors: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "GOLDEN_DIRS": os.pathsep.join(map(str, golden)), "RESULTS_VECTORS": str(vectors)}
    with _core_build():
        return subprocess.run(["bash", str(RUN_TESTS)], capture_output=True, text=True, env=env, timeout=timeout)


def compile_core(timeout: float = 600) -> Path:
    """Compile the core and its JVM harness; the class folder (last line run-tests.sh prints)."""
    with _core_build():
        done = subprocess.run(["bash", str(RUN_TESTS), "--compile-only"], capture_output=True, text=True,
                              timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return Path(done.stdout.strip().splitlines()[-1])
