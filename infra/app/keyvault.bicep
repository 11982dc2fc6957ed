// Key Vault: the users' token pairs (one secret per connection, written by the app) and the vendors' OAuth client
// secrets (written here from secure parameters, read by the app through Key Vault references).
// Access is Azure RBAC only (app/rbac.bicep); deleted secrets and the vault stay recoverable for 90 days.

@minLength(3)
@maxLength(24)
@description('Name of the Key Vault.')
param name string

@description('Azure region.')
param location string

@description('Tags for the vault.')
param tags object

@description('Recover a soft-deleted vault of this name instead of creating a new one.')
param recover bool = false

@description('Log Analytics workspace that receives the vault\'s audit log (who read or wrote which secret).')
param logAnalyticsWorkspaceId string

@secure()
@description('OAuth client secret of the WHOOP app; empty: the secret is not created.')
param whoopClientSecret string = ''

@secure()
@description('OAuth client secret of the Fitbit app; empty: the secret is not created.')
param fitbitClientSecret string = ''

@secure()
@description('OAuth client secret of the Google Health web client; empty: the secret is not created.')
param googleHealthClientSecret string = ''

@secure()
@description('OAuth client secret of the Codoon app; empty: the secret is not created.')
param codoonClientSecret string = ''

@secure()
@description('OAuth client secret of the Oura app; empty: the secret is not created.')
param ouraClientSecret string = ''

@secure()
@description('OAuth client secret of the Withings app; empty: the secret is not created.')
param withingsClientSecret string = ''

@description('Expiry date (ISO 8601) of the client secrets.')
param clientSecretExpiry string

var clientSecretContentType = 'text/plain; charset=utf-8'
var clientSecretExp = dateTimeToEpoch(clientSecretExpiry)

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: a default-deny firewall would block the app: a Flex Consumption app without VNet integration reaches the vault over its public endpoint and is not a trusted Microsoft service. Every call is Entra ID authenticated and authorised by RBAC. Add VNet integration + a private endpoint to enable this.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: without VNet integration the function app can only reach the vault over public network access.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    createMode: recover ? 'recover' : 'default'
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource whoopSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(whoopClientSecret)) {
  // checkov 3.3 does not look inside conditional (`if`) resources, so it cannot see the two properties below.
  // checkov:skip=CKV_AZURE_41: attributes.exp is set below (clientSecretExpiry); tests/test_infra.py asserts it.
  // checkov:skip=CKV_AZURE_114: contentType is set below; tests/test_infra.py asserts it.
  parent: vault
  name: 'whoop-client-secret'
  properties: {
    value: whoopClientSecret
    contentType: clientSecretContentType
    attributes: {
      enabled: true
      exp: clientSecretExp
    }
  }
}

resource fitbitSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(fitbitClientSecret)) {
  // checkov 3.3 does not look inside conditional (`if`) resources, so it cannot see the two properties below.
  // checkov:skip=CKV_AZURE_41: attributes.exp is set below (clientSecretExpiry); tests/test_infra.py asserts it.
  // checkov:skip=CKV_AZURE_114: contentType is set below; tests/test_infra.py asserts it.
  parent: vault
  name: 'fitbit-client-secret'
  properties: {
    value: fitbitClientSecret
    contentType: clientSecretContentType
    attributes: {
      enabled: true
      exp: clientSecretExp
    }
  }
}

resource googleHealthSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(googleHealthClientSecret)) {
  // checkov 3.3 does not look inside conditional (`if`) resources, so it cannot see the two properties below.
  // checkov:skip=CKV_AZURE_41: attributes.exp is set below (clientSecretExpiry); tests/test_infra.py asserts it.
  // checkov:skip=CKV_AZURE_114: contentType is set below; tests/test_infra.py asserts it.
  parent: vault
  name: 'google-health-client-secret'
  properties: {
    value: googleHealthClientSecret
    contentType: clientSecretContentType
    attributes: {
      enabled: true
      exp: clientSecretExp
    }
  }
}

resource codoonSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(codoonClientSecret)) {
  // checkov 3.3 does not look inside conditional (`if`) resources, so it cannot see the two properties below.
  // checkov:skip=CKV_AZURE_41: attributes.exp is set below (clientSecretExpiry); tests/test_infra.py asserts it.
  // checkov:skip=CKV_AZURE_114: contentType is set below; tests/test_infra.py asserts it.
  parent: vault
  name: 'codoon-client-secret'
  properties: {
    value: codoonClientSecret
    contentType: clientSecretContentType
    attributes: {
      enabled: true
      exp: clientSecretExp
    }
  }
}

resource ouraSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(ouraClientSecret)) {
  // checkov 3.3 does not look inside conditional (`if`) resources, so it cannot see the two properties below.
  // checkov:skip=CKV_AZURE_41: attributes.exp is set below (clientSecretExpiry); tests/test_infra.py asserts it.
  // checkov:skip=CKV_AZURE_114: contentType is set below; tests/test_infra.py asserts it.
  parent: vault
  name: 'oura-client-secret'
  properties: {
    value: ouraClientSecret
    contentType: clientSecretContentType
    attributes: {
      enabled: true
      exp: clientSecretExp
    }
  }
}

resource withingsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(withingsClientSecret)) {
  // checkov 3.3 does not look inside conditional (`if`) resources, so it cannot see the two properties below.
  // checkov:skip=CKV_AZURE_41: attributes.exp is set below (clientSecretExpiry); tests/test_infra.py asserts it.
  // checkov:skip=CKV_AZURE_114: contentType is set below; tests/test_infra.py asserts it.
  parent: vault
  name: 'withings-client-secret'
  properties: {
    value: withingsClientSecret
    contentType: clientSecretContentType
    attributes: {
      enabled: true
      exp: clientSecretExp
    }
  }
}

resource auditLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
