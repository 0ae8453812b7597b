"""The package's structure: radllm's modules import one another without a cycle (top-level and function-level
imports)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "radllm"


def radllm_imports(path: Path) -> set[str]:
    "The radllm modules a module imports anywhere in its code (`from .x`, `from radllm.x`, `import radllm.x`)."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = "radllm." * (node.level > 0) + (node.module or "") if node.level else node.module or ""
            if base in ("radllm", "radllm."): found |= {f"radllm.{a.name}" for a in node.names}
            elif base.startswith("radllm."): found.add(base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("radllm.")}
    return found


def import_graph() -> dict[str, set[str]]:
    mods = {f"radllm.{p.stem}": p for p in PKG.glob("*.py") if p.stem not in ("__init__", "_modidx")}
    return {m: {d for d in radllm_imports(p) if d in mods and d != m} for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    "One cycle of `graph` as a list of nodes (first == last), or [] when it has none."
    state, stack = {}, []
    def visit(n):
        state[n] = "open"
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == "open": return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)): return c
        state[n] = "done"
        stack.pop()
        return []
    for n in sorted(graph):
        if n not in state and (c := visit(n)): return c
    return []


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_the_module_graph_has_no_cycle():
    graph = import_graph()
    assert {"radllm.data", "radllm.synthetic", "radllm.extraction", "radllm.classifiers"} <= set(graph)
    assert find_cycle(graph) == [], f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_config_is_the_foundation():
    "Chapter 00 imports no other radllm module: the names later chapters define are checked in chapter 10."
    assert import_graph()["radllm.config"] == set()


def test_lora_and_the_arms_share_the_classifier_zoo_without_a_cycle():
    "The LoRA head's warm start and the arms take their tuned classifiers from radllm.classifiers, not each other."
    graph = import_graph()
    assert "radllm.fusion" not in graph["radllm.finetune"]
    assert "radllm.classifiers" in graph["radllm.finetune"] and "radllm.classifiers" in graph["radllm.fusion"]


def test_the_data_model_is_imported_from_data():
    "feature_columns / FINDINGS come from radllm.data: prompting, selection and evaluation do not import extraction."
    graph = import_graph()
    for m in ("radllm.prompting", "radllm.selection", "radllm.evaluation", "radllm.synthetic"):
        assert "radllm.extraction" not in graph[m], m
    assert "radllm.data" not in graph["radllm.synthetic"]
