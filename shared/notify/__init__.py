"""Receiving vendor notifications (webhooks): verify the vendor's proof on the raw body, parse, collapse
WHOOP duplicates, and write one queue message per notification before answering.

Modules: ``verify`` (signatures), ``parse`` (per-vendor parsers -> ``Notification``), ``intake`` (the service
behind ``/api/notify/{vendor}``)."""

NOTIFY_QUEUE = "notify-jobs"
NOTIFY_DEDUP_TABLE = "notifydedup"
