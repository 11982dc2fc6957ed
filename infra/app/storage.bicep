// The app's storage account, reached with the managed identity only (shared keys are disabled): the Functions
// host (AzureWebJobsStorage__*), the connection registry and OAuth state (tables), the work queues, the
// per-connection lock blobs, the landed data and the Flex Consumption deployment package.
// Names must match shared/storage.py, shared/layout.py and the table defaults in shared/registry.py and
// shared/oauth_state.py (tests/test_infra.py checks this).

@minLength(3)
@maxLength(24)
@description('Name of the storage account (3-24 lowercase letters and digits).')
param name string

@description('Azure region.')
param location string

@description('Tags for the storage account.')
param tags object

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Replication of the storage account.')
param skuName string = 'Standard_LRS'

@description('Blob container holding the Flex Consumption deployment package.')
param deploymentContainerName string

@minValue(1)
@maxValue(365)
@description('Days deleted blobs and containers stay recoverable (soft delete).')
param softDeleteDays int = 14

@minValue(1)
@maxValue(3650)
@description('Days a previous blob version is kept before lifecycle management deletes it.')
param previousVersionDays int = 30

// locks: one lease blob per connection (shared/storage.py LOCKS_CONTAINER);
// raw, curated: landed data (shared/layout.py DATA_CONTAINERS).
var containerNames = [
  'locks'
  'raw'
  'curated'
  deploymentContainerName
]

// The work queues of shared/resources.py WORK_QUEUES; each poison queue is created up front so it can be watched.
var queueNames = [
  'rotate-jobs'
  'rotate-jobs-poison'
  'pull-jobs'
  'pull-jobs-poison'
  'backfill-jobs'
  'backfill-jobs-poison'
  'notify-jobs'
  'notify-jobs-poison'
  'sweep-shards'
  'sweep-shards-poison'
]

// shared/resources.py TABLES: the registry, OAuth state, pending connections (no tokens), pull watermarks, backfill jobs, the shared rate budget,
// the notifications' duplicate guard, unknown users, activity and per-user work bounds (Codoon), and the sweeps' progress per shard.
var tableNames = [
  'connections'
  'vendorusers'
  'oauthstate'
  'pendingconnections'
  'pullstate'
  'backfills'
  'ratebudget'
  'notifydedup'
  'notifyunknown'
  'notifyactivity'
  'notifywork'
  'sweepprogress'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: default-deny network rules would cut the function app off from its own storage: a Flex Consumption app without VNet integration reaches storage over the public endpoint (every request is Entra ID authenticated; shared keys are disabled). Add VNet integration + private endpoints to enable this.
  // checkov:skip=CKV_AZURE_59: public network access stays enabled for the same reason as CKV_AZURE_35 (no VNet: the app reaches its storage over the public endpoint); anonymous access is off (allowBlobPublicAccess: false) and shared keys are disabled, so every request needs an Entra ID token and an RBAC role.
  // checkov:skip=CKV_AZURE_206: replication is a parameter (storageSku / AZURE_STORAGE_SKU, default Standard_LRS) so `azd up` works in every Flex Consumption region (ZRS/GZRS exist only where there are availability zones) and geo-redundancy (about twice the price) is a choice; the irreplaceable state, the token pairs, lives in Key Vault, which Azure replicates within the region and to its pair.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in containerNames: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

// Versioning keeps every overwrite (revised records, rewritten curated lines); keep previous versions for a while.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-previous-versions'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
            }
            actions: {
              version: {
                delete: {
                  daysAfterCreationGreaterThan: previousVersionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
