"""What a target declares. Implementations are referenced as ``".module:attribute"`` relative to the
target's own package and imported on first use (`Target.load`), so the registry itself costs nothing
to import, and a copy of a target's package under a new name refers to its own parts."""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..precisions import PRECISIONS

_SYSTEM_NAMES = {"Darwin": "macOS"}


class DeclaredInput(NamedTuple):
    """One input as the model file declares it. ``name`` is None where the format stores no names
    (ExecuTorch binds by position); ``shape`` holds ints for fixed axes and strings for dynamic ones."""

    name: str | None
    dtype: str
    shape: tuple


class AppModel:
    """A model file held the way a phone app holds it: its runtime and numpy, nothing else (no torch, no
    tokenizer: the app's own code tokenizes). What `Target.timing` names, one per target package (``timing.py``).

    bench's timing process imports `modules` (`import_runtime`), notes the resident memory (the baseline), then
    opens the file (``cls(model_path, threads, inputs, output)``: the manifest's input names in order and its
    output name) and calls it on token ids it was given. Subclasses open the file with the same settings their
    target's runner uses, so the latency bench reports is that of the session its accuracy came from.
    """

    modules: tuple[str, ...] = ()  # what an app links: imported, in this order, before the baseline is read
    settings: str = ""  # the runtime settings the file is opened with, in words (bench.json records them)

    @classmethod
    def import_runtime(cls) -> None:
        for module in cls.modules:
            importlib.import_module(module)

    def __call__(self, feeds: dict):
        """Logits for ``feeds`` (input name -> array, the manifest's dtypes)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Target:
    name: str
    package: str  # the target's package (``__package__`` where it is declared): its parts are named relative to it
    model_file: str  # the file name of the model inside an artifact folder
    precisions: tuple[str, ...]
    runtime: str  # what runs it here, in words (for the docs table and reports)
    # the distributions it needs, its runtime first: their versions go into every manifest, and the runtime's
    # name and version into what a runner reports (the stdio worker)
    packages: tuple[str, ...]
    exporter: str  # ".module:function(ExportContext, folder) -> ExportedModel", relative to ``package``
    runner: str  # "module:ArtifactRunner subclass"
    declared_inputs: str  # "module:function(model_path) -> list[DeclaredInput]", read from the file itself
    # "module:AppModel subclass": the file opened through its runtime alone, as an app holds it; bench times and
    # weighs it in a process that imports nothing else (bench/timing_process.py). None: timed in a process that
    # holds the whole runner (torch, transformers), whose baseline then dwarfs the model
    timing: str | None = None
    layer_comparison: str | None = None  # "module:function(artifact, reference, texts, threads, threshold)"
    # "module:Tracer class(model_path, input_names, modules, threads)": the file run with its intermediate tensors
    # exposed and tied to PyTorch modules (diagnose.trace), for the departure and non-finite checks
    tracer: str | None = None
    # precisions whose file keeps every float32 parameter of the reference byte for byte (diagnose's weights
    # check reads them where no tracer can: ExecuTorch's XNNPACK delegate exposes no intermediate tensor)
    verbatim_weights: tuple[str, ...] = ()
    keep_float_names: str | None = None  # what ExportOptions.keep_float takes for this target, in words
    android_runtime: str | None = None  # what runs it in the Android demo app (android_demo/), if the app does
    loggers: tuple[str, ...] = ()  # its libraries' loggers that print on their own: routed to the run's log
    platforms: tuple[str, ...] | None = None  # platform.system() values its runtime runs on; None: all
    fp16_compute: tuple[str, ...] = ()  # precisions whose activations are held in fp16 (fp16 overflow can bite)
    fp16_note: str = ""  # why the other precisions cannot overflow fp16, for diagnose's report
    static_shapes: bool = True
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        unknown = [precision for precision in self.precisions if precision not in PRECISIONS]
        if unknown or not self.precisions:
            raise ValueError(f"target {self.name}: precisions {unknown or '()'} are not registered precisions")
        if not self.packages:
            raise ValueError(f"target {self.name}: name the distributions it needs, its runtime first")
        if (self.layer_comparison is None) != (self.keep_float_names is None):
            raise ValueError(f"target {self.name}: a layer comparison and keep_float names come together")

    def load(self, part: str):
        """Import and return the implementation named by the field ``part`` (e.g. ``"runner"``)."""
        module, _, attribute = self.reference(part).partition(":")
        return getattr(importlib.import_module(module), attribute)

    def reference(self, part: str) -> str:
        """The field ``part`` as an absolute ``"package.module:attribute"``, for a process that does not import
        the registry to find it (bench's timing process)."""
        reference = getattr(self, part)
        if reference is None:
            raise LookupError(f"target {self.name} has no {part}")
        return f"{self.package}{reference}" if reference.startswith(".") else reference

    @property
    def supports_fallback(self) -> bool:
        """Auto-fallback needs a per-layer ranking in the names keep_float takes."""
        return self.layer_comparison is not None

    @property
    def runtime_package(self) -> str:
        return self.packages[0]

    def runs_here(self) -> bool:
        return self.platforms is None or platform.system() in self.platforms

    def why_not_here(self) -> str:
        if self.runs_here():
            return ""
        names = " or ".join(_SYSTEM_NAMES.get(system, system) for system in self.platforms)
        return f"{self.name} models run only on {names} (this is {_SYSTEM_NAMES.get(platform.system(), platform.system())})"

    def read_declared_inputs(self, model_path: Path) -> list[DeclaredInput]:
        return self.load("declared_inputs")(Path(model_path))
