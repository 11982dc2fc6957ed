"""Receiving vendor notifications (webhooks): verify the vendor's proof on the raw body, parse, collapse a
vendor's retries, and write one queue message per notification before answering; then work each message.

Modules: ``model`` (the contract a vendor package fills, and ``Notification``), ``verify`` and ``parse`` (helpers
for the packages), ``intake`` (the service behind ``/api/notify/{vendor}``), ``worker`` (the ``notify-jobs``
queue), ``bounds`` (what unsigned or unknown notifications may cost), ``reconcile``, ``poison``. Each vendor's
own rules live in its package, ``shared/vendors/<name>/notify.py``."""

NOTIFY_QUEUE = "notify-jobs"
NOTIFY_DEDUP_TABLE = "notifydedup"
