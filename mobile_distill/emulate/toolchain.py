"""What the aarch64 lane runs on, built once into a cache outside the repo and reused:

    CACHE/qemu-<role>-<version>/  qemu-aarch64 (user mode, static), from the host's Debian mirror: `default`,
                                the newest of the host's release and its backports; `sme2`, the newest of those
                                and of Debian stable and its backports, for the CPUs that need SME2
    CACHE/rootfs-<hash>/        a Debian arm64 userland with Python (debootstrap, first stage only)
    CACHE/site-<hash>/          the aarch64 wheels of numpy and of each runtime, at the host's versions
    CACHE/bridge-<hash>/        libmd_et.so: the ExecuTorch runtime's C entry point (executorch_bridge.cpp)

CACHE is ``$MOBILE_DISTILL_ARM64_CACHE``, else ``$XDG_CACHE_HOME/mobile-distill/arm64`` (default
``~/.cache/...``). Each part is named by what it was built from, written atomically, and kept
until what it is built from changes. Set-up reaches only package registries: the host's Debian
mirror (as apt is configured) and pip's index (as pip is configured).

Why qemu 10 and not Debian bookworm's own qemu-user-static 7.2: under 7.2 the guest reads the host's
x86 /proc/cpuinfo (onnxruntime and LiteRT crash on it), and its SME emulation is what made a LiteRT
int8 file disagree with itself (benchmarks/RESULTS.md, "The aarch64 lane"); qemu from 8.1 on writes an
ARM /proc/cpuinfo for the guest from the emulated CPU's own features.
"""

from __future__ import annotations

import json
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from .. import ui
from ..atomic import atomic_folder
from ..errors import ConfigError
from ..hashing import settings_hash

MIN_QEMU = (9, 0)  # the first Debian qemu whose qemu-user package holds static binaries; has /proc/cpuinfo
# per emulator role: the suites searched (relative to the host's codename) and the oldest qemu that will do
EMULATORS = {"default": (("{codename}", "{codename}-backports"), MIN_QEMU),
             "sme2": (("{codename}", "{codename}-backports", "stable", "stable-backports"), (10, 1))}
RUNTIMES = ("onnxruntime", "ai-edge-litert", "executorch")  # the aarch64 builds the lane runs
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64")
ROOTFS_PACKAGES = ("python3.11", "libpython3.11-stdlib", "libstdc++6")
HOST_PACKAGES = {"debootstrap": "debootstrap", "aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu"}
BRIDGE_SOURCE = Path(__file__).with_name("executorch_bridge.cpp")
# kernels_quantized: the int8 files' embedding_byte (XNNPACK has no embedding operator)
ET_LIBRARIES = ("executorch", "executorch_threadpool", "executorch_kernels_optimized", "executorch_kernels_quantized",
                "executorch_backend_xnnpack")
TOOLCHAIN_FILE = "toolchain.json"


@dataclass(frozen=True)
class Toolchain:
    """The parts of a built lane, with the versions each run records."""

    cache: Path
    qemu: Path
    qemu_sme2: Path
    rootfs: Path
    site: Path
    bridge: Path
    versions: dict  # qemu, python, numpy and each runtime

    def qemu_for(self, emulator: str) -> Path:
        """The qemu binary of an emulator role (`EmulatedCpu.emulator`)."""
        return self.qemu_sme2 if emulator == "sme2" else self.qemu

    def qemu_version(self, emulator: str) -> str:
        return self.versions.get("qemu_sme2" if emulator == "sme2" else "qemu", "?")

    @property
    def python(self) -> Path:
        return self.rootfs / "usr" / "bin" / "python3.11"

    def to_dict(self) -> dict:
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}


