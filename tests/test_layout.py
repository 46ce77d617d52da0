"""The package's layout keeps what the architecture promises: a target is one package and one line in
the registry, and no module imports itself back through another (function-level imports count)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mobile_distill.targets import TARGETS

from .planted import planted_texts, save_planted_model

PACKAGE = Path(__file__).parents[1] / "mobile_distill"


# ---- imports: the graph of every import statement in the package, at any depth ----

def _module_names(root: Path) -> dict[str, tuple[Path, bool]]:
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _imported(module: str, is_package: bool, node: ast.AST, modules: dict) -> list[str]:
    """The package's modules an import statement names: ``from .x import y`` names ``x.y`` when y is a
    module, else ``x``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE.name]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[:len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != PACKAGE.name:
        return []
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names]


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    modules = _module_names(root)
    graph = {}
    for module, (path, is_package) in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(module, is_package, node, modules):
                    while name not in modules and "." in name:
                        name = name.rsplit(".", 1)[0]
                    if name != module:
                        edges.add(name)
        graph[module] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None and child in graph:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if child is not None:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_module_imports_itself_back_through_another():
    assert import_cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_function_level_cycle():
    graph = import_graph()
    graph["mobile_distill.targets.base"].add("mobile_distill.targets.onnx.runner")  # runner -> runners.base -> ...
    assert any("mobile_distill.targets.base" in cycle for cycle in import_cycles(graph))


# ---- targets: one package each, one line in the registry ----

@pytest.mark.parametrize("name", list(TARGETS))
def test_every_part_of_a_target_lives_in_its_package(name):
    target = TARGETS[name]
    assert target.package == f"mobile_distill.targets.{name}"
    for part in ("exporter", "runner", "declared_inputs", "layer_comparison"):
        reference = getattr(target, part)
        assert reference is None or reference.startswith("."), f"{name}.{part} = {reference}: not in its package"


_THROUGH_THE_COPY = """
import json, sys
from pathlib import Path
import numpy as np
from mobile_distill.bench import run_bench
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.diagnose import diagnose
from mobile_distill.export import ExportOptions, export
from mobile_distill.targets import TARGETS
sys.path.insert(0, sys.argv[3])
from tests.planted import swap_onnx_inputs

model, root = Path(sys.argv[1]), Path(sys.argv[2])
texts = json.loads((root / "texts.json").read_text())
labels = np.array(json.loads((root / "labels.json").read_text()))
healthy, swapped = root / "copy-int8", root / "copy-fp32-swapped"
export(model, "onnxcopy", "int8-dynamic", healthy, ExportOptions(seq_len=32), texts[:16], texts[:8])
export(model, "onnxcopy", "fp32", swapped, ExportOptions(seq_len=32), texts[:16], texts[:8])
swap_onnx_inputs(swapped)
report = run_bench([healthy, swapped], texts, labels, model, None, BenchConfig(threads=(1,), timing=False),
                   Gate2Config(), seq_len=32)
entries = {entry.name: entry for entry in report.artifacts()}
layers = diagnose(healthy, model, texts)
print(json.dumps({
    "targets": list(TARGETS),
    "modules": sorted(name for name in sys.modules if name.startswith("mobile_distill.targets.onnx")),
    "verdicts": {name: entry.verdict.status for name, entry in entries.items()},
    "causes": {name: [cause["code"] for cause in (entry.diagnosis or {}).get("causes", [])]
               for name, entry in entries.items()},
    "layers": [check.status for check in layers.checks if check.name == "layers"],
}))
"""


