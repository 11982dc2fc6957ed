// The function app: Flex Consumption (FC1), Python 3.13, running as the user-assigned managed identity.
// Every app setting is built in ONE place, the `appSettings` variable below: identity-based storage for the
// Functions host, telemetry, and every setting in shared/settings.py SETTINGS (tests/test_infra.py checks this).

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags; the function app also gets azd-service-name: api.')
param tags object

@description('Spread the app over availability zones (see main.bicep).')
param zoneRedundant bool = false

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Name of the storage account (AzureWebJobsStorage, identity based).')
param storageAccountName string

@description('Primary blob endpoint of the storage account (https://<account>.blob.core.windows.net/).')
param storageBlobEndpoint string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('URI of the Key Vault (https://<name>.vault.azure.net/).')
param keyVaultUri string

@description('Vault secret name of each vendor\'s client secret, keyed WHOOP/FITBIT/CODOON; \'\' when not stored.')
param clientSecretNames object

@description('Connection string of Application Insights (no key: ingestion is Entra ID only).')
param applicationInsightsConnectionString string

@minValue(1)
@maxValue(1000)
@description('Upper bound of instances the plan scales out to.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance (MB).')
param instanceMemoryMB int = 2048

@description('WHOOP_CLIENT_ID.')
param whoopClientId string = ''

@description('FITBIT_CLIENT_ID.')
param fitbitClientId string = ''

@description('GOOGLE_HEALTH_CLIENT_ID.')
param googleHealthClientId string = ''

@description('CODOON_CLIENT_ID.')
param codoonClientId string = ''

@description('OURA_CLIENT_ID.')
param ouraClientId string = ''

@description('WITHINGS_CLIENT_ID.')
param withingsClientId string = ''

@description('ENABLED_VENDORS.')
param enabledVendors string = ''

@description('PUBLIC_BASE_URL; empty: https://<default host name>.')
param publicBaseUrl string = ''

@description('POST_CONNECT_REDIRECT_URL.')
param postConnectRedirectUrl string = ''

@description('App settings that replace the defaults below.')
param appSettingOverrides object = {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is a parameter (zoneRedundant, default off): on Flex Consumption it makes the platform keep at least two always-ready instances billed around the clock, and only some regions support it.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the OAuth callback (/api/callback/{vendor}) is opened by users' browsers and vendors deliver webhooks from the internet, so the app must be publicly reachable; the other routes need a function key.
  // checkov:skip=CKV_AZURE_212: Flex Consumption has no numberOfWorkers: the scale controller adds instances per event (up to maximumInstanceCount) and always-ready instances would be billed around the clock; work travels in retried queue messages, so a cold start delays work but loses none.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Client certificates are accepted but never required, and browsers are not prompted (the OAuth callback is
    // opened by users' browsers; vendors call the webhooks without certificates).
    clientCertEnabled: true
    clientCertMode: 'OptionalInteractiveUser'
    publicNetworkAccess: 'Enabled'
    // Key Vault references (the vendor client secrets) are resolved with the user-assigned identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      healthCheckPath: '/api/health'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
}

// Deployments (azd) use Entra ID; the publishing user name/password is switched off for FTP and SCM (Kudu).
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

var defaultPublicBaseUrl = 'https://${functionApp.properties.defaultHostName}'

