"""The layers of docs/architecture.md, kept: what may import what, no cycle, small modules.

Read from the source with `ast`, every import counted — at module level, inside functions (a
lazy import is still a dependency) — except those under `if TYPE_CHECKING:`, which exist for
annotations only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chatserver", "routing")

#: package → the packages it must not import (a prefix matches the package and what is under it)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the wire format: data in, frames out, no I/O and nothing of the hub
    "chatserver.protocol": ("chatserver.", "routing", "starlette", "redis", "aiosqlite"),
    # the router: Redis and its Lua, nothing of the hub
    "routing": ("chatserver",),
    # the store: records in, records out; knows nothing above it
    "chatserver.store": (
        "chatserver.core",
        "chatserver.web",
        "chatserver.analytics",
        "chatserver.context",
        "chatserver.cli",
        "starlette",
    ),
    # the core: use-cases, fan-out, recovery; no HTTP, and not the process's wiring
    "chatserver.core": (
        "chatserver.web",
        "chatserver.context",
        "chatserver.cli",
        "chatserver.analytics",
        "starlette",
    ),
    # analytics: reads the store, writes files; no HTTP, no hub
    "chatserver.analytics": (
        "chatserver.web",
        "chatserver.core",
        "chatserver.context",
        "chatserver.cli",
        "starlette",
    ),
    # webhooks: send what the store's outbox holds; no HTTP server, no hub
    "chatserver.webhooks": (
        "chatserver.web",
        "chatserver.core",
        "chatserver.context",
        "chatserver.cli",
        "chatserver.analytics",
        "starlette",
    ),
    # the web layer is the top but for the command line
    "chatserver.web": ("chatserver.cli",),
}
#: the shared ground every layer stands on: settings, clock, logs, metrics, the Redis pool, probes
GROUND = (
    "chatserver.settings",
    "chatserver.clock",
    "chatserver.logs",
    "chatserver.metrics",
    "chatserver.redis_pool",
    "chatserver.private_redis",
    "chatserver.probes",
)
for _module in GROUND:
    FORBIDDEN[_module] = ("chatserver.", "routing")

#: the longest a hand-written module may grow (lines), by file kind
MAX_LINES = 500
SIZED = ("*.py", "*.js", "*.lua")
NOT_SIZED = ("vendor",)  # upstream copies, pinned by hash


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path) -> set[str]:
    """The absolute names `name` imports (relative imports resolved), type-only ones left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from chatserver.store import sqlite` names a module, not just a package
            found.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


GRAPH = {name: imports_of(name, path) for name, path in modules()}


def _under(name: str, prefix: str) -> bool:
    prefix = prefix.rstrip(".")
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    broken = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _under(module, layer)
        for target in targets
        for banned in FORBIDDEN[layer]
        if _under(target, banned) and not _under(target, layer)
    )
    assert not broken, "\n".join(broken)


def test_no_import_cycle() -> None:
    known = set(GRAPH)
    edges = {
        module: {t for t in targets if t in known and t != module}
        for module, targets in GRAPH.items()
    }
    # a package's __init__ re-exporting its modules is not a cycle with them
    for module, targets in edges.items():
        edges[module] = {t for t in targets if not _under(module, t)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    assert not cycles, cycles


def test_no_module_over_the_limit() -> None:
    long = []
    for package in (*PACKAGES, "bench"):
        for pattern in SIZED:
            for path in (ROOT / package).rglob(pattern):
                if any(part in NOT_SIZED for part in path.parts):
                    continue
                lines = len(path.read_text(encoding="utf-8").splitlines())
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not long, "\n".join(sorted(long))


def test_the_checker_sees_what_it_checks() -> None:
    # it reads lazy imports and resolves relative ones, and leaves type-only ones out
    code = ROOT / "chatserver" / "store" / "__init__.py"
    assert "chatserver.store.base" in imports_of("chatserver.store", code)
    assert len(GRAPH) > 50
    assert any(_under(t, "chatserver.protocol") for t in GRAPH["chatserver.protocol.frames"])
