// The user-assigned managed identity that the function app uses for everything: storage (AzureWebJobsStorage__*
// and the app's own clients), Key Vault (token pairs and Key Vault references), Application Insights ingestion and
// the Flex deployment container.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