def cache_dir() -> Path:
    if os.environ.get("MOBILE_DISTILL_ARM64_CACHE"):
        return Path(os.environ["MOBILE_DISTILL_ARM64_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mobile-distill" / "arm64"


def host_versions() -> dict[str, str]:
    """numpy and each runtime at the version this host runs: the lane runs the same releases."""
    versions = {}
    for package in ("numpy", *RUNTIMES):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"{package} is not installed on this host; the aarch64 lane runs the same release of "
                              "each runtime as the host: run scripts/setup.sh") from None
    return versions


def find_toolchain(cache: Path | None = None) -> Toolchain:
    """The built lane for this host's runtime versions; a one-line error saying how to build it."""
    cache = Path(cache or cache_dir())
    recorded = cache / TOOLCHAIN_FILE
    wanted = _part_names(host_versions())
    if recorded.is_file():
        data = json.loads(recorded.read_text())
        if all(Path(data.get(key, "")).is_relative_to(cache / name) for key, name in wanted.items()):
            toolchain = Toolchain(cache=cache, qemu=Path(data["qemu"]), qemu_sme2=Path(data.get("qemu_sme2", "")),
                                  rootfs=Path(data["rootfs"]), site=Path(data["site"]), bridge=Path(data["bridge"]),
                                  versions=data["versions"])
            parts = (toolchain.qemu, toolchain.qemu_sme2, toolchain.python, toolchain.bridge)
            if all(part.is_file() for part in parts):
                return toolchain
    raise ConfigError(f"the aarch64 lane is not set up in {cache} for this host's runtimes; run "
                      "`mobile-distill emulate --setup` (needs the package registries once, and root to install "
                      "missing Debian packages)", fields=("emulate",))


def ensure_toolchain(cache: Path | None = None) -> Toolchain:
    """Build every missing part of the lane (minutes the first time, nothing after) and return it."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise ConfigError(f"the aarch64 lane runs on x86-64 Linux under qemu; this is {platform.system()} "
                          f"{platform.machine()}", fields=("emulate",))
    cache = Path(cache or cache_dir())
    versions = host_versions()
    names = _part_names(versions)
    _install_host_packages()
    with ui.progress("aarch64 lane set-up", 4) as bar:
        bar.update("qemu")
        qemu, qemu_version = _qemu(cache, "default")
        qemu_sme2, qemu_sme2_version = _qemu(cache, "sme2")
        bar.update("arm64 userland", advance=1)
        rootfs = _rootfs(cache / names["rootfs"])
        bar.update("aarch64 wheels", advance=1)
        site = _site(cache / names["site"], versions)
        bar.update("ExecuTorch bridge", advance=1)
        bridge = _bridge(cache / names["bridge"], site)
        bar.update(advance=1)
    toolchain = Toolchain(cache=cache, qemu=qemu, qemu_sme2=qemu_sme2, rootfs=rootfs, site=site,
                          bridge=bridge / "libmd_et.so",
                          versions={"qemu": qemu_version, "qemu_sme2": qemu_sme2_version,
                                    "python": _rootfs_python(rootfs), **versions})
    (cache / TOOLCHAIN_FILE).write_text(json.dumps(toolchain.to_dict(), indent=2))
    return toolchain


def _part_names(versions: dict) -> dict[str, str]:
    return {"rootfs": f"rootfs-{settings_hash(_debian_codename(), ROOTFS_PACKAGES)}",
            "site": f"site-{settings_hash(versions, WHEEL_PLATFORMS)}",
            "bridge": f"bridge-{settings_hash(versions['executorch'], BRIDGE_SOURCE.read_text(), *ET_LIBRARIES)}"}


# --- host packages -------------------------------------------------------------------------------------------


def _install_host_packages() -> None:
    missing = [package for command, package in HOST_PACKAGES.items() if shutil.which(command) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise ConfigError(f"the aarch64 lane needs the Debian package(s) {', '.join(missing)}; install them "
                          f"(apt-get install {' '.join(missing)}) or run the set-up as root", fields=("emulate",))
    _run(["apt-get", "update", "-q"], "apt-get update")
    _run(["apt-get", "install", "-y", "-q", *missing], f"apt-get install {' '.join(missing)}")


def _run(command: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(f"aarch64 lane set-up: {what} failed (exit {result.returncode}): {tail[0][:300]}",
                          fields=("emulate",))
    return result


# --- Debian: the mirror apt uses, and packages from it ---------------------------------------------------------


def _debian_codename() -> str:
    text = Path("/etc/os-release").read_text() if Path("/etc/os-release").is_file() else ""
    found = re.search(r"^VERSION_CODENAME=\"?(\w+)", text, re.M)
    if not found or "debian" not in text.lower():
        raise ConfigError("the aarch64 lane builds its userland with Debian's debootstrap and takes qemu from a Debian "
                          "mirror; this host is not Debian (no VERSION_CODENAME in /etc/os-release)",
                          fields=("emulate",))
    return found.group(1)


def debian_mirror() -> str:
    """The Debian archive apt is configured with (``$MOBILE_DISTILL_DEBIAN_MIRROR`` overrides it)."""
    if os.environ.get("MOBILE_DISTILL_DEBIAN_MIRROR"):
        return os.environ["MOBILE_DISTILL_DEBIAN_MIRROR"].rstrip("/")
    sources = [*Path("/etc/apt/sources.list.d").glob("*.sources"), Path("/etc/apt/sources.list"),
               *Path("/etc/apt/sources.list.d").glob("*.list")]
    for path in sources:
        text = path.read_text(errors="replace") if path.is_file() else ""
        deb822, one_line = r"^URIs:\s*(\S+)", r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)"
        for uri in re.findall(deb822, text, re.M) + re.findall(one_line, text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    raise ConfigError("no Debian archive in apt's sources (/etc/apt/sources.list*); set MOBILE_DISTILL_DEBIAN_MIRROR "
                      "to one", fields=("emulate",))


def _packages_index(mirror: str, suite: str) -> str:
    url = f"{mirror}/dists/{suite}/main/binary-amd64/Packages.xz"
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return lzma.decompress(response.read()).decode("utf-8", "replace")
    except Exception as error:  # noqa: BLE001 - a missing suite (no backports) or an unreachable mirror
        return f"# {url}: {error}"


def _newest_qemu_user(mirror: str, codename: str, role: str) -> tuple[str, str]:
    """(version, pool file) of the newest qemu-user the role accepts, in the suites it searches."""
    suites, minimum = EMULATORS[role]
    found = []
    for suite in (name.format(codename=codename) for name in suites):
        for stanza in _packages_index(mirror, suite).split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
            if fields.get("Package") == "qemu-user" and _qemu_version(fields.get("Version", "")) >= minimum:
                found.append((_qemu_version(fields["Version"]), fields["Version"], fields["Filename"]))
    if not found:
        raise ConfigError(f"no qemu-user {'.'.join(map(str, minimum))} or newer in Debian "
                          f"{', '.join(suites).format(codename=codename)} at {mirror}; the lane's {role} emulator "
                          "needs one", fields=("emulate",))
    _, version, filename = max(found)
    return version, filename


def _qemu_version(debian_version: str) -> tuple[int, ...]:
    found = re.match(r"(?:\d+:)?(\d+)\.(\d+)", debian_version)
    return tuple(int(part) for part in found.groups()) if found else (0,)


def _download(url: str, path: Path, attempts: int = 3) -> None:
    for attempt in range(1, attempts + 1):
        try:
            urllib.request.urlretrieve(url, path)
            return
        except Exception as error:  # noqa: BLE001 - a dropped connection is retried, then reported in one line
            if attempt == attempts:
                raise ConfigError(f"aarch64 lane set-up: could not download {url} ({attempts} attempts): {error}",
                                  fields=("emulate",)) from None
            time.sleep(5 * attempt)


def _qemu(cache: Path, role: str) -> tuple[Path, str]:
    """qemu-aarch64 for an emulator role, from the host's Debian mirror, unpacked (not installed: the host's own
    qemu stays). Returns the binary and qemu's own version (e.g. 10.0.2); the Debian version is kept beside it.
    A cached one is reused without asking the mirror: running the lane needs no network."""
    existing = sorted(cache.glob(f"qemu-{role}-*/usr/bin/qemu-aarch64"),
                      key=lambda path: _qemu_version(path.parents[2].name.removeprefix(f"qemu-{role}-")))
    if not existing:
        mirror = debian_mirror()
        version, filename = _newest_qemu_user(mirror, _debian_codename(), role)
        upstream = re.match(r"(?:\d+:)?([\d.]+)", version).group(1)
        with atomic_folder(cache / f"qemu-{role}-{upstream}") as staging:
            deb = staging / "qemu-user.deb"
            _download(f"{mirror}/{filename}", deb)
            _run(["dpkg-deb", "-x", str(deb), str(staging)], "unpacking qemu-user")
            deb.unlink()
            (staging / "debian-version.txt").write_text(version)
        existing = [cache / f"qemu-{role}-{upstream}" / "usr" / "bin" / "qemu-aarch64"]
    binary = existing[-1]
    return binary, binary.parents[2].name.removeprefix(f"qemu-{role}-")


def _rootfs(folder: Path) -> Path:
    """A Debian arm64 userland: debootstrap's first stage downloads the packages, dpkg-deb unpacks them
    (the second stage, which runs the packages' scripts under emulation, is not needed to run Python)."""
    if (folder / "usr" / "bin" / "python3.11").is_file():
        return folder
    with atomic_folder(folder) as staging:
        _run(["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}",
              _debian_codename(), str(staging), debian_mirror()], "debootstrap (arm64)")
        for deb in sorted((staging / "var" / "cache" / "apt" / "archives").glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(staging)], f"unpacking {deb.name}")
            deb.unlink()
    return folder


