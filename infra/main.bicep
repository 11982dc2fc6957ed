// wearsync infrastructure (azd): a Flex Consumption function app with a user-assigned managed identity,
// identity-only storage (no keys), Key Vault (RBAC, purge protection) and Entra-only Application Insights.
// Plain resources and local modules only (no registry modules), so it can be checked offline:
// `make infra-check` (checkov + a full Bicep syntax parse) and tests/test_infra.py.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; part of every resource name (via resourceToken) and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region for all resources. It must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deployer (azd fills AZURE_PRINCIPAL_ID). When set, it gets the same storage and Key Vault data roles as the app, for running `python -m shared` against Azure. Empty: no deployer roles.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal principalId is: User for a person, ServicePrincipal for a CI identity.')
param principalType string = 'User'

@description('Name of the resource group to create; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Name of the Key Vault; empty: kv-<resourceToken>. A vault name stays reserved for 90 days after deletion (soft delete + purge protection): pick a new one, or set keyVaultRecover.')
param keyVaultName string = ''

@description('Recover a soft-deleted vault of the same name (and the token pairs in it) instead of creating a new one.')
param keyVaultRecover bool = false

@description('Spread the function app over availability zones. The platform then keeps at least two always-ready instances (billed continuously) and the region must support zones; storage should then be ZRS.')
param zoneRedundant bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Replication of the storage account (connection registry, landed data, locks, queues). ZRS/GZRS need a region with availability zones.')
param storageSku string = 'Standard_LRS'

@description('WHOOP_CLIENT_ID: OAuth client id of the WHOOP app (empty: WHOOP disabled).')
param whoopClientId string = ''

@secure()
@description('OAuth client secret of the WHOOP app; stored in Key Vault as whoop-client-secret and referenced from WHOOP_CLIENT_SECRET. Empty: no secret is created.')
param whoopClientSecret string = ''

@description('FITBIT_CLIENT_ID: OAuth client id of the Fitbit app (empty: Fitbit disabled).')
param fitbitClientId string = ''

@secure()
@description('OAuth client secret of the Fitbit app; stored in Key Vault as fitbit-client-secret and referenced from FITBIT_CLIENT_SECRET. Empty: no secret is created.')
param fitbitClientSecret string = ''

@description('GOOGLE_HEALTH_CLIENT_ID: OAuth client id of the Google Health web client (empty: Google Health disabled).')
param googleHealthClientId string = ''

@secure()
@description('OAuth client secret of the Google Health web client; stored in Key Vault as google-health-client-secret and referenced from GOOGLE_HEALTH_CLIENT_SECRET. Empty: no secret is created.')
param googleHealthClientSecret string = ''

@description('CODOON_CLIENT_ID: OAuth client id of the Codoon app (empty: Codoon disabled).')
param codoonClientId string = ''

@secure()
@description('OAuth client secret of the Codoon app; stored in Key Vault as codoon-client-secret and referenced from CODOON_CLIENT_SECRET. Empty: no secret is created.')
param codoonClientSecret string = ''

@description('WITHINGS_CLIENT_ID: OAuth client id of the Withings app (empty: Withings disabled).')
param withingsClientId string = ''

@secure()
@description('OAuth client secret of the Withings app; stored in Key Vault as withings-client-secret and referenced from WITHINGS_CLIENT_SECRET. Empty: no secret is created.')
param withingsClientSecret string = ''

@description('OURA_CLIENT_ID: OAuth client id of the Oura app (empty: Oura disabled).')
param ouraClientId string = ''

@secure()
@description('OAuth client secret of the Oura app; stored in Key Vault as oura-client-secret and referenced from OURA_CLIENT_SECRET. Empty: no secret is created.')
param ouraClientSecret string = ''

@description('Expiry date (ISO 8601) set on the vendor client secrets in Key Vault; default one year from this deployment.')
param clientSecretExpiry string = dateTimeAdd(utcNow(), 'P1Y')

@description('ENABLED_VENDORS: comma-separated vendors to serve; empty: every vendor with a client id.')
param enabledVendors string = ''

@description('PUBLIC_BASE_URL: the public address of the app (OAuth redirect URIs are <it>/api/callback/<vendor>); empty: https://<function app default host name>.')
param publicBaseUrl string = ''

@description('POST_CONNECT_REDIRECT_URL: where the callback sends the user after connecting; empty: a small built-in page.')
param postConnectRedirectUrl string = ''

@description('App settings that replace the defaults in infra/app/api.bicep (e.g. {"ROTATE_SCHEDULE": "0 0 */4 * * *"}).')
param appSettingOverrides object = {}

@description('E-mail address for the alerts (reauth-required connections, poison messages, rotation failures). Empty: no action group; the alerts still fire and show in the portal.')
param alertEmail string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var vaultName = empty(keyVaultName) ? 'kv-${resourceToken}' : keyVaultName
var deploymentContainerName = 'app-package-${resourceToken}'
// Key Vault name of each vendor's client secret (created by app/keyvault.bicep), '' when its parameter is empty:
// the app setting is then '' instead of a Key Vault reference to a secret that does not exist.
var clientSecretNames = {
  WHOOP: empty(whoopClientSecret) ? '' : 'whoop-client-secret'
  FITBIT: empty(fitbitClientSecret) ? '' : 'fitbit-client-secret'
  GOOGLE_HEALTH: empty(googleHealthClientSecret) ? '' : 'google-health-client-secret'
  CODOON: empty(codoonClientSecret) ? '' : 'codoon-client-secret'
  WITHINGS: empty(withingsClientSecret) ? '' : 'withings-client-secret'
  OURA: empty(ouraClientSecret) ? '' : 'oura-client-secret'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    alertEmail: alertEmail
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSku
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: vaultName
    location: location
    tags: tags
    recover: keyVaultRecover
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    whoopClientSecret: whoopClientSecret
    fitbitClientSecret: fitbitClientSecret
    googleHealthClientSecret: googleHealthClientSecret
    codoonClientSecret: codoonClientSecret
    withingsClientSecret: withingsClientSecret
    ouraClientSecret: ouraClientSecret
    clientSecretExpiry: clientSecretExpiry
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    principalId: principalId
    principalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: 'func-api-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    zoneRedundant: zoneRedundant
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    keyVaultUri: keyVault.outputs.uri
    clientSecretNames: clientSecretNames
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    whoopClientId: whoopClientId
    fitbitClientId: fitbitClientId
    googleHealthClientId: googleHealthClientId
    codoonClientId: codoonClientId
    withingsClientId: withingsClientId
    ouraClientId: ouraClientId
    enabledVendors: enabledVendors
    publicBaseUrl: publicBaseUrl
    postConnectRedirectUrl: postConnectRedirectUrl
    appSettingOverrides: appSettingOverrides
  }
  // Key Vault references and identity-based storage resolve at start: the roles must exist first.
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = api.outputs.url
output PUBLIC_BASE_URL string = api.outputs.publicBaseUrl
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URL string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsWorkspaceId
