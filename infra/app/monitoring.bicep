// Monitoring: a Log Analytics workspace, a workspace-based Application Insights that accepts Entra ID
// (managed identity) ingestion only, and log alert rules on the app's OpenTelemetry counters (shared/telemetry.py,
// exported to customMetrics as deltas: sum(valueSum) over a window counts the events in it): a rise in connections
// that need reauthorisation, messages that ended in a poison queue, and failed rotations.

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

@description('E-mail address the alerts go to (an action group is created for it). Empty: no action group; the alerts still fire and show in the portal.')
param alertEmail string = ''

@minValue(1)
@description('Alert when at least this many connections of one vendor become reauth_required within an hour.')
param reauthAlertThreshold int = 3

@minValue(1)
@description('Alert when at least this many rotations of one vendor fail (failed, degraded or error) within six hours.')
param rotationFailureAlertThreshold int = 3

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

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${applicationInsightsName}-alerts'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'wearsync'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var alertActions = {
  actionGroups: empty(alertEmail) ? [] : [
    actionGroup.id
  ]
}

// The metric names and attributes are shared/telemetry.py's (ROTATIONS, REAUTH_REQUIRED, POISON_MESSAGES);
// tests/test_telemetry.py checks they match.
resource reauthRequiredAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${applicationInsightsName}-reauth-required'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'wearsync: connections need reauthorisation'
    description: 'At least ${reauthAlertThreshold} connections of one vendor became reauth_required within an hour (counter wearsync.reauth_required): the vendor may have revoked grants or changed its OAuth behaviour. Users must reconnect.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "wearsync.reauth_required" | extend vendor = tostring(customDimensions.vendor) | summarize reauth = sum(valueSum) by vendor'
          timeAggregation: 'Total'
          metricMeasureColumn: 'reauth'
          dimensions: [
            {
              name: 'vendor'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThanOrEqual'
          threshold: reauthAlertThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}

resource poisonMessagesAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${applicationInsightsName}-poison-messages'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'wearsync: messages in a poison queue'
    description: 'A queue message failed every delivery and was moved to a poison queue (counter wearsync.poison_messages, by queue): the work it carried (a rotation, a pull, a notification) was not done. Inspect the <queue>-poison queue.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "wearsync.poison_messages" | extend queue = tostring(customDimensions.queue) | summarize poisoned = sum(valueSum) by queue'
          timeAggregation: 'Total'
          metricMeasureColumn: 'poisoned'
          dimensions: [
            {
              name: 'queue'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}

resource rotationFailuresAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${applicationInsightsName}-rotation-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'wearsync: token rotations failing'
    description: 'At least ${rotationFailureAlertThreshold} rotations of one vendor ended failed, degraded or error within six hours (counter wearsync.rotations): the vendor token endpoint, the vault or storage is failing. Pairs are kept and retried with back-off; connections degrade after repeated failures.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "wearsync.rotations" | extend vendor = tostring(customDimensions.vendor), outcome = tostring(customDimensions.outcome) | where outcome in ("failed", "degraded", "error") | summarize failures = sum(valueSum) by vendor'
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          dimensions: [
            {
              name: 'vendor'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThanOrEqual'
          threshold: rotationFailureAlertThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}

output logAnalyticsWorkspaceId string = logAnalytics.id
output logAnalyticsWorkspaceName string = logAnalytics.name
output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