def _rootfs_python(rootfs: Path) -> str:
    """The Debian version of the userland's Python, from its package changelog (dpkg's database is not
    written: debootstrap's second stage never ran)."""
    import gzip

    changelog = rootfs / "usr" / "share" / "doc" / "python3.11" / "changelog.Debian.gz"
    if not changelog.is_file():
        return "unknown"
    with gzip.open(changelog, "rt", errors="replace") as handle:
        found = re.match(r"python3\.11 \(([^)]+)\)", handle.readline())
    return found.group(1) if found else "unknown"


def _site(folder: Path, versions: dict) -> Path:
    """The aarch64 wheels, pinned to the host's versions. executorch without its dependencies: the lane
    uses only its runtime libraries and headers (its Python side needs torch, which cannot run here)."""
    if (folder / "numpy").is_dir():
        return folder
    platforms = [argument for name in WHEEL_PLATFORMS for argument in ("--platform", name)]
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
            "--python-version", "3.11", *platforms]
    with atomic_folder(folder) as staging:
        pinned = [f"{name}=={versions[name]}" for name in ("numpy", "onnxruntime", "ai-edge-litert")]
        _run([*base, "--target", str(staging), *pinned], "pip install (aarch64 wheels)")
        _run([*base, "--no-deps", "--target", str(staging / "_executorch"), f"executorch=={versions['executorch']}"],
             "pip install executorch (aarch64 wheel)")
    return folder


