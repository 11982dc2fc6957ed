"""The real ``SecretClient`` + ``DefaultAzureCredential`` against the loopback Key Vault and identity fakes.

No test-only client options: default ``verify_challenge_resource=True`` and ``connection_verify``; only
the environment differs (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` and ``REQUESTS_CA_BUNDLE``), exactly as
production code would see it on App Service plus a private CA.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from pytest import MonkeyPatch

from sandbox.identity import IdentityEndpoint
from sandbox.keyvault import KeyVaultServer

# Variables that would make DefaultAzureCredential pick something other than App Service managed identity.
FOREIGN_CREDENTIAL_ENV = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "IDENTITY_SERVER_THUMBPRINT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_REGIONAL_AUTHORITY_NAME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)


@pytest.fixture
def identity() -> Iterator[IdentityEndpoint]:
    with IdentityEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def vault(identity: IdentityEndpoint, tmp_path: Path) -> Iterator[KeyVaultServer]:
    with KeyVaultServer(identity=identity, certdir=tmp_path / "tls") as server:
        yield server


@pytest.fixture
def client(vault: KeyVaultServer, identity: IdentityEndpoint, monkeypatch: MonkeyPatch) -> SecretClient:
    """What production code builds, with the environment App Service (plus our CA) would give it."""
    for name in FOREIGN_CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in identity.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(vault.cafile))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return SecretClient(vault.url, DefaultAzureCredential())


def _mi_header(identity: IdentityEndpoint) -> dict[str, str]:
    return {"X-IDENTITY-HEADER": identity.header}


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _error_codes(exc: HttpResponseError) -> tuple[str | None, str | None]:
    """(code, innererror code) from a Key Vault error body."""
    assert exc.response is not None
    error: dict[str, Any] = json.loads(exc.response.text())["error"]
    return error.get("code"), (error.get("innererror") or {}).get("code")


def test_set_get_versions_via_challenge_and_managed_identity(
    client: SecretClient, vault: KeyVaultServer, identity: IdentityEndpoint
) -> None:
    first = client.set_secret("Foo-Bar", "v1", content_type="application/json", tags={"kind": "refresh"})
    second = client.set_secret("foo-bar", "v2")

    assert len(first.properties.version or "") == 32 and first.properties.version != second.properties.version
    assert first.properties.tags == {"kind": "refresh"}
    latest = client.get_secret("FOO-BAR")
    assert (latest.value, latest.name) == ("v2", "Foo-Bar")
    assert client.get_secret("foo-bar", first.properties.version).value == "v1"
    listed = list(client.list_properties_of_secret_versions("foo-bar"))
    assert sorted(p.version or "" for p in listed) == sorted(
        [first.properties.version or "", second.properties.version or ""]
    )
    assert vault.current("FOO-bar") == "v2" and [v.value for v in vault.versions("foo-bar")] == ["v1", "v2"]
    assert vault.values() == ["v1", "v2"] and vault.set_count == 2
    # The SDK's first request is a body-less challenge probe; the token came from the identity endpoint.
    assert vault.requests[0].status == 401 and vault.requests[1].status == 200
    assert {r.resource for r in identity.requests} == {vault.resource}
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("never-set")


def test_paging_follows_empty_pages_with_next_link(client: SecretClient, vault: KeyVaultServer) -> None:
    names = {f"page-{i}" for i in range(7)}
    for name in names:
        client.set_secret(name, "x")
    vault.empty_pages = True

    pager = client.list_properties_of_secrets(max_page_size=3)
    assert {p.name for p in pager} == names
    sizes = [len(list(page)) for page in client.list_properties_of_secrets(max_page_size=3).by_page()]
    assert sizes == [0, 3, 0, 3, 0, 1]

    for value in ("a", "b", "c", "d"):
        client.set_secret("paged-versions", value)
    assert len(list(client.list_properties_of_secret_versions("paged-versions", max_page_size=3))) == 4


def test_bad_name_is_400(client: SecretClient, vault: KeyVaultServer) -> None:
    with pytest.raises(HttpResponseError) as caught:
        client.set_secret("bad_name", "x")
    assert caught.value.status_code == 400 and _error_codes(caught.value)[0] == "BadParameter"
    assert vault.set_count == 0


def test_429_and_503_on_set_are_retried_transparently(client: SecretClient, vault: KeyVaultServer) -> None:
    name = _name()
    client.set_secret(name, "warm-up")  # challenge done; the faults below hit authenticated requests
    vault.inject("throttle", op="set")
    vault.inject("unavailable", op="set")

    started = time.monotonic()
    client.set_secret(name, "landed")

    assert time.monotonic() - started >= 1.9  # two Retry-After: 1 waits
    assert [r.status for r in vault.requests if r.method == "PUT"][-3:] == [429, 503, 200]
    assert vault.current(name) == "landed"


def test_forbidden_by_rbac_is_a_403_and_a_fault_can_target_one_secret(
    client: SecretClient, vault: KeyVaultServer
) -> None:
    """A role assignment not yet propagated: 403 Forbidden/ForbiddenByRbac, which the SDK does not retry; a fault
    with ``name`` hits only that secret's requests (a probe write elsewhere goes through)."""
    target, other = _name(), _name()
    client.set_secret(target, "warm-up")
    vault.inject("forbidden", op="set", name=target)
    client.set_secret(other, "untouched by the fault")
    with pytest.raises(HttpResponseError) as caught:
        client.set_secret(target, "refused")
    assert caught.value.status_code == 403 and _error_codes(caught.value) == ("Forbidden", "ForbiddenByRbac")
    assert vault.current(target) == "warm-up" and vault.current(other) == "untouched by the fault"
    vault.inject("unauthorized", times=2, op="set")
    with pytest.raises(ClientAuthenticationError):
        client.set_secret(target, "refused again")
    client.set_secret(target, "landed")
    assert vault.current(target) == "landed"


