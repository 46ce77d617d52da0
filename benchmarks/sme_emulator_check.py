"""Emulator or runtime? Why a LiteRT int8-dynamic file disagrees with its own x86 run under Debian bookworm's
qemu 7.2 `-cpu max` and agrees everywhere else, reproduced from the repo alone:

1. benchmarks/arm64/sme_outer_products.c, an instruction-level test of the SME instructions LiteRT's int8
   kernel uses, cross-compiled and run under the system's qemu-aarch64-static (bookworm: 7.2) and the lane's
   qemu (10.x) at streaming vector lengths of 128, 256 and 512 bits;
2. three artifacts run by the lane's worker on the same seeded sample of test rows under qemu 7.2 with and
   without SME and under qemu 10 with SME, each compared with the x86 run of the same file.

Upstream qemu fixed 7.2's 8-bit -> 32-bit outer products in d572bcb222 "target/arm: Fix 32-bit SMOPA"
(issue #2083; in 9.0 and 8.2.3, not in 7.2.x). Needs root (qemu 7.2 runs in a mount namespace) and the lane
(`mobile-distill emulate --setup`). Takes ~1-2 s per row, file and CPU under emulation, two CPUs at a time:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/sme_emulator_check.py runs/default --rows 100
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import publish  # benchmarks/common.py

from mobile_distill.bench.device import cpu_features
from mobile_distill.data import PreparedData
from mobile_distill.emulate import process
from mobile_distill.emulate.cpus import CPUS, EmulatedCpu
from mobile_distill.emulate.lane import (
    LaneJob,
    LaneRun,
    lane_feeds,
    run_jobs,
    sample_rows,
)
from mobile_distill.emulate.toolchain import Toolchain, find_toolchain
from mobile_distill.metrics import agreement

SYSTEM_QEMU = Path("/usr/bin/qemu-aarch64-static")  # Debian's own qemu-user-static: 7.2 on bookworm
SOURCE = Path(__file__).parent / "arm64" / "sme_outer_products.c"
ARTIFACTS = ("tflite-int8-dynamic-s64", "tflite-fp32-s64", "onnx-int8-dynamic-s64")
INT8_TFLITE = ARTIFACTS[0]  # the file whose int8 FULLY_CONNECTED runs KleidiAI's SMOPA kernel on an SME CPU
SVL_BYTES = (16, 32, 64)  # 128, 256, 512-bit streaming vectors
GROUPS = {"T1": "T1 int8 MOPA", "T2": "T2 int8 MOPA, 3 K-blocks", "T3": "T3 FMOPA fp32",
          "T4": "T4 KleidiAI read-out", "T5": "T5 LD1W/ST1W", "T6": "T6 SMOPA 16->64"}
INT8_GROUPS = ("T1", "T2")  # SMOPA/UMOPA/SUMOPA/USMOPA x tiles za0-za3: 16 cases each
# A broken kernel flips tens of percent of the rows; a correct one that rounds differently from x86 may flip a
# row whose two logits are within ~0.02 of each other. "Agrees" therefore allows one row in a hundred.
AGREES = 0.99


@dataclasses.dataclass(frozen=True)
class Emulator:
    label: str  # "qemu 7.2.22"
    qemu: Path
    cpuinfo_mount: bool  # run the worker with an ARM /proc/cpuinfo bind-mounted (qemu < 8.1 shows the host's)


@dataclasses.dataclass(frozen=True)
class InstructionRun:
    emulator: str
    svl_bits: int
    groups: dict  # "T1" -> (failed cases, cases)
    bug_model: int  # failing int8 cases whose output equals qemu 7.2's pre-fix helper exactly
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class LaneResult:
    artifact: str
    emulator: str
    qemu_cpu: str  # as the table shows it
    sme: str  # "SME" / "no" / "?", from HWCAP2 as the guest sees it
    rows: int
    agreement: float | None  # with the x86 run of the same file; None: did not run
    max_diff: float | None
    error: str | None = None


# --- the emulators -------------------------------------------------------------------------------------------


def system_qemu() -> Path:
    """Debian's qemu-aarch64-static, installed when missing (root only)."""
    if not SYSTEM_QEMU.is_file():
        if os.geteuid() != 0:
            sys.exit(f"{SYSTEM_QEMU} is missing: run `apt-get install qemu-user-static` as root, then this again")
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "qemu-user-static"], check=True)
    return SYSTEM_QEMU


