"""The package keeps its shape: imports point down the layer order written in
``stylesim/__init__.py`` (a module may import its own package and the layers below it, never
one above or beside it), and every function does one job in at most 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import stylesim

PACKAGE = Path(stylesim.__file__).resolve().parent
MAX_FUNCTION_LINES = 60


def layer_of(module: str) -> int:
    """Rank of a ``stylesim.x.y`` module in ``stylesim.LAYERS`` (0 = top)."""
    part = module.split(".")[1] if module.count(".") else ""
    for rank, layer in enumerate(stylesim.LAYERS):
        if part in layer:
            return rank
    raise AssertionError(f"{module}: its package {part!r} is missing from stylesim.LAYERS")


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        out.append((name, path))
    return out


def imported_modules(path: Path, name: str) -> list[tuple[int, str]]:
    """(line, module) of every stylesim import in a file, including those inside functions."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("stylesim")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative imports: resolve against the importing package
                base = (
                    name.split(".")[: -node.level]
                    if path.name != "__init__.py"
                    else name.split(".")[: len(name.split(".")) - node.level + 1]
                )
                found.append((node.lineno, ".".join([*base, node.module])))
            elif node.module.startswith("stylesim"):
                if node.module == "stylesim":  # packages, not names such as __version__ or LAYERS
                    found += [
                        (node.lineno, f"stylesim.{a.name}") for a in node.names if (PACKAGE / a.name).exists()
                    ]
                else:
                    found.append((node.lineno, node.module))
    return found


def test_imports_point_down_the_layers():
    upward = []
    for name, path in modules():
        if name in ("stylesim", "stylesim.__main__"):
            continue
        own = layer_of(name)
        for line, target in imported_modules(path, name):
            if target == "stylesim" or target.split(".")[1] in ("__init__",):
                continue
            if target.split(".")[1] == name.split(".")[1]:
                continue  # within one package
            if layer_of(target) <= own:
                upward.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} "
                    f"({stylesim.LAYERS[layer_of(target)]} is not below {stylesim.LAYERS[own]})"
                )
    assert not upward, "\n".join(upward)


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    placed = {name for layer in stylesim.LAYERS for name in layer}
    assert packages <= placed, packages - placed


def test_functions_are_at_most_60_lines():
    long = []
    for _, path in modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} has {length} lines"
                    )
    assert not long, "\n".join(long)


def test_the_layer_test_catches_an_upward_import(tmp_path):
    """The rank check itself: collection sits below index, so collection -> index points up."""
    assert layer_of("stylesim.collection.walk") > layer_of("stylesim.index.store")
    assert layer_of("stylesim.cli") < layer_of("stylesim.api") < layer_of("stylesim.index.search")
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from stylesim.index.store import IndexStore\n")
    assert imported_modules(probe, "stylesim.collection.probe") == [(2, "stylesim.index.store")]
