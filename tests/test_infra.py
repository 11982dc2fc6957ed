"""The infrastructure (infra/*.bicep, azure.yaml) provides what the code needs, read as text.

These run in the app's virtual environment, without checkov or a Bicep parser: the Bicep is scanned with a small
comment- and string-aware block reader. ``make infra-check`` adds checkov and a full parse on top.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from shared import layout, storage
from shared import resources as app_resources
from shared.oauth_state import OAuthStateStore
from shared.registry import ConnectionRegistry
from shared.settings import SETTING_NAMES, SETTINGS, VENDOR_NAMES, VENDOR_URL_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

ROLE_IDS = {
    "storageBlobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storageQueueDataContributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
STORAGE_ROLES = {"storageBlobDataOwner", "storageQueueDataContributor", "storageTableDataContributor"}


# -- a small Bicep reader -----------------------------------------------------------------------------------------


CODE, STRING, COMMENT = "c", "s", "#"


def _kinds(text: str) -> list[str]:
    """For each character: CODE, STRING (inside a '...' literal) or COMMENT (// or /* */)."""
    kinds = [CODE] * len(text)
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i) or text.startswith("/*", i):
            line_comment = text.startswith("//", i)
            end = text.find("\n" if line_comment else "*/", i + 2)
            end = n if end == -1 else (end if line_comment else end + 2)
            kinds[i:end] = [COMMENT] * (end - i)
            i = end
        elif text[i] == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            end = min(j + 1, n)
            kinds[i:end] = [STRING] * (end - i)
            i = end
        else:
            i += 1
    return kinds


def _code_mask(text: str) -> list[bool]:
    """For each character: True when it is code, False inside a comment or a string literal."""
    return [kind == CODE for kind in _kinds(text)]


def strip_comments(text: str) -> str:
    kinds = _kinds(text)
    kept = "".join(ch for ch, kind in zip(text, kinds, strict=True) if kind != COMMENT)
    return "\n".join(line.rstrip() for line in kept.splitlines())


def _block_end(text: str, mask: list[bool], open_at: int) -> int:
    """Index just past the brace matching the one at ``open_at`` (braces in comments and strings ignored)."""
    depth = 0
    for i in range(open_at, len(text)):
        if not mask[i]:
            continue
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise AssertionError(f"unbalanced braces from offset {open_at}")


@dataclass(frozen=True)
class Resource:
    file: Path
    symbol: str
    type: str
    header: str  # from `resource` to the opening brace: holds `existing`, `if (...)`, `[for ...`
    body: str  # the block without comments
    start: int
    end: int

    def prop(self, name: str) -> list[str]:
        """Every value written as ``name: value`` in the block (any depth), without comments."""
        return [m.group(1).strip() for m in re.finditer(rf"^\s*{re.escape(name)}:\s*(.+)$", self.body, re.M)]


RESOURCE_HEADER = re.compile(r"^resource\s+(\w+)\s+'([^'@]+)@[^']+'\s*(existing)?\s*=\s*([^{]*)\{", re.M)


@cache
def resources_in(path: Path) -> tuple[Resource, ...]:
    text = path.read_text()
    mask = _code_mask(text)
    found = []
    for match in RESOURCE_HEADER.finditer(text):
        if not mask[match.start()]:
            continue
        open_at = match.end() - 1
        end = _block_end(text, mask, open_at)
        found.append(
            Resource(
                file=path,
                symbol=match.group(1),
                type=match.group(2),
                header=match.group(0) + (" existing" if match.group(3) else ""),
                body=strip_comments(text[open_at:end]),
                start=match.start(),
                end=end,
            )
        )
    return tuple(found)


def resources(type_: str, *, existing: bool = False) -> list[Resource]:
    return [
        r
        for path in BICEP_FILES
        for r in resources_in(path)
        if r.type == type_ and ("existing" in r.header) == existing
    ]


def only(type_: str) -> Resource:
    found = resources(type_)
    assert len(found) == 1, f"expected one {type_}, found {[r.symbol for r in found]}"
    return found[0]