def qemu_version(qemu: Path) -> tuple[str, str]:
    """("7.2.22", the whole first line of --version)."""
    line = subprocess.run([str(qemu), "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    match = re.search(r"version (\d+\.\d+(?:\.\d+)?)", line)
    return (match.group(1) if match else "?"), line


def needs_cpuinfo_mount(version: str) -> bool:
    """qemu before 8.1 passes the host's x86 /proc/cpuinfo to the guest; onnxruntime and LiteRT segfault on it."""
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2]) or (0, 0)
    return parts < (8, 1)


def fake_cpuinfo(toolchain: Toolchain, qemu_cpu: str, folder: Path) -> Path:
    """The ARM /proc/cpuinfo the lane's qemu (>= 8.1) writes for ``qemu_cpu``: the text the runtimes would read
    on that CPU, so the old qemu's guest sees a cpuinfo that matches its own HWCAPs."""
    command = [str(toolchain.qemu), "-cpu", qemu_cpu, "-L", str(toolchain.rootfs), str(toolchain.rootfs / "bin/cat"),
               "/proc/cpuinfo"]
    path = folder / f"cpuinfo-{re.sub(r'[^A-Za-z0-9]+', '-', qemu_cpu)}.txt"
    path.write_text(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    return path


@contextlib.contextmanager
def cpuinfo_bind_mount(fakes: dict[str, Path]):
    """While active, the lane's worker for a CPU named in ``fakes`` runs in its own mount namespace with that
    file on /proc/cpuinfo. `run_jobs` builds its command through `process.emulated_command`, and the product has
    no hook for a wrapper (its own qemu needs none), so this swaps that function for the duration and puts it
    back: the product's files stay as they are."""
    original = process.emulated_command

    def wrapped(toolchain, cpu, arguments):
        command, environment = original(toolchain, cpu, arguments)
        if cpu.name in fakes:
            command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /proc/cpuinfo && exec "$@"',
                       str(fakes[cpu.name]), *command]
        return command, environment

    process.emulated_command = wrapped
    try:
        yield
    finally:
        process.emulated_command = original


# --- 1. the instruction test ---------------------------------------------------------------------------------


def build_instruction_test(folder: Path) -> Path:
    """sme_outer_products.c as a static aarch64 binary (no rootfs needed to run it)."""
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        sys.exit("aarch64-linux-gnu-gcc is missing: apt-get install gcc-aarch64-linux-gnu (or mobile-distill emulate "
                 "--setup, which installs g++-aarch64-linux-gnu)")
    binary = folder / "sme_outer_products"
    subprocess.run(["aarch64-linux-gnu-gcc", "-O1", "-static", "-march=armv8.2-a", "-o", str(binary), str(SOURCE)],
                   check=True)
    return binary


def run_binary(qemu: Path, qemu_cpu: str, binary: Path) -> subprocess.CompletedProcess:
    # exit 1 (a case failed) and 2 (no SME) are answers, not errors
    return subprocess.run([str(qemu), "-cpu", qemu_cpu, str(binary)], capture_output=True, text=True, timeout=600,
                          check=False)


def instruction_test(emulator: Emulator, binary: Path, svl_bytes: int) -> InstructionRun:
    """Pass/fail per test group at one streaming vector length."""
    result = run_binary(emulator.qemu, f"max,sme-default-vector-length={svl_bytes}", binary)
    seen = re.search(r"SVL=(\d+) bytes", result.stdout)
    if result.returncode not in (0, 1) or not seen:
        return InstructionRun(emulator.label, svl_bytes * 8, {}, 0,
                              f"exit {result.returncode}: {(result.stdout + result.stderr).strip()[-200:]}")
    groups: dict[str, list[int]] = {}
    for match in re.finditer(r"^(T\d) .*\s(pass|FAIL)\s+\(\d+/\d+ elements wrong\)", result.stdout, re.MULTILINE):
        counts = groups.setdefault(match.group(1), [0, 0])
        counts[0] += match.group(2) == "FAIL"
        counts[1] += 1
    bug_model = result.stdout.count("matches EXACTLY the qemu-7.2 SMOPA-bug model")
    return InstructionRun(emulator.label, int(seen.group(1)) * 8, {k: tuple(v) for k, v in groups.items()}, bug_model)


