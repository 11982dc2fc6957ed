"""Offline checks of the Bicep in ``infra/`` (the Bicep CLI cannot be installed here).

1. checkov (``--framework bicep --skip-download``, JSON output): fails on any failed check, any parsing error,
   an empty scan, a skip without a reason, a ``checkov:skip`` comment that checkov did not apply (a comment
   above the ``resource`` line instead of inside its block is silently ignored by checkov), or a skip that is not
   needed (checkov runs a second time on a copy of infra/ without the skip comments: every skipped check must
   fail there).
2. pycep-parser 0.7.1 (checkov pins 0.5.1, which lags behind Bicep's syntax): parses every ``.bicep`` file and
   fails on any parse error, then cross-checks the files the way ``bicep build`` would: every parameter has a
   ``@description``, every local module exists and is called with parameters it declares (and all it requires),
   every ``<module>.outputs.<name>`` exists, and ``main.parameters.json`` names only parameters of main.bicep.

Both tools live in ``.venv-infra`` (``make infra-check`` creates it): checkov installed from
requirements-infra.txt, pycep-parser 0.7.1 installed with ``pip install --target .venv-infra/pycep`` and imported
from there by this script, so it never meets checkov's 0.5.1.

Usage: ``.venv-infra/bin/python scripts/infra_check.py [--infra DIR] [--checkov PATH] [--pycep-dir DIR]``.
Exit status: 0 all good, 1 a check failed, 2 a tool is missing.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYCEP_VERSION = "0.7.1"
SKIP_COMMENT = re.compile(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+)(?::\s*(.*))?")
MIN_REASON_LENGTH = 20


class ToolMissing(RuntimeError):
    """A tool the check needs is not installed."""


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    # checks checkov skipped: (file, check id, resource)
    skipped: list[tuple[Path, str, str]] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.problems.append(message)
        print(f"  FAIL {message}")


# -- 1. checkov -------------------------------------------------------------------------------------------------


def find_checkov(explicit: str | None) -> Path:
    candidates = [explicit] if explicit else [str(ROOT / ".venv-infra" / "bin" / "checkov"), shutil.which("checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ToolMissing("checkov not found: run `make infra-check` (it creates .venv-infra from requirements-infra.txt)")


def run_checkov(checkov: Path, infra: Path) -> dict[str, Any]:
    """Run checkov on ``infra`` and return its JSON report (one framework: bicep)."""
    command = [str(checkov), "-d", str(infra), "--framework", "bicep", "--skip-download", "-o", "json"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    # 0: all passed, 1: some check failed; anything else is checkov itself failing.
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    start = proc.stdout.find("{")
    list_start = proc.stdout.find("[")
    if list_start != -1 and (start == -1 or list_start < start):
        start = list_start
    if start == -1:
        raise RuntimeError(f"checkov printed no JSON report:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    report: Any = json.loads(proc.stdout[start:])
    if isinstance(report, list):  # one entry per framework when several ran
        report = next((r for r in report if r.get("check_type") == "bicep"), {})
    if not isinstance(report, dict) or "summary" not in report:
        # checkov prints a bare summary ({"passed": 0, ...}) when it found nothing to scan
        raise RuntimeError(f"checkov found nothing to scan in {infra}: {proc.stdout[:500]}")
    return report


def skip_comments(infra: Path) -> Iterator[tuple[Path, int, str, str]]:
    """Every ``// checkov:skip=ID: reason`` comment: (file, line, check id, reason)."""
    for path in sorted(infra.rglob("*.bicep")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if match:
                yield path.resolve(), number, match.group(1), (match.group(2) or "").strip()


def check_checkov_report(report: Mapping[str, Any], infra: Path, out: Report) -> None:
    results: Mapping[str, Any] = report.get("results", {})
    summary: Mapping[str, Any] = report["summary"]
    passed, failed, skipped = (results.get(k, []) for k in ("passed_checks", "failed_checks", "skipped_checks"))
    print(
        f"  checkov {summary.get('checkov_version', '?')}: {summary.get('passed', len(passed))} passed, "
        f"{summary.get('failed', len(failed))} failed, {summary.get('skipped', len(skipped))} skipped, "
        f"{summary.get('parsing_errors', 0)} parsing errors, {summary.get('resource_count', 0)} resources"
    )
    for check in skipped:
        reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
        print(f"  skip {check['check_id']} {check['resource']}: {reason}")
    for check in failed:
        lines = check.get("file_line_range") or ["?", "?"]
        out.fail(
            f"checkov {check['check_id']} ({check['check_name']}) on {check['resource']} "
            f"at {check.get('file_path')}:{lines[0]}-{lines[1]}"
        )
    for path in results.get("parsing_errors", []):
        out.fail(f"checkov could not parse {path} (its pinned pycep-parser lags Bicep: see the parse step below)")
    if not summary.get("resource_count"):
        out.fail("checkov scanned no resource: is infra/ empty, or built only from registry modules?")
    if not passed:
        out.fail("checkov ran no check")

    applied = {(Path(c.get("file_abs_path", "")).resolve(), c["check_id"]) for c in skipped}
    out.skipped = [(Path(c.get("file_abs_path", "")).resolve(), c["check_id"], c["resource"]) for c in skipped]
    for path, number, check_id, reason in skip_comments(infra):
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}"
        if len(reason) < MIN_REASON_LENGTH:
            out.fail(f"{where}: checkov:skip={check_id} needs a real reason after the colon")
        if (path, check_id) not in applied:
            out.fail(
                f"{where}: checkov:skip={check_id} was not applied by checkov: the comment must sit inside the "
                "resource block (not above it), and the check must apply to that resource; else delete it"
            )