def variable_block(path: Path, name: str) -> str:
    text = path.read_text()
    match = re.search(rf"^var\s+{name}\s*=\s*([\[{{])", text, re.M)
    assert match, f"var {name} not found in {path.name}"
    mask = _code_mask(text)
    opener, closer = match.group(1), "]" if match.group(1) == "[" else "}"
    depth = 0
    for i in range(match.start(1), len(text)):
        if mask[i] and text[i] == opener:
            depth += 1
        elif mask[i] and text[i] == closer:
            depth -= 1
            if depth == 0:
                return strip_comments(text[match.start(1) : i + 1])
    raise AssertionError(f"unbalanced var {name} in {path.name}")


def string_array(path: Path, name: str) -> list[str]:
    block = variable_block(path, name)
    return [line.strip() for line in block.strip("[]").splitlines() if line.strip()]


@cache
def app_settings() -> dict[str, str]:
    """The `appSettings` variable of infra/app/api.bicep: setting name -> Bicep expression."""
    block = variable_block(INFRA / "app" / "api.bicep", "appSettings")
    settings: dict[str, str] = {}
    for line in block.strip("{}").splitlines():
        if not line.strip():
            continue
        match = re.match(r"^\s*'?([A-Za-z_][\w]*)'?\s*:\s*(.+)$", line)
        assert match, f"unexpected line in appSettings: {line!r}"
        assert match.group(1) not in settings, f"{match.group(1)} set twice"
        settings[match.group(1)] = match.group(2).strip()
    return settings


def literal(expression: str) -> str | None:
    """The value of a plain single-quoted Bicep string without interpolation, else None."""
    match = re.fullmatch(r"'((?:[^'\\$]|\\.|\$(?!\{))*)'", expression)
    return match.group(1) if match else None


def params_of(path: Path) -> set[str]:
    return set(re.findall(r"^param\s+(\w+)\s", path.read_text(), re.M))


def skip_comments() -> Iterator[tuple[Path, int, str]]:
    for path in BICEP_FILES:
        for match in re.finditer(r"//\s*checkov:skip=([^\n]*)", path.read_text()):
            yield path, match.start(), match.group(1)


# -- app settings -------------------------------------------------------------------------------------------------


def test_every_setting_the_code_reads_is_an_app_setting() -> None:
    missing = sorted(SETTING_NAMES - {"AzureWebJobsStorage"} - set(app_settings()))
    assert not missing, f"settings in shared/settings.py with no app setting in infra/app/api.bicep: {missing}"


def test_azure_webjobs_storage_is_identity_based() -> None:
    settings = app_settings()
    assert "AzureWebJobsStorage" not in settings, "no connection string: the account has shared keys disabled"
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert literal(settings["AzureWebJobsStorage__credential"]) == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"


def test_every_setting_is_in_the_local_sample() -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    missing = sorted(SETTING_NAMES - set(values))
    assert not missing, f"settings missing from local.settings.sample.json: {missing}"


def test_app_setting_defaults_match_the_code() -> None:
    settings = app_settings()
    for setting in SETTINGS:
        if not setting.default or setting.name == "PUBLIC_BASE_URL":
            continue
        assert literal(settings[setting.name]) == setting.default, (
            f"{setting.name}: infra sets {settings[setting.name]}, the code's default is {setting.default!r}"
        )
    assert set(VENDOR_URL_DEFAULTS) == set(VENDOR_NAMES)


def test_azure_specific_settings() -> None:
    settings = app_settings()
    assert settings["KEY_VAULT_URL"] == "keyVaultUri"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert literal(settings["LOCAL_SECRETS_DIR"]) == "", "Key Vault is the token store in Azure"
    assert "defaultHostName" in variable_block(INFRA / "app" / "api.bicep", "appSettings") or re.search(
        r"defaultPublicBaseUrl\s*=\s*'https://\$\{functionApp\.properties\.defaultHostName\}'",
        (INFRA / "app" / "api.bicep").read_text(),
    )
    assert "publicBaseUrl" in settings["PUBLIC_BASE_URL"]