def guest_sme(emulator: Emulator, qemu_cpu: str, binary: Path) -> str:
    """Whether the guest has SME (HWCAP2), asked of the test binary: it exits 2 saying "no SME" without it."""
    result = run_binary(emulator.qemu, qemu_cpu, binary)
    if "no SME" in result.stdout:
        return "no"
    return "SME" if "SME=1" in result.stdout else "?"


# --- 2. the artifacts on the lane's worker -------------------------------------------------------------------


def sample_texts(run: Path, rows: int) -> list[str]:
    """The seeded sample of test rows the lane itself uses (`sample_rows`)."""
    texts = list(PreparedData.load(run / "data").splits["test"]["text"])
    return [texts[i] for i in sample_rows(len(texts), rows)]


def run_on(lane_toolchain: Toolchain, emulator: Emulator, jobs: list[LaneJob], cpus: list[EmulatedCpu],
           binary: Path, scratch: Path) -> list[LaneResult]:
    """Every job on every CPU under one emulator (CPUs two at a time, as the lane runs them)."""
    print(f"running {len(jobs)} file(s) on {', '.join(cpu.qemu_cpu for cpu in cpus)} under {emulator.label} ...",
          flush=True)
    fakes = {cpu.name: fake_cpuinfo(lane_toolchain, cpu.qemu_cpu, scratch) for cpu in cpus} \
        if emulator.cpuinfo_mount else {}
    toolchain = dataclasses.replace(lane_toolchain, qemu=emulator.qemu)  # same rootfs, wheels, worker
    with cpuinfo_bind_mount(fakes):
        results = run_jobs(toolchain, jobs, cpus, parallel=2)
    table = []
    for cpu in cpus:
        sme = guest_sme(emulator, cpu.qemu_cpu, binary)
        for job, lane_run in zip(jobs, results[cpu.name][1]):
            table.append(compare(job, lane_run, emulator, cpu, sme))
    return table


def compare(job: LaneJob, lane_run: LaneRun, emulator: Emulator, cpu: EmulatedCpu, sme: str) -> LaneResult:
    """One emulated run against the x86 run of the same file on the same ids."""
    label = f"`{cpu.qemu_cpu}`" + (f" (the lane's {cpu.name})" if CPUS.get(cpu.name) is cpu else "")
    common = {"artifact": job.folder.name, "emulator": emulator.label, "qemu_cpu": label, "sme": sme,
              "rows": len(job.host_logits)}
    if lane_run.logits is None:
        return LaneResult(**common, agreement=None, max_diff=None, error=lane_run.error)
    difference = np.abs(lane_run.logits.astype(np.float64) - job.host_logits.astype(np.float64))
    return LaneResult(**common, agreement=agreement(lane_run.logits, job.host_logits),
                      max_diff=float(difference.max()) if np.isfinite(difference).all() else float("inf"))


def ad_hoc_cpu(prefix: str, qemu_cpu: str) -> EmulatedCpu:
    """A CPU for run_jobs; its name names the worker's files, so it is kept to letters, digits and dashes."""
    name = f"{prefix}-{re.sub(r'[^A-Za-z0-9]+', '-', qemu_cpu).strip('-')}"
    return EmulatedCpu(name, qemu_cpu, f"qemu -cpu {qemu_cpu}", (), "none: an emulator check")


# --- 3. the report -------------------------------------------------------------------------------------------


def instruction_cell(run: InstructionRun, group: str) -> str:
    if run.error:
        return f"did not run ({run.error})" if group == "T1" else "-"
    if group not in run.groups:
        return "-"
    failed, total = run.groups[group]
    return f"**FAIL {failed}/{total}**" if failed else f"pass {total}/{total}"


def instruction_table(runs: list[InstructionRun]) -> list[str]:
    columns = ["qemu", "SVL (bits)", *GROUPS.values(), "wrong int8 cases = 7.2 bug model"]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for run in runs:
        failed = sum(run.groups.get(g, (0, 0))[0] for g in INT8_GROUPS)
        cells = [instruction_cell(run, group) for group in GROUPS]
        lines.append("| " + " | ".join([run.emulator, str(run.svl_bits), *cells,
                                        f"{run.bug_model}/{failed}" if failed else "-"]) + " |")
    return lines


def lane_row(result: LaneResult) -> str:
    if result.agreement is None:
        cells = [f"did not run: {result.error}", "-"]
    else:
        cells = [f"{result.agreement:.1%}", f"{result.max_diff:.3g}"]
    return "| " + " | ".join([result.artifact, result.emulator, result.qemu_cpu, result.sme, str(result.rows),
                              *cells]) + " |"