def _bridge(folder: Path, site: Path) -> Path:
    """Cross-compile the ExecuTorch bridge against the aarch64 wheel's headers and libraries."""
    if (folder / "libmd_et.so").is_file():
        return folder
    with atomic_folder(folder) as staging:
        compile_bridge("aarch64-linux-gnu-g++", site / "_executorch" / "executorch", staging / "libmd_et.so")
    return folder


def compile_bridge(compiler: str, executorch_package: Path, output: Path) -> Path:
    """Build executorch_bridge.cpp with ``compiler`` against the executorch package at ``executorch_package``
    (its ``include/`` and ``lib/``): the same source for the aarch64 lane and for its x86 twin in the tests."""
    include, lib = executorch_package / "include", executorch_package / "lib"
    command = [compiler, "-std=c++17", "-O2", "-fPIC", "-shared", "-Wno-deprecated-declarations",
               # what the package's own CMake config gives its consumers (share/cmake/executorch-config.cmake)
               "-DC10_USING_CUSTOM_GENERATED_MACROS", "-DET_EVENT_TRACER_ENABLED",
               f"-I{include}", f"-I{include / 'executorch' / 'runtime' / 'core' / 'portable_type' / 'c10'}",
               str(BRIDGE_SOURCE), "-o", str(output), f"-L{lib}", "-Wl,--no-as-needed",
               *[f"-l{name}" for name in ET_LIBRARIES], f"-Wl,-rpath,{lib}"]
    _run(command, f"compiling the ExecuTorch bridge with {compiler}")
    return output
