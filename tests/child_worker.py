"""A separate worker process for the concurrency and crash tests: ``python -m tests.child_worker``.

It reads the app's settings from its environment, like a Functions worker, and prints one JSON line
per result. It never prints a token: only a short digest of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time

from shared.app_context import get_context


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("vendor")
    parser.add_argument("user")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args()
    tokens = get_context().tokens
    results: list[str] = []
    errors: list[str] = []

    def ask() -> None:
        try:
            results.append(digest(tokens.access_token_for(args.vendor, args.user)))
        except Exception as error:  # reported to the parent test
            errors.append(f"{type(error).__name__}: {error}")

    print(json.dumps({"ready": True}), flush=True)
    time.sleep(max(0.0, args.start_at - time.time()))
    threads = [threading.Thread(target=ask) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"tokens": results, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