def int8_mopa_failures(runs: list[InstructionRun], emulator: str) -> tuple[int, int, int]:
    """(failed, cases, matching the bug model) of the int8 MOPA groups, over every SVL of ``emulator``."""
    mine = [run for run in runs if run.emulator == emulator and not run.error]
    failed = sum(run.groups.get(g, (0, 0))[0] for run in mine for g in INT8_GROUPS)
    total = sum(run.groups.get(g, (0, 0))[1] for run in mine for g in INT8_GROUPS)
    return failed, total, sum(run.bug_model for run in mine)


def conclusion(old: Emulator, new: Emulator, tests: list[InstructionRun], results: list[LaneResult]) -> str:
    """The verdict, from the numbers above it."""
    def pick(artifact, emulator, sme):
        return [r for r in results if r.artifact == artifact and r.emulator == emulator.label and r.sme == sme]

    def agree(runs):
        return bool(runs) and all(r.agreement is not None and r.agreement >= AGREES for r in runs)

    def show(runs):
        return "; ".join(f"{r.qemu_cpu} {r.agreement:.1%} (max abs logit diff {r.max_diff:.3g})"
                         if r.agreement is not None else f"{r.qemu_cpu} did not run" for r in runs) or "no run"

    old_sme, old_plain = pick(INT8_TFLITE, old, "SME"), pick(INT8_TFLITE, old, "no")
    new_sme = pick(INT8_TFLITE, new, "SME")
    old_failed, old_cases, old_model = int8_mopa_failures(tests, old.label)
    new_failed = sum(f for run in tests if run.emulator == new.label for f, _ in run.groups.values())
    # every int8 group fails at every SVL: the bug does not depend on the vector length
    old_all_svl = all(run.groups.get(g, (0, 0))[0] for run in tests if run.emulator == old.label for g in INT8_GROUPS)
    checks = {
        f"{INT8_TFLITE} disagrees with x86 under {old.label} with SME ({show(old_sme)})":
            bool(old_sme) and not agree(old_sme),
        f"agrees under {old.label} without SME ({show(old_plain)})": agree(old_plain),
        f"agrees under {new.label} with SME on ({show(new_sme)})": agree(new_sme),
        f"the instruction test finds int8 outer products wrong on {old.label} at every SVL "
        f"({old_failed}/{old_cases} cases)": old_failed > 0 and old_all_svl,
        f"and nothing wrong on {new.label} ({new_failed} failing cases)":
            new_failed == 0 and any(run.emulator == new.label and run.groups for run in tests),
    }
    others = "; ".join(f"{artifact} on {show(pick(artifact, old, 'SME'))}" for artifact in ARTIFACTS[1:])
    rest_passes = all(run.groups.get(g, (1, 1))[0] == 0 for run in tests if run.emulator == old.label
                      for g in ("T3", "T5", "T6"))
    fix = ('upstream qemu issue #2083, fixed by commit d572bcb222 "target/arm: Fix 32-bit SMOPA" (in qemu 9.0 and '
           '8.2.3, never in 7.2.x)')
    if all(checks.values()):
        sme_ok = (f" FMOPA fp32, ZA loads/stores and 16 -> 64-bit SMOPA pass on {old.label}: only its 8-bit -> "
                  "32-bit outer products are wrong." if rest_passes else "")
        return (f"**Verdict: the emulator.** Under {old.label} with SME, {INT8_TFLITE}'s predictions agree with its "
                f"own x86 run on: {show(old_sme)}. The same file agrees under {old.label} without SME: "
                f"{show(old_plain)}; and under {new.label} with SME on: {show(new_sme)}. The instruction test finds "
                f"{old_failed} of {old_cases} int8 -> int32 outer-product cases (SMOPA/UMOPA/SUMOPA/USMOPA into "
                f"za0-za3.s, 1 and 3 K-blocks, at SVL 128, 256 and 512 bits) wrong on {old.label}, {old_model} of "
                f"them exactly as qemu 7.2's pre-fix helper computes them, and no case wrong on {new.label}."
                f"{sme_ok} LiteRT's dynamic-range FULLY_CONNECTED runs on that instruction on an SME CPU (KleidiAI's "
                f"`qai8dxp...qsi8cxp..._sme_mopa` kernel), so the disagreement is qemu's, not the runtime's: {fix}. "
                f"The other files under {old.label} with SME: {others}. Check numerics with qemu >= 8.2.3 (the "
                f"lane's {new.label}), or with an SME-less -cpu on qemu 7.2.")
    return ("**No emulator verdict from these numbers.** " + "; ".join(
        f"{'yes' if held else 'NO'}: {claim}" for claim, held in checks.items()) +
        f". Other files under {old.label} with SME: {others}. The suspected emulator bug is {fix}.")