def test_write_limit_throttles_with_retry_after(client: SecretClient, vault: KeyVaultServer) -> None:
    vault.write_limit = (2, 1.0)
    for value in ("a", "b", "c"):
        client.set_secret("limited", value)
    assert [v.value for v in vault.versions("limited")] == ["a", "b", "c"]
    assert 429 in [r.status for r in vault.requests if r.method == "PUT"]


def test_soft_deleted_name_conflicts_until_recovered(client: SecretClient, vault: KeyVaultServer) -> None:
    name = _name()
    client.set_secret(name, "old")
    client.begin_delete_secret(name).wait()
    assert client.get_deleted_secret(name).name == name

    with pytest.raises(ResourceExistsError) as caught:
        client.set_secret(name, "new")
    assert caught.value.status_code == 409
    assert _error_codes(caught.value) == ("Conflict", "ObjectIsDeletedButRecoverable")

    vault.conflicts_after_recover = 1
    client.begin_recover_deleted_secret(name).wait()
    with pytest.raises(ResourceExistsError) as again:
        client.set_secret(name, "new")
    assert _error_codes(again.value) == ("Conflict", "ObjectIsBeingRecovered")
    client.set_secret(name, "new")
    assert vault.current(name) == "new" and [v.value for v in vault.versions(name)] == ["old", "new"]


def test_purge_frees_the_name(client: SecretClient, vault: KeyVaultServer) -> None:
    name = _name()
    client.set_secret(name, "old")
    client.begin_delete_secret(name).wait()
    client.purge_deleted_secret(name)
    client.set_secret(name, "fresh")
    assert [v.value for v in vault.versions(name)] == ["fresh"]


