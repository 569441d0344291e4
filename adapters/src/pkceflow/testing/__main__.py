"""Serve a `TestProvider` until interrupted: ``python -m pkceflow.testing``.

Prints the issuer on the first line of standard output, then serves until Ctrl-C or
SIGTERM.  Options: ``--host`` (default 127.0.0.1), ``--port`` (default 0: any free port),
``--issuer-path``, ``--interactive`` (login and consent pages), ``--verbose``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo server; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m pkceflow.testing",
        description="A local OAuth 2.0 / OpenID Connect authorization server for tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--issuer-path", default="", help="issuer path prefix, e.g. /tenant-a")
    parser.add_argument("--interactive", action="store_true", help="login and consent pages")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    from pkceflow.testing.provider import (
        CONFIDENTIAL_CLIENT_ID,
        CONFIDENTIAL_CLIENT_SECRET,
        PUBLIC_CLIENT_ID,
        ProviderSettings,
        TestProvider,
    )

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        provider = TestProvider(
            ProviderSettings(interactive=args.interactive),
            host=args.host,
            port=args.port,
            issuer_path=args.issuer_path,
            verbose=args.verbose,
        )
    except ValueError as exc:
        parser.error(str(exc))
    with provider:
        print(provider.issuer, flush=True)
        print(
            f"discovery: {provider.openid_configuration_url}\n"
            f"public client: {PUBLIC_CLIENT_ID}\n"
            f"confidential client: {CONFIDENTIAL_CLIENT_ID} "
            f"(secret {CONFIDENTIAL_CLIENT_SECRET})\n"
            "press Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
    signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
