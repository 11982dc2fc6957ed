"""Prove the Functions host will index function_app.py, with the Python worker's own indexing code.

usage: python scripts/worker_index_check.py [APP_DIR]   -> exit 0 and the function list if it indexes.

``azure-functions-runtime`` is the worker library the host runs for Python 3.13+. Its loader needs the
host's gRPC message classes; a few plain stand-ins are enough for indexing. App settings come from
local.settings.sample.json, as ``func start`` reads local.settings.json.
"""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace


class _Message(SimpleNamespace):
    pass


class _BindingInfo(_Message):
    in_, out, inout, undefined = 0, 1, 2, 0


PROTOS = SimpleNamespace(BindingInfo=_BindingInfo, RpcFunctionMetadata=_Message, RpcRetryOptions=_Message)


def index(app_dir: str) -> list[tuple[str, list[str]]]:
    from azure_functions_runtime.bindings.meta import load_binding_registry
    from azure_functions_runtime.functions import Registry
    from azure_functions_runtime.loader import index_function_app, process_indexed_function

    app_dir = os.path.abspath(app_dir)
    with open(os.path.join(app_dir, "local.settings.sample.json")) as handle:
        values = json.load(handle)["Values"]
    for key, value in values.items():
        os.environ.setdefault(key, value)
    sys.path.insert(0, app_dir)
    os.chdir(app_dir)
    load_binding_registry()
    indexed = index_function_app(os.path.join(app_dir, "function_app.py"))
    metadata, _ = process_indexed_function(PROTOS, Registry(), indexed, app_dir)
    return [(m.name, [json.loads(b)["type"] for b in m.raw_bindings]) for m in metadata]


def main() -> int:
    functions = index(sys.argv[1] if len(sys.argv) > 1 else ".")
    for name, bindings in functions:
        print(f"  {name}: {', '.join(bindings)}")
    print(f"OK: the worker indexed {len(functions)} functions")
    return 0 if functions else 1


if __name__ == "__main__":
    sys.exit(main())
