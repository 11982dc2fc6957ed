// Role assignments: the app's managed identity gets exactly the data-plane roles it needs; the deployer
// (principalId, optional) gets the same storage and Key Vault roles for running the CLI against Azure.
// Key Vault: a custom role with only the secret operations the app calls (no built-in role fits: Key Vault
// Secrets Officer also deletes and purges, Key Vault Secrets User cannot write).

@description('Name of the storage account (same resource group).')
param storageAccountName string

@description('Name of the Key Vault (same resource group).')
param keyVaultName string

@description('Name of the Application Insights component (same resource group).')
param applicationInsightsName string

@description('Principal (object) id of the app\'s user-assigned managed identity.')
param identityPrincipalId string

@description('Object id of the deployer; empty: no deployer roles.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal principalId is.')
param principalType string = 'User'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Storage data roles: the Functions host needs blob (leases, keys) and queue access; the app also uses tables.
var storageRoleIds = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// What shared/vault/keyvault_store.py calls, and nothing else (tests/test_infra.py maps each SDK call to these):
// get_secret (token pairs, the Key Vault references to the client secrets, and the poll that waits for a
// recovery), list_properties_of_secrets, set_secret (a rotation is a new version), update_secret_properties
// (disable on disconnect), begin_recover_deleted_secret (a soft-deleted name is recovered, never re-created).
// No delete, no purge: the app cannot destroy a token pair, even when compromised.
var vaultSecretDataActions = [
  'Microsoft.KeyVault/vaults/secrets/getSecret/action'
  'Microsoft.KeyVault/vaults/secrets/readMetadata/action'
  'Microsoft.KeyVault/vaults/secrets/setSecret/action'
  'Microsoft.KeyVault/vaults/secrets/update/action'
  'Microsoft.KeyVault/vaults/secrets/recover/action'
]

resource vaultSecretsCustodian 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, keyVaultName, 'wearsync-vault-secrets-custodian')
  properties: {
    roleName: 'wearsync secrets custodian (${keyVaultName})'
    description: 'Read, list, write, disable and recover the secrets of the wearsync vault ${keyVaultName}; never delete or purge.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: vaultSecretDataActions
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource appVaultSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, vaultSecretsCustodian.id)
  scope: vault
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: vaultSecretsCustodian.id
  }
}

resource appStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoleIds: {
    name: guid(storage.id, identityPrincipalId, roleId)
    scope: storage
    properties: {
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

// Entra ID ingestion into Application Insights (DisableLocalAuth: true).
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

resource deployerVaultSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(vault.id, principalId, vaultSecretsCustodian.id)
  scope: vault
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: vaultSecretsCustodian.id
  }
}

resource deployerStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(principalId) ? [] : storageRoleIds): {
    name: guid(storage.id, principalId, roleId)
    scope: storage
    properties: {
      principalId: principalId
      principalType: principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]
