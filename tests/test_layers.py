"""The app's modules form layers, top to bottom: function_app -> http_handlers and the command line -> app_context
-> the engines -> the vendor registry -> the vendor packages -> the base models. An import goes down, never up,
and never round in a cycle; and importing function_app, which the Functions worker does at every cold start,
loads no storage, vault or HTTP SDK (each is imported when a service is first built)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDORS = ROOT / "shared" / "vendors"
PACKAGES = tuple(sorted(p.name for p in VENDORS.iterdir() if (p / "__init__.py").is_file()))

TOP = {"function_app"}
ADAPTERS = {"shared.http_handlers", "shared.cli", "shared.__main__"}  # and every shared.cli_* module
CONTEXT = "shared.app_context"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules() -> dict[str, Path]:
    found = {module_name(p): p for p in (ROOT / "shared").rglob("*.py")}
    found["function_app"] = ROOT / "function_app.py"
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every app module ``name`` imports anywhere in its text: at the top, in a function, under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    modules = app_modules()
    return {name: set(imports(name, path, set(modules))) for name, path in modules.items()}


def is_adapter(name: str) -> bool:
    return name in ADAPTERS or name.startswith("shared.cli_")


def vendor_package(name: str) -> str | None:
    for package in PACKAGES:
        if name == f"shared.vendors.{package}" or name.startswith(f"shared.vendors.{package}."):
            return package
    return None


def test_the_app_has_vendor_packages_to_check() -> None:
    assert PACKAGES, "no vendor package under shared/vendors/"


def test_no_module_imports_itself_round_a_cycle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(edges[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def upward(name: str, target: str) -> bool:
    """Whether ``name`` importing ``target`` goes up a layer (or sideways into another vendor's package)."""
    top, adapter = name in TOP, name in TOP or is_adapter(name)
    if target in TOP:
        return not top
    if is_adapter(target) or target == CONTEXT:
        return not adapter
    if vendor_package(target):  # an engine reaches a vendor through the registry, never by its module
        return vendor_package(name) != vendor_package(target)
    return target == "shared.vendors.registry" and vendor_package(name) is not None


def test_no_module_imports_a_layer_above_its_own() -> None:
    found = [
        f"{name} -> {target}" for name, targets in sorted(graph().items()) for target in targets if upward(name, target)
    ]
    assert not found, "imports that go up a layer: " + "; ".join(sorted(found))


def test_importing_the_function_app_loads_no_storage_vault_or_http_sdk(tmp_path: Path) -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    env = {**os.environ, **{k: str(v) for k, v in values.items()}, "LOCAL_SECRETS_DIR": str(tmp_path)}
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    heavy = ("azure.storage", "azure.data.tables", "azure.keyvault", "azure.identity", "requests", CONTEXT)
    probe = (
        "import json, sys\nimport function_app\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({heavy!r}))))\n"
        "print(len(function_app.app.get_functions()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded, functions = result.stdout.strip().splitlines()[-2:]
    assert json.loads(loaded) == []
    assert int(functions) > 0  # the triggers are all declared without them
