"""The package has no import cycles, counting imports inside functions too: each module can be
understood (and imported) after the ones it names, never needing one that needs it back.

The graph is read from the source (the AST), so a lazy import that only hides a cycle
fails here as much as one at the top of a module. ``from . import name`` counts as an
import of the submodule where ``name`` is one, else of the package's ``__init__``; the
import of a package that Python makes before one of its submodules does not count (a
package's ``__init__`` may gather its submodules).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = CHECKOUT / "newsletter"


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = ["newsletter", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules else target)
    return {imported for imported in found if imported in modules and imported != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(start, iter(sorted(graph[start])))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, successors = stack[-1]
            for successor in successors:
                if successor in on_path:
                    return path[path.index(successor) :] + [successor]
                if successor not in done:
                    stack.append((successor, iter(sorted(graph[successor]))))
                    path.append(successor)
                    on_path.add(successor)
                    break
            else:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_check_sees_cycles_hidden_in_functions(tmp_path):
    """The check itself: a lazy import inside a function closes a cycle as much as any."""
    package = tmp_path / "newsletter"
    (package / "delivery").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "digest.py").write_text("from .delivery import queue\n")
    (package / "delivery" / "__init__.py").write_text("")
    (package / "delivery" / "queue.py").write_text("def drain():\n    from .sender import Sender\n")
    (package / "delivery" / "sender.py").write_text("from ..digest import build\n")
    modules = module_files(package)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert find_cycle(graph) == [
        "newsletter.delivery.queue", "newsletter.delivery.sender", "newsletter.digest", "newsletter.delivery.queue",
    ]
    (package / "delivery" / "sender.py").write_text("import json\n")
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert find_cycle(graph) is None


def rule_map() -> list[tuple[str, list[str]]]:
    """CONTRIBUTING.md's "Where each rule lives": (rule, [`module:name`, …]) per row."""
    text = (CHECKOUT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## Where each rule lives", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("rule", "---"):
            rows.append((cells[0], re.findall(r"`([\w.]+:[\w.]+)`", cells[1])))
    return rows


def test_every_place_in_the_rule_map_exists():
    """The map in CONTRIBUTING.md stays true: each rule names functions that exist."""
    rows = rule_map()
    assert len(rows) >= 25
    missing = []
    for rule, places in rows:
        assert places, f"no place named for: {rule}"
        for place in places:
            module_name, _, attribute = place.partition(":")
            target = importlib.import_module(f"newsletter.{module_name}")
            for part in attribute.split("."):
                target = getattr(target, part, None)
            if target is None:
                missing.append(place)
    assert not missing, f"CONTRIBUTING.md names what does not exist: {missing}"


def test_every_transport_implements_the_connection_protocol():
    """A sender uses any transport alike: each has the protocol's methods with its signatures."""
    from newsletter.delivery.transports import base, files, memory, smtp

    for transport in (smtp.SMTPConnection, files.FileConnection, memory.MemoryConnection):
        for method in ("send", "close"):
            implemented, declared = getattr(transport, method), getattr(base.Connection, method)
            assert inspect.iscoroutinefunction(implemented), f"{transport.__name__}.{method} is not async"
            assert inspect.signature(implemented) == inspect.signature(declared), f"{transport.__name__}.{method}"
