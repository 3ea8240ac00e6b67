"""Write the generated parts of the docs from the code, or check that they are current.

    python scripts/generate_docs.py          # rewrite them
    python scripts/generate_docs.py --check  # exit 1 naming each stale page

A page holds each generated part between `<!-- generated: NAME -->` and `<!-- end: NAME -->`;
the text around them is written by hand.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "lstmlm"


def module_name(path: Path) -> str:
    """`lstmlm.training.trainer` for src/lstmlm/training/trainer.py."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere (at the top, in functions, under
    TYPE_CHECKING), each `from . import name` resolved to the module it names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules it imports."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's layer: 0 for one that imports nothing of the package, else one above the
    highest module it imports. A package's `__init__` is left out (it gathers its modules'
    names); raises ValueError naming the modules of an import cycle."""
    graph = {module: imports - {"lstmlm"} for module, imports in graph.items()
             if module != "lstmlm"}
    graph = {module: {imported for imported in imports
                      if not any(other.startswith(imported + ".") for other in graph)}
             for module, imports in graph.items()}
    level: dict[str, int] = {}
    visiting: list[str] = []

    def visit(module: str) -> int:
        if module in visiting:
            cycle = visiting[visiting.index(module):] + [module]
            raise ValueError(f"import cycle: {' -> '.join(cycle)}")
        if module not in level:
            visiting.append(module)
            level[module] = 1 + max((visit(imported) for imported in graph[module]), default=-1)
            visiting.pop()
        return level[module]

    for module in graph:
        visit(module)
    return level


def reduced(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without the arrows implied by others (a -> c where a -> b -> ... -> c): the
    same layering, drawn with far fewer arrows."""
    def reachable(start: str) -> set[str]:
        seen, stack = set(), list(graph[start])
        while stack:
            module = stack.pop()
            if module not in seen:
                seen.add(module)
                stack.extend(graph.get(module, ()))
        return seen

    return {module: {imported for imported in imports
                     if not any(imported in reachable(other) for other in imports - {imported})}
            for module, imports in graph.items()}


def short(module: str) -> str:
    return module.removeprefix("lstmlm.")


def node(module: str) -> str:
    """The module's name as a Mermaid node id."""
    return short(module).replace(".", "_")


def architecture() -> str:
    """The layers as a Mermaid diagram (bottom up; an arrow for each import that no chain of
    other imports implies) and a table of the modules of each."""
    graph = import_graph()
    level = layers(graph)
    graph = reduced({module: imports & set(level) for module, imports in graph.items()
                     if module in level})
    by_layer = defaultdict(list)
    for module, number in level.items():
        by_layer[number].append(module)
    lines = ["```mermaid", "flowchart BT"]
    for number in sorted(by_layer):
        lines.append(f"  subgraph layer{number}[layer {number}]")
        lines.extend(f"    {node(module)}[{short(module)}]"
                     for module in sorted(by_layer[number]))
        lines.append("  end")
    for module in sorted(level):
        lines.extend(f"  {node(module)} --> {node(imported)}" for imported in sorted(graph[module]))
    lines += ["```", "", "| layer | modules |", "|---|---|"]
    lines += [f"| {number} | {', '.join(f'`{short(module)}`' for module in sorted(modules))} |"
              for number, modules in sorted(by_layer.items())]
    return "\n".join(lines)


GENERATORS: dict[str, tuple[str, Callable[[], str]]] = {
    "architecture": ("docs/architecture.md", architecture),
}


def render(page: str, name: str, content: str) -> str:
    """`page` with the part `name` replaced by `content`."""
    pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)", re.DOTALL)
    if not pattern.search(page):
        raise ValueError(f"no generated part {name!r} in the page")
    return pattern.sub(lambda match: match.group(1) + content.rstrip("\n") + "\n"
                       + match.group(2), page)


def stale_pages(write: bool) -> list[str]:
    """The pages whose generated parts differ from the code (rewritten if `write`)."""
    stale = []
    for name, (relative, generate) in GENERATORS.items():
        path = ROOT / relative
        page = path.read_text(encoding="utf-8")
        fresh = render(page, name, generate())
        if fresh != page:
            stale.append(f"{relative} ({name})")
            if write:
                path.write_text(fresh, encoding="utf-8")
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args()
    stale = stale_pages(write=not args.check)
    for page in stale:
        print(f"{'stale' if args.check else 'rewrote'}: {page}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