def bicep_name(vendor: str) -> str:
    """A vendor's name in Bicep identifiers: camel case ("google_health" -> "googleHealth")."""
    first, *rest = vendor.split("_")
    return first + "".join(part.capitalize() for part in rest)


def test_client_ids_are_parameters_and_secrets_are_key_vault_references() -> None:
    settings = app_settings()
    main_params = params_of(INFRA / "main.bicep")
    for vendor in VENDOR_NAMES:
        prefix = vendor.upper()
        assert settings[f"{prefix}_CLIENT_ID"] == f"{bicep_name(vendor)}ClientId"
        assert f"{bicep_name(vendor)}ClientId" in main_params
        secret = settings[f"{prefix}_CLIENT_SECRET"]
        assert f"'@Microsoft.KeyVault(SecretUri=${{keyVaultUri}}secrets/${{clientSecretNames.{prefix}}})'" in secret
    block = variable_block(INFRA / "app" / "api.bicep", "appSettings")
    assert not re.search(r"\b\w+ClientSecret\b", block), "a client secret value must never be an app setting"
    assert not re.search(r"\bparam \w+ClientSecret\b", (INFRA / "app" / "api.bicep").read_text())


def test_telemetry_settings() -> None:
    settings = app_settings()
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "applicationInsightsConnectionString"
    assert literal(settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"]) == "true"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "'ClientId=${identityClientId};Authorization=AAD'"


def test_no_settings_that_flex_consumption_rejects() -> None:
    # runtime and deployment come from functionAppConfig; these app settings are rejected or meaningless on Flex
    rejected = {
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTSHARE",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "ENABLE_ORYX_BUILD",
    }
    assert not rejected & set(app_settings())


def test_app_settings_are_applied_from_the_one_variable() -> None:
    (config,) = [r for r in resources("Microsoft.Web/sites/config") if r.prop("name") == ["'appsettings'"]]
    assert config.prop("properties") == ["union(appSettings, appSettingOverrides)"]
    assert "appSettings" not in only("Microsoft.Web/sites").body, "settings are built in one place"


# -- identity, roles ----------------------------------------------------------------------------------------------


def test_role_definitions() -> None:
    roles = variable_block(INFRA / "app" / "rbac.bicep", "roles")
    for key, guid in ROLE_IDS.items():
        assert re.search(rf"^\s*{key}:\s*'{guid}'\s*$", roles, re.M), f"{key} is not {guid}"


def _assignments() -> set[tuple[str, str, str, bool]]:
    """(principal, scope, role key, conditional) for every role assignment."""
    storage_roles = {
        line.removeprefix("roles.") for line in string_array(INFRA / "app" / "rbac.bicep", "storageRoleIds")
    }
    found = set()
    for r in resources("Microsoft.Authorization/roleAssignments"):
        (principal,) = r.prop("principalId")
        (scope,) = r.prop("scope")
        (definition,) = r.prop("roleDefinitionId")
        conditional = "!empty(principalId)" in r.header.replace(" ", "") or "empty(principalId)?[]" in r.header.replace(
            " ", ""
        )
        direct = re.search(r"roles\.(\w+)\)", definition)
        custom = re.fullmatch(r"(\w+)\.id", definition)
        if direct:
            found.add((principal, scope, direct.group(1), conditional))
        elif custom:
            found.add((principal, scope, custom.group(1), conditional))
        else:
            assert "for roleId in" in r.header and "storageRoleIds" in r.header, r.header
            found |= {(principal, scope, key, conditional) for key in storage_roles}
    return found


def test_managed_identity_roles() -> None:
    app = {(scope, role) for principal, scope, role, _ in _assignments() if principal == "identityPrincipalId"}
    assert app == {
        ("vault", "vaultSecretsCustodian"),
        ("applicationInsights", "monitoringMetricsPublisher"),
        *(("storage", role) for role in STORAGE_ROLES),
    }
    for r in resources("Microsoft.Authorization/roleAssignments"):
        if r.prop("principalId") == ["identityPrincipalId"]:
            assert r.prop("principalType") == ["'ServicePrincipal'"]
    existing = {r.symbol: r.type for path in BICEP_FILES for r in resources_in(path) if "existing" in r.header}
    assert existing == {
        "vault": "Microsoft.KeyVault/vaults",
        "storage": "Microsoft.Storage/storageAccounts",
        "applicationInsights": "Microsoft.Insights/components",
    }


def test_deployer_gets_data_roles_only_when_given() -> None:
    deployer = {(scope, role, cond) for principal, scope, role, cond in _assignments() if principal == "principalId"}
    assert deployer == {("vault", "vaultSecretsCustodian", True), *(("storage", r, True) for r in STORAGE_ROLES)}


# Each SecretClient method the store calls -> the Key Vault data actions it needs. A method missing here fails
# the test below: look its action up (Azure resource provider operations, Microsoft.KeyVault) and add it.
VAULT = "Microsoft.KeyVault/vaults/secrets/"
SDK_DATA_ACTIONS = {
    "get_secret": {VAULT + "getSecret/action"},
    "set_secret": {VAULT + "setSecret/action"},
    "update_secret_properties": {VAULT + "update/action"},
    "list_properties_of_secrets": {VAULT + "readMetadata/action"},
    "list_properties_of_secret_versions": {VAULT + "readMetadata/action"},
    # the poller waits for the recovered secret with get_secret (azure-keyvault-secrets _client.py)
    "begin_recover_deleted_secret": {VAULT + "recover/action", VAULT + "getSecret/action"},
}
DESTRUCTIVE = ("delete", "purge", "*")


def _custom_vault_role() -> Resource:
    (role,) = resources("Microsoft.Authorization/roleDefinitions")
    assert role.file.name == "rbac.bicep" and role.symbol == "vaultSecretsCustodian"
    return role


def _vault_data_actions() -> list[str]:
    return [literal(x) or x for x in string_array(INFRA / "app" / "rbac.bicep", "vaultSecretDataActions")]


def _store_sdk_calls() -> set[str]:
    """Every ``self.client.<method>(`` the Key Vault store makes (the only code holding a SecretClient)."""
    tree = ast.parse((ROOT / "shared" / "vault" / "keyvault_store.py").read_text())
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "client":
                calls.add(node.func.attr)
    return calls


def test_the_apps_vault_role_cannot_delete_or_purge_a_secret() -> None:
    role = _custom_vault_role()
    assert role.prop("type") == ["'CustomRole'"]
    assert role.prop("actions") == ["[]"], "no control-plane actions"
    assert role.prop("dataActions") == ["vaultSecretDataActions"]
    assert role.prop("notDataActions") == ["[]"]
    actions = _vault_data_actions()
    assert actions and all(a.startswith(VAULT) for a in actions), actions
    forbidden = [a for a in actions if any(word in a.lower().removeprefix(VAULT.lower()) for word in DESTRUCTIVE)]
    assert not forbidden, f"the app's vault role must not delete or purge: {forbidden}"
    assert "resourceGroup().id" in role.body and "subscription().id" not in role.body
    assert "keyVaultSecretsOfficer" not in (INFRA / "app" / "rbac.bicep").read_text()
    assert "b86a8fe4-44ce-4948-aee5-eccb2c155cd7" not in "".join(p.read_text() for p in BICEP_FILES)


def test_the_apps_vault_role_covers_every_call_the_store_makes() -> None:
    calls = _store_sdk_calls()
    assert {"get_secret", "set_secret"} <= calls, calls  # the scan sees the store's calls
    unknown = sorted(calls - set(SDK_DATA_ACTIONS))
    assert not unknown, f"keyvault_store.py calls {unknown}: map each to its Key Vault data actions above"
    needed = set().union(*(SDK_DATA_ACTIONS[c] for c in calls))
    needed.add(VAULT + "getSecret/action")  # the app settings' Key Vault references to the client secrets
    granted = set(_vault_data_actions())
    assert needed <= granted, f"missing data actions: {sorted(needed - granted)}"
    assert granted <= needed, f"granted but never used: {sorted(granted - needed)}"


def test_one_user_assigned_identity_used_everywhere() -> None:
    assert len(resources("Microsoft.ManagedIdentity/userAssignedIdentities")) == 1
    site = only("Microsoft.Web/sites")
    assert site.prop("type")[0] == "'UserAssigned'"
    assert site.prop("keyVaultReferenceIdentity") == ["identityId"]
    assert site.prop("userAssignedIdentityResourceId") == ["identityId"]
    assert "'${identityId}': {}" in site.body


# -- Key Vault ----------------------------------------------------------------------------------------------------


def test_key_vault_rbac_soft_delete_purge_protection() -> None:
    vault = only("Microsoft.KeyVault/vaults")
    assert vault.prop("enableRbacAuthorization") == ["true"]
    assert vault.prop("enableSoftDelete") == ["true"]
    assert vault.prop("enablePurgeProtection") == ["true"]
    assert vault.prop("softDeleteRetentionInDays") == ["90"]
    assert not vault.prop("accessPolicies"), "RBAC only"


def test_client_secrets_are_created_only_when_given() -> None:
    secrets = {r.symbol: r for r in resources("Microsoft.KeyVault/vaults/secrets")}
    assert set(secrets) == {f"{bicep_name(v)}Secret" for v in VENDOR_NAMES}
    keyvault = (INFRA / "app" / "keyvault.bicep").read_text()
    names = variable_block(INFRA / "main.bicep", "clientSecretNames")  # what the app settings reference
    for name in VENDOR_NAMES:
        vendor, secret_name = bicep_name(name), name.replace("_", "-")  # Key Vault names: 0-9a-zA-Z- only
        assert f"{name.upper()}: empty({vendor}ClientSecret) ? '' : '{secret_name}-client-secret'" in names
        secret = secrets[f"{vendor}Secret"]
        assert f"if (!empty({vendor}ClientSecret))" in secret.header
        assert secret.prop("name") == [f"'{secret_name}-client-secret'"]
        assert secret.prop("value") == [f"{vendor}ClientSecret"]
        assert secret.prop("contentType"), "contentType set"
        assert secret.prop("exp"), "expiry set"
        assert re.search(
            rf"@secure\(\)\s*\n@description\([^\n]*\)\s*\nparam {vendor}ClientSecret string = ''", keyvault
        )
        assert re.search(
            rf"@secure\(\)\s*\n@description\([^\n]*\)\s*\nparam {vendor}ClientSecret string = ''",
            (INFRA / "main.bicep").read_text(),
        )


# -- storage ------------------------------------------------------------------------------------------------------


def test_storage_account_is_identity_only_and_private() -> None:
    account = only("Microsoft.Storage/storageAccounts")
    assert account.prop("allowSharedKeyAccess") == ["false"]
    assert account.prop("minimumTlsVersion") == ["'TLS1_2'"]
    assert account.prop("allowBlobPublicAccess") == ["false"]
    assert account.prop("supportsHttpsTrafficOnly") == ["true"]
    blob = only("Microsoft.Storage/storageAccounts/blobServices")
    assert blob.prop("isVersioningEnabled") == ["true"]
    assert blob.prop("enabled") == ["true", "true"], "blob and container soft delete"


def test_the_readme_states_the_retention_the_storage_account_has() -> None:
    """The README says when purged data becomes unrecoverable: its figures are the Bicep's defaults."""
    bicep = (INFRA / "app" / "storage.bicep").read_text()
    soft_delete = re.search(r"^param softDeleteDays int = (\d+)$", bicep, re.M)
    versions = re.search(r"^param previousVersionDays int = (\d+)$", bicep, re.M)
    assert soft_delete and versions
    assert "softDeleteDays" not in (INFRA / "main.bicep").read_text(), "main.bicep keeps the module's default"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"**{soft_delete.group(1)} days** (`softDeleteDays`" in readme
    assert f"more than {versions.group(1)} days old" in readme and "(`previousVersionDays`" in readme
    vault = only("Microsoft.KeyVault/vaults")
    assert f"soft-deleted for **{vault.prop('softDeleteRetentionInDays')[0]} days**" in readme


def test_queue_container_and_table_names_match_the_code() -> None:
    path = INFRA / "app" / "storage.bicep"
    containers = {literal(x) for x in string_array(path, "containerNames")}
    queues = {literal(x) for x in string_array(path, "queueNames")}
    tables = {literal(x) for x in string_array(path, "tableNames")}
    assert {storage.LOCKS_CONTAINER, *layout.DATA_CONTAINERS} <= containers
    assert "deploymentContainerName" in string_array(path, "containerNames")
    assert queues == {*app_resources.WORK_QUEUES, *app_resources.POISON_QUEUES}
    registry = inspect.signature(ConnectionRegistry.__init__).parameters
    states = inspect.signature(OAuthStateStore.__init__).parameters
    named_in_code = {registry["table_name"].default, registry["lookup_table_name"].default}
    assert {*named_in_code, states["table_name"].default} <= set(app_resources.TABLES)
    assert tables == set(app_resources.TABLES), tables ^ set(app_resources.TABLES)
    for type_, loop in (
        ("Microsoft.Storage/storageAccounts/blobServices/containers", "for containerName in containerNames"),
        ("Microsoft.Storage/storageAccounts/queueServices/queues", "for queueName in queueNames"),
        ("Microsoft.Storage/storageAccounts/tableServices/tables", "for tableName in tableNames"),
    ):
        (r,) = resources(type_)
        assert loop in r.header, f"{type_} is not created from its name list"


# -- the function app ---------------------------------------------------------------------------------------------


def test_flex_consumption_python_313() -> None:
    plan = only("Microsoft.Web/serverfarms")
    assert plan.prop("name")[-1] == "'FC1'" and plan.prop("tier") == ["'FlexConsumption'"]
    site = only("Microsoft.Web/sites")
    assert site.prop("kind") == ["'functionapp,linux'"]
    runtime = re.search(r"runtime:\s*\{\s*name:\s*'python'\s*version:\s*'3\.13'\s*\}", site.body)
    assert runtime, "functionAppConfig.runtime must be python 3.13"
    assert site.prop("instanceMemoryMB") == ["instanceMemoryMB"]
    assert site.prop("maximumInstanceCount") == ["maximumInstanceCount"]
    api = (INFRA / "app" / "api.bicep").read_text()
    assert "param instanceMemoryMB int = 2048" in api
    assert "param maximumInstanceCount int = 40" in api
    assert site.prop("type")[1:] == ["'blobContainer'", "'UserAssignedIdentity'"]


def test_function_app_hardening() -> None:
    site = only("Microsoft.Web/sites")
    expected = {
        "httpsOnly": "true",
        "ftpsState": "'Disabled'",
        "minTlsVersion": "'1.2'",
        "http20Enabled": "true",
        "healthCheckPath": "'/api/health'",
        "clientCertMode": "'OptionalInteractiveUser'",
    }
    for name, value in expected.items():
        assert site.prop(name) == [value], name
    policies = {
        r.prop("name")[0]: r.prop("allow") for r in resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    }
    assert policies == {"'ftp'": ["false"], "'scm'": ["false"]}


def test_monitoring_is_entra_only_and_in_its_own_module() -> None:
    insights = only("Microsoft.Insights/components")
    assert insights.file.name == "monitoring.bicep"
    assert insights.prop("DisableLocalAuth") == ["true"]
    assert insights.prop("WorkspaceResourceId") == ["logAnalytics.id"]
    assert only("Microsoft.OperationalInsights/workspaces").file.name == "monitoring.bicep"


# -- main.bicep, azd ----------------------------------------------------------------------------------------------


def test_main_follows_azd_conventions() -> None:
    main = strip_comments((INFRA / "main.bicep").read_text())
    assert re.search(r"^targetScope = 'subscription'$", main, re.M)
    assert "resourceToken = toLower(uniqueString(subscription().id, environmentName, location))" in main
    assert re.search(r"@metadata\(\{\s*azd:\s*\{\s*type:\s*'location'\s*\}\s*\}\)\s*param location string", main)
    assert "'azd-env-name': environmentName" in main
    assert "'azd-service-name': 'api'" in only("Microsoft.Web/sites").body
    outputs = set(re.findall(r"^output\s+(\w+)\s", main, re.M))
    assert {"AZURE_FUNCTION_APP_NAME", "AZURE_KEY_VAULT_URL", "AZURE_STORAGE_ACCOUNT_NAME"} <= outputs
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in outputs), outputs