// THE list of app settings. No FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION: on Flex Consumption the
// runtime comes from functionAppConfig.runtime and those settings are rejected.
var appSettings = {
  // Functions host storage (the AzureWebJobsStorage setting), identity based: no connection string, no key.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  // Telemetry: OpenTelemetry through the worker, ingested with the managed identity (local auth is disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'

  // shared/settings.py SETTINGS, in its order.
  KEY_VAULT_URL: keyVaultUri
  LOCAL_SECRETS_DIR: ''
  AZURE_CLIENT_ID: identityClientId
  ROTATE_SCHEDULE: '0 0 */6 * * *'
  ROTATE_MIN_AGE_MINUTES: '300'
  REFRESH_MARGIN_SECONDS: '300'
  LOCK_LEASE_SECONDS: '30'
  LOCK_WAIT_SECONDS: '60'
  DEGRADE_AFTER_FAILURES: '3'
  VAULT_WRITE_RETRY_SECONDS: '300'
  HTTP_TIMEOUT_SECONDS: '20'
  PUBLIC_BASE_URL: empty(publicBaseUrl) ? defaultPublicBaseUrl : publicBaseUrl
  POST_CONNECT_REDIRECT_URL: postConnectRedirectUrl
  CONNECT_CONFIRMATION: 'true' // the product confirms each new connection (README: connecting a user)
  CONNECT_CONFIRM_SECONDS: '600'
  ALLOW_ACCOUNT_MOVE: 'false'
  ENABLED_VENDORS: enabledVendors
  PULL_SCHEDULE: '0 5 * * * *'
  PULL_INITIAL_DAYS: '30'
  PULL_LOOKBACK_DAYS: '3'
  PULL_RUN_SECONDS: '420'
  PULL_SPREAD_MINUTES: '50'
  SWEEP_SHARDS: '64'
  PULL_FRESHNESS_HOURS: '24'
  PULL_SNAPSHOT_FRESHNESS_HOURS: '168'
  PULL_NOTIFIED_FRESHNESS_HOURS: '168'
  PULL_BUDGET_RESERVE_PERCENT: '20'
  RATE_LIMIT_MARGIN_SECONDS: '2'
  RECONCILE_SCHEDULE: '0 30 */2 * * *'
  CLEANUP_SCHEDULE: '0 15 * * * *'
  SUBSCRIPTIONS_SCHEDULE: '0 45 */12 * * *'
  FITBIT_SUBSCRIBER_VERIFY_CODE: '' // set with appSettingOverrides once the Fitbit subscriber exists

  // Client secrets: Key Vault references (resolved by the platform with keyVaultReferenceIdentity), '' if not stored.
  WHOOP_CLIENT_ID: whoopClientId
  WHOOP_CLIENT_SECRET: empty(clientSecretNames.WHOOP) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientSecretNames.WHOOP})'
  WHOOP_AUTH_URL: 'https://api.prod.whoop.com/oauth/oauth2/auth'
  WHOOP_TOKEN_URL: 'https://api.prod.whoop.com/oauth/oauth2/token'
  WHOOP_API_BASE_URL: 'https://api.prod.whoop.com/developer'
  WHOOP_RATE_LIMITS: '100/60,10000/86400'

  FITBIT_CLIENT_ID: fitbitClientId
  FITBIT_CLIENT_SECRET: empty(clientSecretNames.FITBIT) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientSecretNames.FITBIT})'
  FITBIT_AUTH_URL: 'https://www.fitbit.com/oauth2/authorize'
  FITBIT_TOKEN_URL: 'https://api.fitbit.com/oauth2/token'
  FITBIT_REVOKE_URL: 'https://api.fitbit.com/oauth2/revoke'
  FITBIT_API_BASE_URL: 'https://api.fitbit.com'
  FITBIT_RATE_LIMITS: '150/3600'

  GOOGLE_HEALTH_CLIENT_ID: googleHealthClientId
  GOOGLE_HEALTH_CLIENT_SECRET: empty(clientSecretNames.GOOGLE_HEALTH) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientSecretNames.GOOGLE_HEALTH})'
  GOOGLE_HEALTH_AUTH_URL: 'https://accounts.google.com/o/oauth2/v2/auth'
  GOOGLE_HEALTH_TOKEN_URL: 'https://oauth2.googleapis.com/token'
  GOOGLE_HEALTH_REVOKE_URL: 'https://oauth2.googleapis.com/revoke'
  GOOGLE_HEALTH_API_BASE_URL: 'https://health.googleapis.com'
  GOOGLE_HEALTH_RATE_LIMITS: '300/60'
  GOOGLE_HEALTH_MAX_USERS: '100' // 0 once Google verified the app (docs/google-health.md)
  GOOGLE_HEALTH_SCOPES: '' // empty: the default googlehealth.*.readonly scopes (docs/google-health.md)
  GOOGLE_HEALTH_SUBSCRIBER_SECRET: '' // set with appSettingOverrides (or a Key Vault reference) before creating the subscriber
  GOOGLE_HEALTH_NOTIFY_PUBLIC_KEY: '' // Google Health API's public key (PEM), set with appSettingOverrides

  CODOON_CLIENT_ID: codoonClientId
  CODOON_CLIENT_SECRET: empty(clientSecretNames.CODOON) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientSecretNames.CODOON})'
  CODOON_AUTH_URL: 'https://openapi.codoon.com/authorize'
  CODOON_TOKEN_URL: 'https://openapi.codoon.com/token'
  CODOON_API_BASE_URL: 'https://openapi.codoon.com/api'
  CODOON_RATE_LIMITS: ''

  WITHINGS_CLIENT_ID: withingsClientId
  WITHINGS_CLIENT_SECRET: empty(clientSecretNames.WITHINGS) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientSecretNames.WITHINGS})'
  WITHINGS_AUTH_URL: 'https://account.withings.com/oauth2_user/authorize2'
  WITHINGS_TOKEN_URL: 'https://wbsapi.withings.net/v2/oauth2'
  WITHINGS_API_BASE_URL: 'https://wbsapi.withings.net'
  WITHINGS_RATE_LIMITS: '120/60'

  OURA_CLIENT_ID: ouraClientId
  OURA_CLIENT_SECRET: empty(clientSecretNames.OURA) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientSecretNames.OURA})'
  OURA_AUTH_URL: 'https://cloud.ouraring.com/oauth/authorize'
  OURA_TOKEN_URL: 'https://api.ouraring.com/oauth/token'
  OURA_REVOKE_URL: 'https://api.ouraring.com/oauth/revoke'
  OURA_API_BASE_URL: 'https://api.ouraring.com'
  OURA_RATE_LIMITS: '5000/300'
  OURA_APP_RATE_LIMITS: ''
  OURA_MAX_USERS: '10' // 0 once Oura approved the app
  OURA_VERIFICATION_TOKEN: '' // set with appSettingOverrides (or a Key Vault reference) before creating Oura webhook subscriptions
}

