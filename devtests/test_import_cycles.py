"""No import cycle among the project's own modules, lazy (function-level) imports included.

A cycle held together by an import inside a function still couples the two modules both ways: each
can only be understood, tested or moved with the other. The graph is read from the source (ast),
so nothing is imported and a lazy import counts like any other.
"""
import ast

import networkx as nx   # comes with torch

import mpconfig as C

PACKAGES = ("grader", "reference")
TOP_MODULES = ("mpconfig", "models", "dev", "submitted")


def _module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root=C.ROOT):
    """{module name: path} of the packages' modules and the top-level modules."""
    modules = {name: root / f"{name}.py" for name in TOP_MODULES if (root / f"{name}.py").is_file()}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            modules[_module_name(path, root)] = path
    return modules


def _imported(node, module, is_package):
    """The dotted names an Import/ImportFrom node may load: each module named, and for
    `from X import Y` both X and X.Y (Y may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[:len(package) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def import_graph(modules):
    """Edges module -> own module it imports, anywhere in its source. Importing a.b.c also runs
    the packages a and a.b, so those count as imported too."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported(node, module, path.name == "__init__.py"):
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    target = ".".join(parts[:i])
                    # A package that contains the importer is already being initialised when
                    # the importer runs, so reaching a sibling through it is no edge back to it.
                    inside = module.startswith(target + ".")
                    if target in modules and target != module and not inside:
                        graph.add_edge(module, target)
    return graph


def cycles(graph):
    """Each group of modules that import one another (directly or not), as sorted lists."""
    return sorted(sorted(group) for group in nx.strongly_connected_components(graph) if len(group) > 1)


def one_cycle(graph, group):
    """One import chain around a group, "a -> b -> a", to start untangling it from."""
    edges = nx.find_cycle(graph.subgraph(group))
    return " -> ".join([a for a, _ in edges] + [edges[0][0]])


def test_no_import_cycle_among_the_project_modules():
    modules = project_modules()
    assert {"grader.grade", "grader.context", "reference.submitted", "mpconfig"} <= set(modules)
    graph = import_graph(modules)
    found = cycles(graph)
    assert not found, "import cycles, e.g.:\n" + "\n".join(
        f"{one_cycle(graph, group)}   (group: {', '.join(group)})" for group in found)


def test_the_walk_sees_lazy_relative_and_package_imports(tmp_path):
    (tmp_path / "grader" / "sub").mkdir(parents=True)
    (tmp_path / "grader" / "__init__.py").write_text("")
    (tmp_path / "grader" / "sub" / "__init__.py").write_text("")
    (tmp_path / "grader" / "a.py").write_text("def f():\n    from grader import b\n")
    (tmp_path / "grader" / "b.py").write_text("from .sub import c\n")
    (tmp_path / "grader" / "sub" / "c.py").write_text("import grader.a as a\n")
    (tmp_path / "grader" / "d.py").write_text("import mpconfig\n")
    (tmp_path / "mpconfig.py").write_text("")
    graph = import_graph(project_modules(tmp_path))
    assert cycles(graph) == [["grader.a", "grader.b", "grader.sub.c"]]
    assert graph.has_edge("grader.d", "mpconfig")
    # A package's own modules reach siblings through it (`from grader.sub import x`) while it is
    # being initialised: no edge back to the package, so its __init__ may re-export them.
    assert not graph.has_edge("grader.sub.c", "grader")
    (tmp_path / "grader" / "sub" / "__init__.py").write_text("from grader.sub.e import f\n")
    (tmp_path / "grader" / "sub" / "e.py").write_text("from grader.sub import g\nf = 1\n")
    (tmp_path / "grader" / "sub" / "g.py").write_text("")
    graph = import_graph(project_modules(tmp_path))
    assert cycles(graph) == [["grader.a", "grader.b", "grader.sub.c"]]
    (tmp_path / "grader" / "sub" / "g.py").write_text("from grader.sub import e\n")
    assert ["grader.sub.e", "grader.sub.g"] in cycles(import_graph(project_modules(tmp_path)))
