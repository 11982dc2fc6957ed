"""The command line's answers to a broken environment and to bad names: one line, the right exit status.

The storage tests run ``python -m shared`` as a subprocess against a real Azurite, with one endpoint moved to a
port where nothing listens, or with a wrong account key.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.azurite import ACCOUNT_KEY
from shared import cli
from shared.notify.poison import ALL_QUEUES
from shared.settings import VENDOR_NAMES

ROOT = Path(__file__).resolve().parents[1]
WRONG_KEY = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IHdyb25nIGtleQ=="


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def endpoints(connection_string: str) -> dict[str, str]:
    parts = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    return {kind: parts[f"{kind.capitalize()}Endpoint"] for kind in ("blob", "queue", "table")}


def with_endpoint(connection_string: str, kind: str, url: str) -> str:
    old = endpoints(connection_string)[kind]
    return connection_string.replace(f"{kind.capitalize()}Endpoint={old}", f"{kind.capitalize()}Endpoint={url}")


def run_cli(storage: str, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobs", "KEY_VAULT", "AZURE_"))}
    env.update(AzureWebJobsStorage=storage, LOCAL_SECRETS_DIR=str(tmp_path / "secrets"), ENABLED_VENDORS="")
    for vendor in VENDOR_NAMES:
        env.pop(f"{vendor.upper()}_CLIENT_ID", None)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "shared", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    return proc, time.monotonic() - started


@pytest.mark.parametrize("kind", ["table", "blob", "queue"])
def test_a_dead_storage_endpoint_is_one_line_naming_it_and_the_setting_within_seconds(
    azurite: str, tmp_path: Path, kind: str
) -> None:
    dead = f"http://127.0.0.1:{dead_port()}/devstoreaccount1"
    proc, seconds = run_cli(with_endpoint(azurite, kind, dead), tmp_path, "status")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"storage unavailable at {dead} (setting AzureWebJobsStorage): "), lines[0]
    assert "connection refused" in lines[0]
    assert seconds < 15, f"a dead endpoint took {seconds:.1f} s to report (the SDK's default retries take minutes)"


def test_a_wrong_account_key_is_one_line_naming_the_endpoint_and_the_setting(azurite: str, tmp_path: Path) -> None:
    assert ACCOUNT_KEY in azurite
    proc, _ = run_cli(azurite.replace(ACCOUNT_KEY, WRONG_KEY), tmp_path, "status")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    table = endpoints(azurite)["table"]
    assert lines[0].startswith(f"storage rejected the credentials at {table} (setting AzureWebJobsStorage): "), lines
    assert "HTTP 403" in lines[0]
    assert WRONG_KEY not in proc.stderr + proc.stdout and ACCOUNT_KEY not in proc.stderr + proc.stdout


def test_status_answers_normally_when_storage_answers(azurite: str, app_env: dict[str, str], tmp_path: Path) -> None:
    # app_env starts from an empty storage account, whatever ran before
    proc, _ = run_cli(azurite, tmp_path, "status")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "no connections"


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--vendor", "nope"],
        ["rotate", "--vendor", "nope"],
        ["connect", "--vendor", "nope", "--user", "alice"],
        ["disconnect", "--vendor", "nope", "--user", "alice"],
        ["pull", "--vendor", "nope"],
        ["backfill", "--vendor", "nope", "--user", "alice", "--start", "2025-01-01", "--end", "2025-01-02"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_unknown_vendor_is_an_error_naming_the_known_vendors(
    ctx: object, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown vendor 'nope'" in err
    assert ", ".join(VENDOR_NAMES) in err


def test_an_unknown_queue_is_an_error_naming_the_known_queues(ctx: object, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["replay-poison", "--queue", "nope"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown queue 'nope'" in err
    assert ", ".join(ALL_QUEUES) in err


def test_naming_the_poison_queue_points_at_its_main_queue(ctx: object, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["replay-poison", "--queue", "notify-jobs-poison"])
    assert exit_.value.code == 2
    assert "--queue notify-jobs" in capsys.readouterr().err


def test_replay_poison_of_a_known_queue_runs(ctx: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay-poison", "--queue", "notify-jobs"]) == 0
    assert "notify-jobs: 0 moved back" in capsys.readouterr().out