def test_no_deployer_function_and_no_registry_modules() -> None:
    for path in BICEP_FILES:
        code = strip_comments(path.read_text())
        assert "deployer()" not in code, f"{path.name}: checkov's pycep-parser 0.5.1 cannot parse deployer()"
        assert not re.search(r"module\s+\w+\s+'(br|ts)[:/]", code), f"{path.name}: registry modules cannot be checked"


def test_every_parameter_has_a_description() -> None:
    for path in BICEP_FILES:
        chunk: list[str] = []
        for line in path.read_text().splitlines():
            if line.startswith("param "):
                assert any("@description(" in c for c in chunk), f"{path.name}: {line} has no @description"
                chunk = []
            elif not line.strip():
                chunk = []
            else:
                chunk.append(line)


def test_parameters_file_maps_azd_environment() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(parameters) <= params_of(INFRA / "main.bicep")
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def _yaml_mapping(text: str, *path: str) -> dict[str, str]:
    """Scalar children of a nested block mapping in a simple YAML file (enough for azure.yaml)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    indent, start = -1, 0
    for key in path:
        for i in range(start, len(lines)):
            stripped = lines[i].lstrip()
            level = len(lines[i]) - len(stripped)
            if level <= indent:
                break
            if stripped.split(":", 1)[0] == key and stripped.rstrip().endswith(":"):
                indent, start = level, i + 1
                break
        else:
            raise AssertionError(f"{'.'.join(path)} not found")
    children: dict[str, str] = {}
    child_indent = None
    for line in lines[start:]:
        stripped = line.lstrip()
        level = len(line) - len(stripped)
        if level <= indent:
            break
        child_indent = level if child_indent is None else child_indent
        if level == child_indent and ":" in stripped:
            key, value = stripped.split(":", 1)
            children[key.strip()] = value.strip().strip("'\"")
    return children


def test_azure_yaml_deploys_this_folder_as_the_function_app() -> None:
    text = (ROOT / "azure.yaml").read_text()
    api = _yaml_mapping(text, "services", "api")
    assert api == {"project": ".", "language": "python", "host": "function"}
    infra = _yaml_mapping(text, "infra")
    assert infra.get("provider", "bicep") == "bicep" and infra.get("path", "infra") == "infra"


# -- checkov skips ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_checkov_skips_sit_inside_a_resource_and_give_a_reason(path: Path) -> None:
    spans = [(r.start, r.end) for r in resources_in(path)]
    for file, offset, skip in skip_comments():
        if file != path:
            continue
        check_id, _, reason = skip.partition(":")
        assert re.fullmatch(r"CKV2?_AZURE_\d+", check_id.strip()), skip
        assert len(reason.strip()) >= 20, f"{path.name}: {check_id} needs a real reason"
        assert any(start < offset < end for start, end in spans), (
            f"{path.name}: checkov:skip={check_id} must be inside the resource block (checkov ignores it above)"
        )
