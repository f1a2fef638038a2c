"""The import graph: druginv_gym never imports druginv_agents, its modules (and its
subpackages, taken whole) import one another without cycles, ``import druginv_gym`` pays for
no torch, and druginv_agents uses only public druginv_gym modules.

The graph is read from the source (``ast``), not from ``sys.modules``: every ``import`` and
``from ... import`` counts, also one inside a function (a lazy import still runs when the
function does), and so does a call that imports a module named by a string literal
(``importlib.import_module("x")``, ``importlib.resources.files("x")``); what sits under
``if TYPE_CHECKING:`` does not. An import names one module: the module itself for
``import a.b.c``, and for ``from a.b import c`` the submodule ``a.b.c`` when there is one, else
the package ``a.b`` (its ``__init__``). See :func:`import_graph` for the packages on the way.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest


class Import(NamedTuple):
    """One import's target, resolved to an absolute dotted name."""

    importer: str
    target: str
    line: int
    how: str = "import"  # or the function that imports by name, e.g. "resources.files"


#: Functions that import the package or module named by their first argument.
_IMPORT_CALLS = {"import_module", "__import__"}
#: importlib.resources functions taking a package (``files("pkg")`` imports ``pkg``).
_RESOURCE_CALLS = {"files", "as_file", "read_text", "read_binary", "open_text", "open_binary",
                   "path", "contents", "is_resource"}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Reading imports from source
# ---------------------------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING`` (any ``X.TYPE_CHECKING``)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _call_name(func: ast.expr) -> str | None:
    """``"import_module"``, ``"resources.files"``... when ``func`` is one of the functions that
    import the module named by their first argument."""
    if isinstance(func, ast.Name) and func.id in _IMPORT_CALLS:
        return func.id
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in _IMPORT_CALLS:
        return func.attr
    owner = func.value
    owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
    if func.attr in _RESOURCE_CALLS and owner_name == "resources":
        return f"resources.{func.attr}"
    return None


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom | ast.Call]:
    """Every import node of ``tree`` (functions and classes included), and every call that
    imports a module named by a string literal (``importlib.import_module("x")``,
    ``resources.files("x")``), except in the bodies of ``if TYPE_CHECKING:`` (their ``else:``
    branches do run, so they count)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if (
            isinstance(node, ast.Call)
            and _call_name(node.func)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve_from(importer: str, is_package: bool, module: str | None, level: int) -> str:
    """The absolute module a ``from <level dots><module> import ...`` of ``importer`` reads."""
    if level == 0:
        assert module is not None
        return module
    # Level 1 is the importer's own package: the module itself for an __init__.
    parts = importer.split(".") if is_package else importer.split(".")[:-1]
    up = level - 1
    if up >= len(parts):
        raise ValueError(f"{importer}: relative import beyond the top-level package")
    base = parts[: len(parts) - up]
    return ".".join([*base, module] if module else base)


def read_imports(
    importer: str, source: str, is_package: bool, modules: Iterable[str] = ()
) -> list[Import]:
    """Every import of ``source`` (the module ``importer``), relative ones resolved, in source
    order, one per imported module and line.

    ``modules``: the modules that exist, to tell ``from pkg import submodule`` (an import of
    ``pkg.submodule``) from ``from pkg import name`` (an import of ``pkg``).
    """
    known = set(modules)
    found = set()
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.args[0].value  # type: ignore[attr-defined]
            found.add(Import(importer, name, node.lineno, _call_name(node.func) or ""))
            continue
        if isinstance(node, ast.Import):
            found |= {Import(importer, alias.name, node.lineno) for alias in node.names}
            continue
        base = _resolve_from(importer, is_package, node.module, node.level)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            found.add(Import(importer, sub if sub in known else base, node.lineno))
    return sorted(found, key=lambda i: (i.line, i.target))


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _package_modules(package: str) -> dict[str, tuple[Path, bool]]:
    """Every module of the installed ``package``: name -> (source file, is a package)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin and spec.submodule_search_locations, package
    found = {package: (Path(spec.origin), True)}
    for info in pkgutil.walk_packages(spec.submodule_search_locations, prefix=f"{package}."):
        sub = info.module_finder.find_spec(info.name, None)  # type: ignore[call-arg]
        if sub is None or not sub.origin or not sub.origin.endswith(".py"):
            continue
        found[info.name] = (Path(sub.origin), info.ispkg)
    return found


