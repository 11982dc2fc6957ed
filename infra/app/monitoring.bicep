// Monitoring: a Log Analytics workspace and a workspace-based Application Insights that accepts Entra ID
// (managed identity) ingestion only. Alert rules (reauth-required connections, poison messages, rotation
// failures) belong in this module too, next to the resources they query.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region.')
param location string

@description('Tags for the monitoring resources.')
param tags object

@minValue(30)
@maxValue(730)
@description('Days the workspace keeps logs.')
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Entra ID only: the app sends telemetry with its managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING)
    // and needs Monitoring Metrics Publisher on this component (app/rbac.bicep).
    DisableLocalAuth: true
  }
}

output logAnalyticsWorkspaceId string = logAnalytics.id
output logAnalyticsWorkspaceName string = logAnalytics.name
output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