def test_disabled_version_get_is_403(client: SecretClient) -> None:
    name = _name()
    old = client.set_secret(name, "old")
    new = client.set_secret(name, "new")
    client.update_secret_properties(name, new.properties.version, enabled=False)

    with pytest.raises(HttpResponseError) as caught:
        client.get_secret(name)
    assert caught.value.status_code == 403
    assert _error_codes(caught.value) == ("Forbidden", "SecretDisabled")
    assert client.get_secret(name, old.properties.version).value == "old"


class _ForeignCredential:
    """A credential whose tokens the identity endpoint never issued."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("not-from-the-identity-endpoint", int(time.time()) + 3600)


def test_token_not_from_identity_endpoint_is_refused(vault: KeyVaultServer, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(vault.cafile))
    foreign = SecretClient(vault.url, _ForeignCredential())
    with pytest.raises(ClientAuthenticationError) as caught:
        foreign.set_secret("x", "y")
    assert caught.value.status_code == 401
    assert vault.set_count == 0


def test_identity_endpoint_checks_its_header(identity: IdentityEndpoint) -> None:
    params = {"api-version": "2019-08-01", "resource": "https://vault.azure.net"}
    assert requests.get(identity.endpoint, params=params, timeout=5).status_code == 400
    wrong = requests.get(identity.endpoint, params=params, headers={"X-IDENTITY-HEADER": "nope"}, timeout=5)
    assert wrong.status_code == 401
    good = requests.get(identity.endpoint, params=params, headers=_mi_header(identity), timeout=5)
    token = good.json()["access_token"]
    assert good.status_code == 200 and identity.valid(token, "https://vault.azure.net")
    assert not identity.valid(token, "https://storage.azure.com") and not identity.valid("forged")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))  # JWT-shaped, like Entra's
    assert claims["aud"] == "https://vault.azure.net" and claims["oid"] == identity.principal_id


def test_concurrent_writers_each_get_a_version(client: SecretClient, vault: KeyVaultServer) -> None:
    def write_five(writer: int) -> None:
        for j in range(5):
            client.set_secret("shared", f"{writer}-{j}")

    client.set_secret("shared", "0")
    writers = [threading.Thread(target=write_five, args=(i,)) for i in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(10)
    versions = vault.versions("shared")
    assert len(versions) == 21 == len({v.version for v in versions}) and vault.set_count == 21


def test_tls_is_verified(client: SecretClient, vault: KeyVaultServer, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    strict = SecretClient(vault.url, DefaultAzureCredential(), retry_total=0)
    with pytest.raises(ServiceRequestError):
        strict.set_secret("x", "y")


def _token_for(identity: IdentityEndpoint, resource: str) -> str:
    params = {"api-version": "2019-08-01", "resource": resource}
    reply = requests.get(identity.endpoint, params=params, headers=_mi_header(identity), timeout=5)
    token: str = reply.json()["access_token"]
    return token


def test_hang_holds_without_storing_until_released(client: SecretClient, vault: KeyVaultServer) -> None:
    name = _name()
    client.set_secret(name, "before")
    vault.inject("hang", op="set")
    writer = threading.Thread(target=client.set_secret, args=(name, "after"), daemon=True)
    writer.start()

    assert vault.hung.wait(5)
    assert vault.current(name) == "before" and vault.set_count == 1
    vault.release_hung()
    writer.join(5)
    assert vault.current(name) == "after" and not vault.hung.is_set()


def test_hang_then_disconnect_stores_nothing(vault: KeyVaultServer, identity: IdentityEndpoint) -> None:
    vault.inject("hang", op="set")
    token = _token_for(identity, vault.resource)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.put(
            f"{vault.url}secrets/held?api-version=7.6",
            json={"value": "lost"},
            timeout=0.5,
            headers={"Authorization": f"Bearer {token}"},
            verify=str(vault.cafile),
        )
    deadline = time.monotonic() + 5
    while vault.hung.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not vault.hung.is_set()
    assert vault.set_count == 0 and "lost" not in vault.values()
    assert vault.requests[-1].status == 499
