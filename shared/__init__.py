"""wearsync: wearable vendor connections, token custody and data landing on Azure Functions."""