def test_a_target_copied_as_a_package_and_registered_with_one_line_exports_benches_and_diagnoses(tmp_path):
    """The proof that a target is one package and one line: a copy of the ONNX package under a new name,
    in a copy of the source tree, registered by adding its name to the registry, exports a tiny model
    (fp32 and int8), runs it in bench (a planted input swap fails gate 2 and diagnose names it) and gets
    its per-layer comparison, all through the copy's own modules."""
    tree = tmp_path / "tree"
    shutil.copytree(PACKAGE, tree / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    targets = tree / PACKAGE.name / "targets"
    shutil.copytree(targets / "onnx", targets / "onnxcopy")
    declaration = targets / "onnxcopy" / "target.py"
    declaration.write_text(declaration.read_text().replace('name="onnx"', 'name="onnxcopy"'))
    registry = targets / "registry.py"
    registry.write_text(registry.read_text().replace('"executorch")\n', '"executorch",\n               "onnxcopy")\n', 1))

    texts = planted_texts(160, seed=41)
    model = save_planted_model(tmp_path / "student", texts, seed=5)
    from mobile_distill.runners import load_runner

    logits = load_runner(model, seq_len=32).predict(texts)
    decided = np.abs(logits[:, 1] - logits[:, 0]) > 0.75  # int8 moves a tiny model's logits by up to 0.75
    texts, labels = [text for text, keep in zip(texts, decided) if keep][:64], logits[decided].argmax(-1)[:64]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    (tmp_path / "labels.json").write_text(json.dumps(labels.tolist()))
    script = tmp_path / "through_the_copy.py"
    script.write_text(_THROUGH_THE_COPY)
    environment = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(script), str(model), str(tmp_path), str(PACKAGE.parent)],
                          capture_output=True, text=True, env=environment, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["targets"][-1] == "onnxcopy"
    assert {"mobile_distill.targets.onnxcopy.export", "mobile_distill.targets.onnxcopy.runner"} <= set(result["modules"])
    assert "mobile_distill.targets.onnx.export" not in result["modules"]  # nothing reached back to the original
    assert result["verdicts"] == {"copy-int8": "PASS", "copy-fp32-swapped": "FAIL"}
    assert result["causes"]["copy-fp32-swapped"][0] == "input-binding"
    assert result["layers"] in (["clear"], ["found"])


# ---- model families: one table, the stages ask it ----

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from mobile_distill.models import load_classifier

    root, texts = tmp_path_factory.mktemp("families"), planted_texts(16, seed=3)
    return {kind: load_classifier(save_planted_model(root / kind, texts, model_type=kind))
            for kind in ("bert", "distilbert", "mobilebert", "bilstm", "cnn")}


def test_every_model_type_the_tool_builds_or_loads_has_one_family_entry():
    from mobile_distill.families import FAMILIES
    from mobile_distill.students.textnets import MODEL_TYPES as TEXTNET_TYPES

    assert set(TEXTNET_TYPES) <= set(FAMILIES)
    assert {name for name, entry in FAMILIES.items() if entry.text_net} == set(TEXTNET_TYPES)


def test_each_familys_paths_find_its_layers_heads_and_feed_forward_blocks(tiny_models):
    from mobile_distill.distill.taps import attention_projections
    from mobile_distill.families import family
    from mobile_distill.prune.heads import attention_layers
    from mobile_distill.prune.neurons import feed_forward_layers

    for kind, model in tiny_models.items():
        entry = family(model)
        assert entry.text_net == (kind in ("bilstm", "cnn"))
        if entry.text_net:
            continue
        pairs, heads = attention_projections(model)
        assert len(pairs) == model.config.num_hidden_layers and heads == model.config.num_attention_heads
        assert entry.token_types == ("token_type_ids" in inspect.signature(model.forward).parameters)
        if entry.prunable:
            layers, blocks = attention_layers(model), feed_forward_layers(model)
            assert [layer.heads for layer in layers] == [heads] * len(pairs)
            assert all(block.first.out_features == block.second.in_features for block in blocks)


def test_the_artifact_contract_and_the_family_table_load_no_model_library():
    code = ("import sys, mobile_distill.manifest, mobile_distill.families, mobile_distill.targets; "
            "print([name for name in ('torch', 'transformers') if name in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_package_init_files_only_re_export():
    """Stage logic lives in a module named for it; ``__init__.py`` holds a docstring and re-exports."""
    for path in _sources():
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            exports = isinstance(node, ast.Assign) and [target.id for target in node.targets] == ["__all__"]
            assert docstring or exports or isinstance(node, (ast.Import, ast.ImportFrom)), \
                f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: logic in an __init__.py"


MAX_FUNCTION_LINES = 50


def test_no_function_is_longer_than_fifty_lines():
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []


def test_the_cli_stays_a_thin_layer():
    """Parsing is in options.py, the work in the stages; cli.py builds configs, runs and prints."""
    assert len((PACKAGE / "cli.py").read_text().splitlines()) <= 450
