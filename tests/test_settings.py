"""Settings: one typed object, validated at start, errors naming the setting at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import SETTING_NAMES, SettingsError, load_settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "LOCAL_SECRETS_DIR": "/tmp/wearsync-secrets"}


def test_defaults_give_a_working_local_configuration() -> None:
    settings = load_settings(BASE)
    assert settings.rotate_schedule == "0 0 */6 * * *"
    assert settings.key_vault_url is None and settings.local_secrets_dir is not None
    assert settings.vendors == {}


def test_no_token_store_refuses_to_start_and_says_why() -> None:
    with pytest.raises(SettingsError, match=r"KEY_VAULT_URL.*LOCAL_SECRETS_DIR"):
        load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})


def test_key_vault_wins_over_the_local_store_and_must_be_https() -> None:
    settings = load_settings({**BASE, "KEY_VAULT_URL": "https://kv-wearsync.vault.azure.net/"})
    assert settings.key_vault_url and settings.local_secrets_dir is None
    with pytest.raises(SettingsError, match="KEY_VAULT_URL must be an https URL"):
        load_settings({**BASE, "KEY_VAULT_URL": "http://kv.example"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOCK_LEASE_SECONDS", "5", "LOCK_LEASE_SECONDS must be between 15 and 60"),
        ("REFRESH_MARGIN_SECONDS", "soon", "REFRESH_MARGIN_SECONDS must be a whole number"),
        ("ROTATE_SCHEDULE", "0 */6 * * *", "ROTATE_SCHEDULE must be a six-field NCRONTAB"),
        ("ENABLED_VENDORS", "whoop,polar", "ENABLED_VENDORS names unknown vendors"),
        ("AzureWebJobsStorage", "nonsense", "AzureWebJobsStorage must be"),
    ],
)
def test_malformed_settings_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({**BASE, name: value})


def test_an_enabled_vendor_needs_its_client_secret_and_valid_urls() -> None:
    with pytest.raises(SettingsError, match="FITBIT_CLIENT_SECRET is not set"):
        load_settings({**BASE, "FITBIT_CLIENT_ID": "abc"})
    with pytest.raises(SettingsError, match="WHOOP_CLIENT_ID is not set"):
        load_settings({**BASE, "ENABLED_VENDORS": "whoop"})
    with pytest.raises(SettingsError, match="WHOOP_TOKEN_URL must be"):
        load_settings({**BASE, "WHOOP_CLIENT_ID": "a", "WHOOP_CLIENT_SECRET": "b", "WHOOP_TOKEN_URL": "ftp://x"})
    settings = load_settings({**BASE, "WHOOP_CLIENT_ID": "a", "WHOOP_CLIENT_SECRET": "b"})
    assert list(settings.vendors) == ["whoop"]
    assert settings.vendor("whoop").url("TOKEN_URL") == "https://api.prod.whoop.com/oauth/oauth2/token"
    assert "b" not in repr(settings.vendor("whoop"))


def test_identity_based_storage_in_azure() -> None:
    settings = load_settings(
        {
            "LOCAL_SECRETS_DIR": "/tmp/x",
            "AzureWebJobsStorage__accountName": "stwearsync",
            "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000001",
        }
    )
    assert settings.storage.connection_string is None
    assert settings.storage.table_url == "https://stwearsync.table.core.windows.net"
    assert settings.storage.client_id == "00000000-0000-0000-0000-000000000001"
    with pytest.raises(SettingsError, match="AzureWebJobsStorage is not set"):
        load_settings({"LOCAL_SECRETS_DIR": "/tmp/x"})


def test_every_declared_setting_is_in_the_sample_settings() -> None:
    import json
    from pathlib import Path

    values = json.loads((Path(__file__).parents[1] / "local.settings.sample.json").read_text())["Values"]
    assert set(values) >= SETTING_NAMES, SETTING_NAMES - set(values)
    assert values["ROTATE_SCHEDULE"] == "0 0 */6 * * *"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"


def test_the_app_refuses_to_start_without_a_token_store_and_says_why(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("KEY_VAULT_URL", "LOCAL_SECRETS_DIR")}
    env["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"
    result = subprocess.run(
        [sys.executable, "-c", "import function_app"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "no token store configured: set KEY_VAULT_URL" in result.stderr
    env["LOCAL_SECRETS_DIR"] = str(tmp_path)
    ok = subprocess.run(
        [sys.executable, "-c", "import function_app"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr


def test_the_local_secret_store_is_readable_by_the_owner_only(tmp_path: Path) -> None:
    import stat

    from shared.vault.local_store import LocalFileStore

    store = LocalFileStore(tmp_path / "secrets")
    version = store.set("tok-whoop-abc", '{"refresh_token": "r"}', {"vendor": "whoop"})
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    files = list((tmp_path / "secrets").iterdir())
    assert [f.name for f in files] == ["tok-whoop-abc.json"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    stored = store.get("TOK-WHOOP-ABC")  # names are case-insensitive, as in Key Vault
    assert stored is not None and stored.version == version
    store.disable("tok-whoop-abc")
    assert store.get("tok-whoop-abc") is None
