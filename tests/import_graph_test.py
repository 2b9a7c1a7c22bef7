"""The package's import graph: no cycles, and the layering rules that a test can hold.

Every `import` / `from ... import` in a module counts, at module level or inside a function: a
function-level import is a dependency all the same (it only moves the failure to call time).
"""

import ast
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ganjax"

# The tool modules (benchmarks, sweeps, reproduction tables) are the only library code that may
# read configs/ (CONVENTIONS.md: "tools/ ... the only library code that reads configs/").
CONFIG_READERS = {"ganjax.tools.benchmarking", "ganjax.tools.sweeps", "ganjax.tools.reproduce"}

# Packages that import every module of themselves at run time (importlib over pkgutil): the
# method registry scans ganjax/methods/ for Method subclasses.
DYNAMIC_IMPORTS = {"ganjax.methods"}


def module_files(root: pathlib.Path = PACKAGE) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every .py file under the package."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: pathlib.Path) -> list[str]:
    """The absolute dotted names that `path` imports, anywhere in the file.

    `import a.b` gives "a.b"; `from a import b, c` gives "a.b" and "a.c" (each a submodule or a
    name defined in a); relative imports are made absolute.
    """
    is_package = path.name == "__init__.py"
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                # Level 1 is the module's own package (for a package's __init__, itself).
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([module] if module else []))
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def _resolve(imported: str, modules: dict[str, pathlib.Path]) -> str | None:
    """The package module an imported name lands in: its longest prefix that is a module.

    "ganjax.data.sources" is that module; "ganjax.data.DatasetNotFoundError" is ganjax.data
    (its __init__); "numpy.linalg" is outside the package (None).
    """
    parts = imported.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its file).

    Importing a.b.c also runs a/__init__ and a/b/__init__, but that is not a use of them: only
    a name taken from a package's __init__ (`from a.b import name`) is an edge to it. A package
    that imports its own submodules dynamically (DYNAMIC_IMPORTS) gets edges to all of them.
    """
    modules = module_files(root)
    graph = {}
    for name, path in modules.items():
        graph[name] = {t for t in (_resolve(i, modules) for i in _imports(name, path)) if t}
        if name in DYNAMIC_IMPORTS:
            graph[name] |= {m for m in modules if m.startswith(f"{name}.")}
    return graph


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the graph's strongly connected components."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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
                    out.append(sorted(component))
    return out


def _a_cycle(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete cycle through a component's first module, for the failure message."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    return paths[node] + [start]
                if child not in paths:
                    paths[child] = paths[node] + [child]
                    nxt.append(child)
        frontier = nxt
    return component


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """'a -> b -> a' for each strongly connected component of more than one module, or a
    module that imports itself."""
    out = []
    for component in strongly_connected_components(graph):
        if len(component) > 1 or component[0] in graph[component[0]]:
            cycle = _a_cycle(component, graph)
            text = " -> ".join(cycle)
            if len(component) > len(cycle) - 1:
                text += f" (one of the cycles among {', '.join(component)})"
            out.append(text)
    return out


# --- the checker checks itself on small packages -------------------------------------------


def _write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_checker_finds_a_cycle_through_function_level_and_relative_imports(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def f():\n    from .sub import c\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "from ..a import thing\n",
            "pkg/d.py": "import pkg.a\nimport numpy\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.a"}
    assert graph["pkg.d"] == {"pkg.a"}  # numpy is outside the package
    assert cycles(graph) == ["pkg.a -> pkg.b -> pkg.sub.c -> pkg.a"]


def test_checker_passes_an_acyclic_package_and_flags_a_self_import(tmp_path):
    pkg = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import x\n",
            "pkg/a.py": "from . import b\nx = 1\n",
            "pkg/b.py": "import os\n",
        },
    )
    assert cycles(import_graph(pkg)) == []
    (pkg / "b.py").write_text("def f():\n    import pkg.b\n")
    assert cycles(import_graph(pkg)) == ["pkg.b -> pkg.b"]


# --- the package ----------------------------------------------------------------------------


def test_ganjax_has_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles in ganjax/ (break each one):\n" + "\n".join(found)


def test_the_dynamic_imports_are_still_dynamic():
    # If ganjax/methods stops scanning its modules, drop it from DYNAMIC_IMPORTS.
    for name in DYNAMIC_IMPORTS:
        assert "importlib.import_module" in module_files()[name].read_text(), name


def test_only_the_tool_modules_import_configs():
    readers = set()
    for name, path in module_files().items():
        if any(i.split(".")[0] == "configs" for i in _imports(name, path)):
            readers.add(name)
    assert readers <= CONFIG_READERS, (
        f"{sorted(readers - CONFIG_READERS)} import configs/; library code takes a ConfigDict "
        f"(only the tool modules {sorted(CONFIG_READERS)} may read config files)"
    )


def test_ganjax_never_imports_the_entry_points_tests_or_torch_twins():
    """ganjax/ runs without PyTorch and below its entry points: experiments/, tests/ and
    benchmarks/ (the PyTorch twins) sit on top of it, never under it."""
    above = {"experiments", "tests", "benchmarks", "torch"}
    offenders = sorted(
        f"{name} -> {i}"
        for name, path in module_files().items()
        for i in _imports(name, path)
        if i.split(".")[0] in above
    )
    assert not offenders, f"ganjax/ imports what sits above it: {offenders}"


# '../shared' as text, or built with pathlib (`repo.parent / "shared"`).
_SHARED = re.compile(r"\.\.[/\\]shared|/\s*[\"']shared[\"']")


def test_no_library_code_reads_the_shared_folder():
    offenders = [
        f"{path.relative_to(REPO)}:{i}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if _SHARED.search(line)
    ]
    assert not offenders, (
        f"{offenders} name the project's ../shared folder; library code takes such paths from "
        "arguments (flags, config values, environment variables)"
    )


# --- the layers of docs/architecture.md -----------------------------------------------------

# Bottom to top. A module imports only modules of lower layers, or of its own package.
LAYERS = (
    ("ganjax.errors", "ganjax.rng"),
    ("ganjax.ops",),
    ("ganjax.models", "ganjax.objectives", "ganjax.data", "ganjax.metrics"),
    tuple(
        f"ganjax.training.{m}"
        for m in (
            "train_state",
            "optim",
            "checkpointing",
            "parallel",
            "distributed",
            "metric_writers",
            "run_folder",
            "loop_utils",
            "ema_batch_stats",
            "host",
        )
    ),
    ("ganjax.evaluators",),  # All but evaluation.py, a layer up.
    ("ganjax.methods",),
    ("ganjax.training.sampling",),
    ("ganjax.training.train", "ganjax.evaluators.evaluation"),
    ("ganjax.classifiers",),  # The transfer classifier hands the loop its feature network.
    ("ganjax.training.runner",),
    ("ganjax.latent",),
    ("ganjax.tools",),
)


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the LAYERS entry that holds `module`): its longest matching prefix."""
    best = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (i, prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of LAYERS: add it (docs/architecture.md)")
    return best


def _package(module: str) -> str:
    return module.rsplit(".", 1)[0] if module.count(".") > 1 else module


def test_imports_point_down_the_layers_of_the_architecture_doc():
    graph = import_graph()
    upward = []
    for module, targets in graph.items():
        if module == "ganjax" or (module.count(".") == 1 and not targets):
            continue  # The root, and package __init__ files that import nothing (docstrings).
        (mine, _), package = layer_of(module), _package(module)
        for target in sorted(targets):
            if target == "ganjax":
                continue
            theirs, _ = layer_of(target)
            if theirs < mine or (theirs == mine and _package(target) == package):
                continue
            upward.append(f"{module} -> {target}")
    assert not upward, f"imports that do not point down docs/architecture.md's layers: {upward}"


def test_the_layer_check_flags_an_upward_import():
    assert layer_of("ganjax.training.train")[0] > layer_of("ganjax.methods.gan")[0]
    assert layer_of("ganjax.training.optim")[0] < layer_of("ganjax.methods.gan")[0]
    assert layer_of("ganjax.evaluators.evaluation")[0] > layer_of("ganjax.evaluators.fid")[0]