// This resource is the app-settings dictionary ('appsettings'), not the 'web' site configuration; checkov applies its
// 'web' config checks to every Microsoft.Web/sites/config resource. The site's own configuration is on functionApp
// above, where checkov checks it. (checkov's parser accepts at most 10 comment lines at the top of a block.)
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_63: not a 'web' config resource (see above); App Service HTTP logs do not exist on Flex Consumption: requests are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65: not a 'web' config resource (see above); detailed error pages are an IIS/App Service file-log feature, not available on Flex Consumption (errors go to Application Insights).
  // checkov:skip=CKV_AZURE_66: not a 'web' config resource (see above); failed request tracing is an IIS (Windows) feature; the Linux Flex app traces requests in Application Insights.
  // checkov:skip=CKV_AZURE_80: not a 'web' config resource (see above); this is a Python app, there is no .NET Framework version.
  // checkov:skip=CKV_AZURE_88: not a 'web' config resource (see above); Flex Consumption deploys from the blob container in functionAppConfig and mounts no Azure Files share.
  // checkov:skip=CKV_AZURE_13: App Service Authentication (Easy Auth) would put a sign-in in front of the vendors' OAuth redirects and webhooks; callers are authenticated per route (function keys; one-time OAuth state on the callback; vendor signatures on webhooks).
  // checkov:skip=CKV_AZURE_222: public network access is set on functionApp (and justified there); this resource only holds app settings.
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, appSettingOverrides)
}

output id string = functionApp.id
output name string = functionApp.name
output url string = defaultPublicBaseUrl
output publicBaseUrl string = empty(publicBaseUrl) ? defaultPublicBaseUrl : publicBaseUrl