def package_imports(package: str) -> tuple[list[str], list[Import]]:
    """The modules of ``package`` and every import they make."""
    modules = _package_modules(package)
    imports = []
    for name, (path, is_package) in sorted(modules.items()):
        imports += read_imports(name, path.read_text(encoding="utf-8"), is_package, modules)
    return sorted(modules), imports


def _owner(target: str, modules: set[str]) -> str:
    """The longest existing module that ``target`` names (``a.b.c`` -> ``a.b`` when c is not a
    module)."""
    parts = target.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts)


def _packages_of(name: str) -> set[str]:
    """``name`` and every package above it: ``a.b.c`` -> {a, a.b, a.b.c}."""
    parts = name.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts) + 1)}


def import_graph(modules: Iterable[str], imports: Iterable[Import]) -> dict[str, set[str]]:
    """Module -> the modules of the same set it imports.

    An import of ``a.b.c`` is an edge to ``a.b.c`` and, as Python runs a package's
    ``__init__`` before any of its modules, to each package on the way (``a.b``) that the
    importer is not itself inside: an import of ``druginv_gym.envs.core`` from
    ``druginv_gym.wrappers.forecast`` also runs ``druginv_gym.envs``. A package the importer is
    inside is already running by then, so only an explicit import of it (``import druginv_gym``
    or ``from druginv_gym import name`` in ``druginv_gym.envs.core``) is an edge. An import of
    oneself is none.
    """
    known = set(modules)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for imp in imports:
        target = _owner(imp.target, known)
        if imp.importer not in known or not target:
            continue
        inside = _packages_of(imp.importer)
        above = {p for p in _packages_of(target) - {target} if p in known}
        heads = {target} | (above - inside)
        graph[imp.importer] |= heads - {imp.importer}
    return graph


def subpackage_graph(graph: Mapping[str, Iterable[str]], top: str) -> dict[str, set[str]]:
    """``graph`` with each subpackage of ``top`` merged into one node (``top.envs.core`` ->
    ``top.envs``); the modules directly in ``top`` stay as they are. Edges inside a
    subpackage vanish."""

    def group(name: str) -> str:
        parts = name.split(".")
        return ".".join(parts[:2]) if parts[0] == top else name

    merged: dict[str, set[str]] = {}
    for v, ws in graph.items():
        merged.setdefault(group(v), set()).update(group(w) for w in ws)
    for v, ws in merged.items():
        ws.discard(v)
    return merged


# ---------------------------------------------------------------------------------------------
# Cycles
# ---------------------------------------------------------------------------------------------


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    succ = {v: sorted(ws) for v, ws in graph.items()}
    for ws in list(succ.values()):
        for w in ws:
            succ.setdefault(w, [])
    for root in sorted(succ):
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    components.append(sorted(component))
    return sorted(components)


