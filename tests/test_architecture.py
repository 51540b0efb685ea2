"""The package layout stays as pns_hub/__init__.py maps it: packages in layers, imports pointing one way, small files.

Imports are read with ``ast`` (module-level *and* function-level ones: a lazy import still ties two modules together),
so the check costs nothing and needs no model or dataset.
"""

import ast
import re
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pns_hub"
MAX_LINES = 400

# The cross-cutting modules, the only ones allowed at the top of pns_hub/ (besides cli, the entry point).
FOUNDATION = {"models", "hardware", "memory", "hub", "stats"}
# Layers in data-flow order: a package may import its own layer and the layers above it in this list, never a later
# one. eval sits below rewards and trainers because DPO evaluates its model with eval.run and writes a record, and
# the evaluation needs only problems, engines and the grader.
LAYERS = [
    ("foundation", FOUNDATION),
    ("data", {"data"}),
    ("engines", {"engines"}),
    ("grading", {"grading"}),
    ("eval", {"eval"}),
    ("rewards", {"rewards"}),
    ("trainers", {"trainers"}),
    ("synthesis", {"synthesis"}),
    ("drivers", {"experiments", "check_recipe"}),
    ("entry point", {"cli"}),
]
# Imports against the layers, each with why. Keep this list short; every entry is in the map's docstring too.
EXCEPTIONS = {
    # Minerva Math has no answer column: its gold is the last \boxed{} of the solution, found by the grader's own
    # rule, so "the boxed answer" means one thing for golds and for completions.
    ("data.problems", "grading.answers"),
}


def package_of(module: str) -> str:
    """``grading.verify`` -> ``grading``; a top-level module is its own package."""
    return module.split(".")[0]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "pns_hub"] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """pns_hub modules ``name`` imports anywhere in its source (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.removeprefix("pns_hub.") for a in node.names if a.name.startswith("pns_hub.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                module = ".".join(base + ([node.module] if node.module else []))
            elif node.module == "pns_hub" or (node.module or "").startswith("pns_hub."):
                module = node.module.removeprefix("pns_hub").lstrip(".")
            else:
                continue
            for alias in node.names:  # `from pns_hub import hub` names a module; `from pns_hub.hub import x` does not
                submodule = f"{module}.{alias.name}".lstrip(".")
                found.add(submodule if submodule in modules else module)
    found = {m for m in found if m in modules and m != name}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_graph_reader_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "hub" in graph["trainers.grpo"]  # function-level `from pns_hub import hub`
    assert "grading.answer_format" in graph["rewards.functions"]
    assert {"engines.generation", "hardware"} <= graph["trainers.sft"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_imports_between_packages_point_one_way():
    graph = import_graph()
    layer_of = {pkg: i for i, (_, members) in enumerate(LAYERS) for pkg in members}
    unknown = sorted({package_of(m) for m in graph} - set(layer_of) - {"pns_hub"})
    assert not unknown, f"packages not placed in LAYERS: {unknown}"
    wrong = [f"{m} ({LAYERS[layer_of[package_of(m)]][0]}) imports {d} ({LAYERS[layer_of[package_of(d)]][0]})"
             for m, deps in graph.items() if m != "pns_hub"
             for d in deps if layer_of[package_of(d)] > layer_of[package_of(m)] and (m, d) not in EXCEPTIONS]
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))
    stale = sorted(e for e in EXCEPTIONS if e[1] not in graph.get(e[0], ()))
    assert not stale, f"exceptions no longer needed: {stale}"


def test_the_top_level_holds_only_the_cross_cutting_modules():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top <= FOUNDATION | {"cli"}, f"modules at the top of pns_hub/ that belong in a package: {top - FOUNDATION}"


def test_no_three_siblings_share_a_prefix():
    """A prefix shared by three modules of one folder (``synthesis_*``) is a package waiting to be made."""
    for folder in [PACKAGE, *(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists())]:
        stems = [p.stem for p in folder.glob("*.py") if p.stem != "__init__" and "_" in p.stem]
        shared = {k: n for k, n in Counter(s.split("_")[0] for s in stems).items() if n >= 3}
        assert not shared, f"{folder.name}/: prefixes shared by 3+ modules: {shared}"


def test_every_package_says_what_it_owns():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init}: a docstring saying what the package owns"
    map_doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")))
    for pkg in {p.parent.name for p in PACKAGE.glob("*/__init__.py")}:
        assert re.search(rf"^{pkg}/", map_doc, re.M), f"pns_hub/__init__.py's map has no line for {pkg}/"


def test_no_file_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them by job): {long}"
