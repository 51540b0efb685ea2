"""The package layout stays as pns_hub/__init__.py maps it: no import circle, imports point up the rows, small files.

Imports are read with ``ast`` (module-level *and* function-level ones: a lazy import still ties two modules together),
so the check costs nothing and needs no model or dataset.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pns_hub"
MAX_LINES = 400

# Rows of the map in pns_hub/__init__.py, in data-flow order. A module in a row up to "synthesis" must not import a
# module of a later row. Modules not named here are checked only for circles and size.
ROWS = [
    ("foundation", {"models", "hardware", "generation", "lm_head", "hub", "stats", "eval.passk", "report"}),
    ("data, verify", {"verify_answers", "verify", "data", "testbed", "answer_format"}),
    ("rewards", {"reward_model", "judge", "rewards"}),
    ("generator", {"pns_configs", "grpo", "sft", "trainers.glow", "trainers.nsr", "trainers.trainer_configs",
                   "trajectories"}),
    ("synthesis", {"synthesis_config", "synthesis_sampling", "synthesis_select", "synthesis_shard", "shard_store",
                   "dataset_card", "synthesize"}),
    ("dpo", {"dpo"}),
    ("eval", {"eval.run", "eval.tasks", "reproduce"}),
    ("leaderboard", {"results", "leaderboard"}),
]
LAST_CHECKED_ROW = "synthesis"


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
    assert "hub" in graph["grpo"]  # function-level `from pns_hub import hub`
    assert "answer_format" in graph["rewards"]
    assert {"generation", "hardware"} <= graph["sft"]  # relative `from . import generation`, `from .hardware import`
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_imports_point_up_the_map():
    graph = import_graph()
    row_of = {m: i for i, (_, members) in enumerate(ROWS) for m in members}
    missing = sorted(m for m in row_of if m not in graph)
    assert not missing, f"modules named in ROWS but not in pns_hub/: {missing}"
    last = [name for name, _ in ROWS].index(LAST_CHECKED_ROW)
    wrong = [f"{m} ({ROWS[row_of[m]][0]}) imports {d} ({ROWS[row_of[d]][0]})"
             for m, deps in graph.items() if row_of.get(m, 99) <= last
             for d in deps if row_of.get(d, -1) > row_of[m]]
    assert not wrong, "imports against the data flow:\n" + "\n".join(sorted(wrong))


def test_no_file_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them by job): {long}"