# --- main ----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder with data/ and artifacts/ (e.g. runs/default)")
    parser.add_argument("--rows", type=int, default=100,
                        help="seeded sample of test rows per file and CPU (default 100)")
    args = parser.parse_args()
    run = Path(args.run)
    toolchain = find_toolchain()
    old_version, old_line = qemu_version(system_qemu())
    old = Emulator(f"qemu {old_version}", SYSTEM_QEMU, needs_cpuinfo_mount(old_version))
    if old.cpuinfo_mount and os.geteuid() != 0:
        sys.exit(f"needs root: {old.label}'s guest gets an ARM /proc/cpuinfo through a bind mount (unshare -m)")
    new = Emulator(f"qemu {toolchain.versions['qemu']}", toolchain.qemu, False)

    with tempfile.TemporaryDirectory(prefix="sme-check-") as folder:
        scratch = Path(folder)
        binary = build_instruction_test(scratch)
        tests = [instruction_test(emulator, binary, svl) for emulator in (old, new) for svl in SVL_BYTES]
        print("\n".join(instruction_table(tests)), flush=True)

        texts = sample_texts(run, args.rows)
        jobs = [LaneJob(run / "artifacts" / name, *lane_feeds(run / "artifacts" / name, texts)) for name in ARTIFACTS]
        old_cpus = [ad_hoc_cpu("old", cpu) for cpu in ("max", "max,sme=off", "cortex-a76", "cortex-a53")]
        new_cpus = [ad_hoc_cpu("new", "max"), CPUS["armv9-sme"]]
        results = run_on(toolchain, old, jobs, old_cpus, binary, scratch) + \
            run_on(toolchain, new, jobs, new_cpus, binary, scratch)
    results.sort(key=lambda r: (ARTIFACTS.index(r.artifact), r.emulator != old.label))

    host = cpu_features()
    about = [
        (f"Host: {host['model']} ({host['summary']}). Emulators: `{old_line}` (Debian's qemu-user-static, "
         f"{SYSTEM_QEMU}) and the lane's qemu {toolchain.versions['qemu']} "
         f"(`{toolchain.qemu.relative_to(toolchain.cache)}` in the lane's cache). aarch64 runtimes "
         f"(the lane's wheels): {', '.join(f'{k} {v}' for k, v in toolchain.versions.items() if k != 'qemu')}."),
        "",
        ("Instruction test: `benchmarks/arm64/sme_outer_products.c` (aarch64-linux-gnu-gcc -O1 -static), run with "
         "`-cpu max,sme-default-vector-length=16|32|64`; a cell counts failing cases of that group (T1/T2: "
         "SMOPA/UMOPA/SUMOPA/USMOPA into za0-za3.s, 16 cases each). The last column: how many failing int8 cases "
         "equal, element for element, qemu 7.2's pre-fix helper (odd tile rows unwritten, odd columns from the next "
         "row of zn)."),
        "",
        *instruction_table(tests),
        "",
        (f"Files: the run's `{', '.join(ARTIFACTS)}`, each on a seeded sample of {len(texts)} test rows (the lane's "
         "`sample_rows`), fed the ids its x86 runner feeds, as many rows per call as that runner sends, 1 thread, "
         "by the lane's worker. \"SME\": HWCAP2 as the guest sees it (asked of the test binary with the same qemu "
         f"and -cpu). Under {old.label} the worker runs with the /proc/cpuinfo text {new.label} writes for the same "
         "-cpu bind-mounted over the host's (7.2 shows the guest the host's x86 one, and the runtimes crash on it). "
         "Agreement: same predicted class as the x86 run of the same file; logit difference against that run."),
    ]
    columns = ["file", "qemu", "-cpu", "SME in guest", "rows", "agreement with x86", "max abs logit diff vs x86"]
    verdict = conclusion(old, new, tests, results)
    publish("is the TFLite int8 disagreement under qemu -cpu max the emulator's?", about, columns,
            [lane_row(result) for result in results], [verdict])
    return 0


if __name__ == "__main__":
    sys.exit(main())