def _shortest_cycle_through(graph: Mapping[str, Iterable[str]], start: str, inside: set[str]):
    """The shortest cycle from ``start`` back to itself within ``inside`` (BFS, ties broken by
    name), as the list of its modules from ``start``; ``None`` when there is none."""
    parent: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        v = queue.popleft()
        for w in sorted(graph.get(v, ())):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            if w in inside and w not in seen:
                seen.add(w)
                parent[w] = v
                queue.append(w)
    return None


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Import cycles of ``graph``: for each module on a cycle, the shortest cycle through it,
    each cycle listed once (rotated to start at its smallest name), sorted. Every module of
    every strongly connected component is on one of them, so fixing all the reported cycles is
    what makes the graph acyclic; ``[]`` when it is."""
    cycles = set()
    for component in strongly_connected(graph):
        inside = set(component)
        for start in component:
            cycle = _shortest_cycle_through(graph, start, inside)
            if cycle is None:  # a lone module without a self-loop
                continue
            k = cycle.index(min(cycle))
            cycles.add(tuple(cycle[k:] + cycle[:k]))
    return [list(c) for c in sorted(cycles)]


def _show(cycle: list[str]) -> str:
    return " -> ".join([*cycle, cycle[0]])


# ---------------------------------------------------------------------------------------------
# The cycle finder and the reader on hand-made input
# ---------------------------------------------------------------------------------------------


def test_find_cycles_on_a_hand_made_graph():
    graph = {
        "a": {"b"},
        "b": {"a", "c"},  # a <-> b
        "c": {"d"},
        "d": {"e"},
        "e": {"c", "f"},  # c -> d -> e -> c
        "f": set(),
        "g": {"g"},  # a self-loop
        "h": {"a", "f"},  # into cycles, on none
    }
    assert find_cycles(graph) == [["a", "b"], ["c", "d", "e"], ["g"]]
    assert strongly_connected(graph) == [["a", "b"], ["c", "d", "e"], ["f"], ["g"], ["h"]]
    assert find_cycles({k: v - {"a", "c", "g"} for k, v in graph.items()}) == []
    assert find_cycles({}) == []


def test_find_cycles_reports_each_cycle_of_one_component():
    # One component, two cycles sharing "hub": both are reported, not just the first found.
    graph = {"hub": {"x", "y"}, "x": {"hub"}, "y": {"z"}, "z": {"hub"}}
    assert find_cycles(graph) == [["hub", "x"], ["hub", "y", "z"]]
    # A chord: the shortest cycle through each module, once each.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "b"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["b", "c"]]


def test_find_cycles_on_a_long_chain():
    # Deep graphs do not hit the recursion limit (Tarjan runs without recursion).
    n = 1500
    graph = {f"m{i:05d}": {f"m{i + 1:05d}"} for i in range(n)}
    assert find_cycles(graph) == []
    graph[f"m{n:05d}"] = {"m00000"}
    (cycle,) = find_cycles(graph)
    assert len(cycle) == n + 1 and cycle[0] == "m00000"


def test_read_imports_resolves_relative_lazy_and_skips_type_checking():
    source = """
import druginv_gym
import druginv_gym.envs.core as core
from . import sibling, not_a_module
from .. import config
from .core import thing
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from druginv_gym.hidden import Hidden
else:
    from druginv_gym.shown import Shown
if typing.TYPE_CHECKING:
    import druginv_gym.also_hidden

def lazy():
    import druginv_agents
    class Inner:
        from druginv_gym.deep import x
    importlib.import_module("druginv_gym.by_name")
    resources.files("druginv_agents") / "pretrained"
    importlib.resources.read_text("druginv_gym.data", "x.csv")
    resources.files(__name__), import_module(".relative", "pkg"), os.path.join("druginv_x")