def check_skips_are_needed(checkov: Path, infra: Path, out: Report) -> None:
    """Run checkov on a copy of ``infra`` without the skip comments: every check skipped above must fail there."""
    if not out.skipped:
        return
    with tempfile.TemporaryDirectory(prefix="infra-noskip-") as tmp:
        copy = Path(tmp) / infra.name
        shutil.copytree(infra, copy)
        for path in copy.rglob("*.bicep"):
            # keep the line as an empty comment: line numbers and comment counts stay the same
            path.write_text(re.sub(r"//\s*checkov:skip=[^\n]*", "//", path.read_text()))
        report = run_checkov(checkov, copy)
        failed = {
            (Path(c.get("file_abs_path", "")).resolve().relative_to(copy.resolve()), c["check_id"], c["resource"])
            for c in report.get("results", {}).get("failed_checks", [])
        }
    for path, check_id, resource in out.skipped:
        if (path.relative_to(infra), check_id, resource) not in failed:
            out.fail(f"{path.name}: checkov:skip={check_id} on {resource} is not needed (the check passes): delete it")


# -- 2. full parse with pycep-parser 0.7.1 ------------------------------------------------------------------------


def load_pycep(pycep_dir: Path) -> Any:
    """Import pycep-parser 0.7.1 from its own --target folder, ahead of checkov's 0.5.1 in site-packages."""
    if not (pycep_dir / "pycep").is_dir():
        raise ToolMissing(
            f"pycep-parser {PYCEP_VERSION} not found in {pycep_dir}: run `make infra-check` "
            f"(pip install --target {pycep_dir} pycep-parser=={PYCEP_VERSION})"
        )
    versions = [d.version for d in importlib.metadata.distributions(name="pycep-parser", path=[str(pycep_dir)])]
    if versions != [PYCEP_VERSION]:
        raise ToolMissing(f"{pycep_dir} holds pycep-parser {versions}, expected {PYCEP_VERSION}")
    sys.path.insert(0, str(pycep_dir))
    pycep = importlib.import_module("pycep")
    if not Path(pycep.__file__ or "").resolve().is_relative_to(pycep_dir.resolve()):
        raise ToolMissing(f"imported pycep from {pycep.__file__}, not from {pycep_dir}")
    return pycep


def decorator_types(declaration: Mapping[str, Any]) -> set[str]:
    return {d.get("type", "") for d in declaration.get("decorators", []) if isinstance(d, dict)}


