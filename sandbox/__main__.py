"""Run the vendor sandbox standalone: `python -m sandbox [--port N] [--latency S]`.

Prints the base URL and the app settings as KEY=value lines (paste them into local.settings.json or an
env file), then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import threading

from sandbox.core import Sandbox


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: an ephemeral one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    # Ctrl-C stops it even when its parent left SIGINT ignored (a background job: Python then installs no handler)
    # or blocked (the mask is inherited); SIGTERM stops it the same way
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # a mask is inherited too
    sandbox = Sandbox(latency=arguments.latency, port=arguments.port).start()
    try:
        print(sandbox.base_url)
        for key, value in sandbox.settings_env().items():
            print(f"{key}={value}")
        print("Serving; press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
