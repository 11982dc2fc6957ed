"""Cold start: importing ``function_app`` (what the Functions worker does at every cold start, before the first
invocation) beside a bare ``import azure.functions``, the least any Python function app imports.

    python -m bench.coldstart [--runs 15]

Each import is timed inside a fresh interpreter (``time.perf_counter`` around the ``import`` statement alone, so
the interpreter's own start, the same for both, does not dilute the ratio), ``--runs`` times each, alternating,
after one untimed run of each to warm the file cache. The app's settings are those of
``local.settings.sample.json``, as ``func start`` reads them, with a throwaway local secret store. Prints the
median, fastest and slowest of each, the SDKs the app's import loaded (there should be none: they are imported
when a service is first built), and, last, the ratio (target <= 2): the median of the ratios of each run's pair
of imports, which ran one after the other, so that load from other processes on a shared machine weighs on both
sides of a ratio alike (the ratio of the medians and of the fastest runs are printed too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 2.0
# what a cold start should not pay for before a function needs it
HEAVY = ("azure.storage", "azure.data.tables", "azure.keyvault", "azure.identity", "requests", "shared.app_context")

PROBE = """
import json, sys, time
started = time.perf_counter()
import {module}
seconds = time.perf_counter() - started
heavy = sorted({{h for h in {heavy!r} for m in sys.modules if m == h or m.startswith(h + ".")}})
print(json.dumps({{"seconds": seconds, "modules": len(sys.modules), "heavy": heavy}}))
"""


@dataclass
class Sample:
    seconds: float
    modules: int
    heavy: list[str]


def app_environment(secrets_dir: str) -> dict[str, str]:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    env = {**os.environ, **{k: str(v) for k, v in values.items()}}
    env["LOCAL_SECRETS_DIR"] = secrets_dir
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)  # telemetry off, as in the sample settings
    return env


def measure(module: str, env: dict[str, str]) -> Sample:
    code = PROBE.format(module=module, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"import {module} failed:\n{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Sample(float(data["seconds"]), int(data["modules"]), list(data["heavy"]))


def describe(name: str, samples: list[Sample]) -> float:
    times = sorted(s.seconds for s in samples)
    median = statistics.median(times)
    print(
        f"{name:<24} median {median * 1000:7.1f} ms   fastest {times[0] * 1000:7.1f} ms   "
        f"slowest {times[-1] * 1000:7.1f} ms   modules {samples[-1].modules}"
    )
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed imports of each (default 15)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coldstart-secrets-") as secrets_dir:
        env = app_environment(secrets_dir)
        measure("azure.functions", env), measure("function_app", env)  # warm the file cache
        bare: list[Sample] = []
        app: list[Sample] = []
        for _ in range(max(1, args.runs)):
            bare.append(measure("azure.functions", env))
            app.append(measure("function_app", env))
    print(f"import in a fresh interpreter, {len(bare)} runs each (python {sys.version.split()[0]})")
    bare_median = describe("import azure.functions", bare)
    app_median = describe("import function_app", app)
    loaded = sorted({name for sample in app for name in sample.heavy})
    print(f"loaded by function_app's import: {', '.join(loaded) if loaded else 'no storage, vault or HTTP SDK'}")
    ratio = statistics.median(a.seconds / b.seconds for a, b in zip(app, bare, strict=True))
    fastest = min(s.seconds for s in app) / min(s.seconds for s in bare)
    print(f"ratio of the medians {app_median / bare_median:.2f}x, of the fastest runs {fastest:.2f}x")
    verdict = "ok" if ratio <= TARGET else "OVER TARGET"
    print(
        f"cold start: import function_app / import azure.functions = {ratio:.2f}x, median of {len(app)} paired runs "
        f"(target <= {TARGET:g}x): {verdict}"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