def check_module_calls(
    path: Path, tree: Mapping[str, Any], trees: Mapping[Path, Mapping[str, Any]], out: Report
) -> None:
    text = path.read_text()
    outputs_of: dict[str, set[str]] = {}
    for symbol, module in (tree.get("modules") or {}).items():
        detail = module.get("detail") or {}
        if module.get("type") != "local":
            out.fail(f"{path.name}: module {symbol} is not a local file ({detail}); registry modules cannot be checked")
            continue
        target = (path.parent / detail["path"]).resolve()
        target_tree = trees.get(target)
        if target_tree is None:
            out.fail(f"{path.name}: module {symbol} points at {detail['path']}, which does not exist or did not parse")
            continue
        declared: Mapping[str, Any] = target_tree.get("parameters") or {}
        config = module.get("config") or {}
        config = config.get("config", config)  # a conditional module nests its body one level down
        passed = set((config.get("params") or {}).keys())
        for name in sorted(passed - set(declared)):
            out.fail(f"{path.name}: module {symbol} passes {name}, which {detail['path']} does not declare")
        required = {name for name, p in declared.items() if p.get("default") is None}
        for name in sorted(required - passed):
            out.fail(f"{path.name}: module {symbol} does not pass {name}, which {detail['path']} requires")
        outputs_of[symbol] = set((target_tree.get("outputs") or {}).keys())
    for symbol, name in re.findall(r"\b(\w+)\.outputs\.(\w+)", text):
        if symbol in outputs_of and name not in outputs_of[symbol]:
            out.fail(f"{path.name}: {symbol}.outputs.{name} is not an output of module {symbol}")


def check_parameters_file(main: Path, tree: Mapping[str, Any], out: Report) -> None:
    parameters_file = main.with_suffix(".parameters.json")
    if not parameters_file.is_file():
        return
    try:
        names = set(json.loads(parameters_file.read_text())["parameters"])
    except (ValueError, KeyError) as exc:
        out.fail(f"{parameters_file.name}: not a deployment parameters file ({exc})")
        return
    for name in sorted(names - set(tree.get("parameters") or {})):
        out.fail(f"{parameters_file.name}: parameter {name} is not declared in {main.name}")


def parse_all(pycep: Any, infra: Path, out: Report) -> None:
    files = sorted(infra.rglob("*.bicep"))
    if not files:
        out.fail(f"no .bicep file under {infra}")
        return
    parser = pycep.BicepParser()
    trees: dict[Path, Mapping[str, Any]] = {}
    for path in files:
        try:
            trees[path.resolve()] = parser.parse(file_path=path)
        except Exception as exc:  # lark raises several exception types; any of them is a syntax error here
            first_lines = "\n      ".join(str(exc).strip().splitlines()[:6])
            out.fail(f"pycep {PYCEP_VERSION} cannot parse {path.relative_to(infra.parent)}: {first_lines}")
    print(f"  pycep-parser {PYCEP_VERSION}: parsed {len(trees)} of {len(files)} files")
    for path in files:
        tree = trees.get(path.resolve())
        if tree is None:
            continue
        for name, param in (tree.get("parameters") or {}).items():
            if "description" not in decorator_types(param):
                out.fail(f"{path.name}: parameter {name} has no @description")
        check_module_calls(path, tree, trees, out)
    main = infra / "main.bicep"
    if main.resolve() in trees:
        check_parameters_file(main, trees[main.resolve()], out)
    else:
        out.fail(f"{main} is missing or did not parse")


# -- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--infra", type=Path, default=ROOT / "infra", help="folder with the Bicep (default: infra)")
    parser.add_argument("--checkov", help="checkov executable (default: .venv-infra/bin/checkov, then PATH)")
    parser.add_argument(
        "--pycep-dir",
        type=Path,
        default=ROOT / ".venv-infra" / "pycep",
        help=f"pip --target folder holding pycep-parser {PYCEP_VERSION} (default: .venv-infra/pycep)",
    )
    args = parser.parse_args(argv)
    infra: Path = args.infra.resolve()
    out = Report()
    try:
        checkov = find_checkov(args.checkov)
        pycep = load_pycep(args.pycep_dir)
    except ToolMissing as exc:
        print(f"infra-check: {exc}", file=sys.stderr)
        return 2

    started = time.monotonic()
    print(f"[1/2] checkov on {infra}")
    try:
        check_checkov_report(run_checkov(checkov, infra), infra, out)
        check_skips_are_needed(checkov, infra, out)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        out.fail(f"checkov did not produce a report: {exc}")
    print(f"      ({time.monotonic() - started:.1f} s)")

    started = time.monotonic()
    print(f"[2/2] full Bicep parse (pycep-parser {PYCEP_VERSION}) and cross-file checks")
    parse_all(pycep, infra, out)
    print(f"      ({time.monotonic() - started:.1f} s)")

    if out.problems:
        print(f"infra-check: {len(out.problems)} problem(s)", file=sys.stderr)
        return 1
    print("infra-check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