"""
    modules = {"druginv_gym.envs.sibling", "druginv_gym.config"}
    got = read_imports("druginv_gym.envs.factory", source, False, modules)
    assert [(i.line, i.target) for i in got] == [
        (2, "druginv_gym"),
        (3, "druginv_gym.envs.core"),
        (4, "druginv_gym.envs"),  # `not_a_module` is a name of the package
        (4, "druginv_gym.envs.sibling"),
        (5, "druginv_gym.config"),
        (6, "druginv_gym.envs.core"),
        (7, "typing"),
        (11, "druginv_gym.shown"),
        (16, "druginv_agents"),
        (18, "druginv_gym.deep"),
        (19, "druginv_gym.by_name"),
        (20, "druginv_agents"),
        (21, "druginv_gym.data"),
    ]
    assert [i.how for i in got[-3:]] == ["import_module", "resources.files", "resources.read_text"]
    assert {i.importer for i in got} == {"druginv_gym.envs.factory"}
    # In an __init__, one dot is the package itself.
    got = read_imports("druginv_gym.envs", "from . import core\nfrom .. import x", True)
    assert [i.target for i in got] == ["druginv_gym.envs", "druginv_gym"]
    with pytest.raises(ValueError, match="beyond the top-level package"):
        read_imports("druginv_gym.envs", "from ... import x", True)
    got = read_imports("druginv_gym.envs", "from .core import A", True, {"druginv_gym.envs.core"})
    assert [i.target for i in got] == ["druginv_gym.envs.core"]


def test_import_graph_edges():
    modules = ["p", "p.a", "p.sub", "p.sub.b", "p.sub.c"]
    imports = [
        Import("p", "p.a", 1),
        Import("p.a", "p.sub.b", 1),  # runs p.sub's __init__ first: an edge to p.sub too
        Import("p.a", "numpy", 2),  # outside the set: no edge
        Import("p.sub", "p.sub.c", 1),
        Import("p.sub.b", "p.sub.c", 1),  # inside p.sub already: no edge to p.sub
        Import("p.sub.b", "p.sub.b", 2),  # itself: no edge
        Import("p.sub.c", "p.a.Name", 1),  # a name of p.a
    ]
    graph = import_graph(modules, imports)
    assert graph == {
        "p": {"p.a"},
        "p.a": {"p.sub", "p.sub.b"},
        "p.sub": {"p.sub.c"},
        "p.sub.b": {"p.sub.c"},
        "p.sub.c": {"p.a"},
    }
    assert find_cycles(graph) == [["p.a", "p.sub", "p.sub.c"], ["p.a", "p.sub.b", "p.sub.c"]]
    assert find_cycles(import_graph(modules, imports[:-1])) == []
    # An explicit import of one's own parent package is an edge.
    graph = import_graph(modules, [*imports[:-1], Import("p.sub.c", "p", 1)])
    assert graph["p.sub.c"] == {"p"}
    assert find_cycles(graph) == [
        ["p", "p.a", "p.sub", "p.sub.c"],
        ["p", "p.a", "p.sub.b", "p.sub.c"],
    ]


def test_subpackage_graph_finds_cycles_between_packages():
    # No module cycle, but p.x (through p.x.factory) and p.y (through p.y.impl) need each other.
    graph = {
        "p": {"p.x"},
        "p.x": {"p.x.core"},
        "p.x.core": set(),
        "p.x.factory": {"p.y"},
        "p.y": {"p.y.impl"},
        "p.y.impl": {"p.x", "p.x.core", "p.tool"},
        "p.tool": set(),
    }
    assert find_cycles(graph) == []
    merged = subpackage_graph(graph, "p")
    assert merged == {"p": {"p.x"}, "p.x": {"p.y"}, "p.y": {"p.x", "p.tool"}, "p.tool": set()}
    assert find_cycles(merged) == [["p.x", "p.y"]]


# ---------------------------------------------------------------------------------------------
# The real packages
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gym_imports() -> tuple[list[str], list[Import]]:
    modules, imports = package_imports("druginv_gym")
    assert {"druginv_gym", "druginv_gym.envs", "druginv_gym.envs.core"} <= set(modules)
    return modules, imports


def test_walk_finds_every_source_file(gym_imports):
    modules, _ = gym_imports
    spec = importlib.util.find_spec("druginv_gym")
    root = Path(spec.origin).parent
    on_disk = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if all((root.joinpath(*parts[:k]) / "__init__.py").is_file() for k in range(len(parts))):
            on_disk.add(".".join(("druginv_gym", *parts)))
    assert set(modules) == on_disk


def test_druginv_gym_never_imports_druginv_agents(gym_imports):
    _, imports = gym_imports
    found = sorted({i for i in imports if _top(i.target) == "druginv_agents"})
    bad = [f"{i.importer} (line {i.line}, {i.how}) imports {i.target}" for i in found]
    assert bad == [], "druginv_gym must not depend on druginv_agents:\n" + "\n".join(bad)


def test_druginv_gym_has_no_import_cycles(gym_imports):
    modules, imports = gym_imports
    cycles = find_cycles(import_graph(modules, imports))
    assert cycles == [], "import cycles in druginv_gym:\n" + "\n".join(map(_show, cycles))


def test_druginv_gym_subpackages_have_no_import_cycles(gym_imports):
    """Cycles between subpackages (each taken as one node) and top-level modules: a subpackage
    whose modules import another subpackage whose modules import it back, even when no single
    chain of modules closes the loop."""
    modules, imports = gym_imports
    cycles = find_cycles(subpackage_graph(import_graph(modules, imports), "druginv_gym"))
    assert cycles == [], "import cycles between druginv_gym's packages:\n" + "\n".join(
        map(_show, cycles)
    )


def test_druginv_agents_imports_only_public_druginv_gym_modules():
    gym_modules = set(_package_modules("druginv_gym"))
    _, imports = package_imports("druginv_agents")
    assert imports, "no imports read from druginv_agents"
    found = set()
    for i in imports:
        if _top(i.target) != "druginv_gym":
            continue
        module = _owner(i.target, gym_modules)
        if any(part.startswith("_") for part in module.split(".")):
            found.add((i.importer, i.line, i.how, module))
    bad = [f"{m} (line {n}, {how}) imports {target}" for m, n, how, target in sorted(found)]
    assert bad == [], "druginv_agents uses private druginv_gym modules:\n" + "\n".join(bad)


def test_import_druginv_gym_imports_no_torch():
    code = "import druginv_gym, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
