"""A test-only hook that makes pkceflow send a wrong PKCE ``code_verifier``.

:class:`CorruptVerifierTransport` wraps a real Transport and replaces the
``code_verifier`` of every token request with another valid-looking one, so the
authorization server answers ``invalid_grant`` (RFC 7636 4.6).

- Library tests pass it directly: ``Client(transport=CorruptVerifierTransport(inner))``.
- The CLI test runs ``python -m e2e.corrupt_verifier login ...`` (tests/ on PYTHONPATH):
  that is the ``pkceflow`` console script (``pkceflow.cli.main``) with this module
  registered first as a pluggy plugin on pkceflow's process-wide plugin manager. Its
  ``pkceflow_transport`` hook is a ``firstresult`` hook and pkceflow's built-in is
  ``trylast``, so every transport the CLI makes is the corrupting one around the real
  Urllib3Transport. (A real entry-point plugin would need a distribution installed
  into the environment; this needs nothing installed.) Each replacement is announced
  on stderr with :data:`ANNOUNCEMENT`, so the test can tell the hook ran.
"""

from __future__ import annotations

import secrets
import sys
import urllib.parse

import attrs

from pkceflow_core import HttpRequest, HttpResponse
from pkceflow_core.hookspecs import hookimpl
from pkceflow_core.ports import Transport

ANNOUNCEMENT = "corrupt_verifier: replaced the code_verifier of a token request"


class CorruptVerifierTransport:
    """Sends every request through ``inner``, a token request with another code_verifier."""

    def __init__(self, inner: Transport, *, announce: bool = False) -> None:
        self.inner = inner
        self.announce = announce
        #: (the verifier pkceflow sent, the one the server got) for each replacement.
        self.replaced: list[tuple[str, str]] = []

    def send(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and b"code_verifier=" in request.body:
            form = urllib.parse.parse_qsl(request.body.decode("ascii"), keep_blank_values=True)
            changed = []
            for name, value in form:
                if name == "code_verifier":
                    wrong = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]
                    self.replaced.append((value, wrong))
                    value = wrong
                changed.append((name, value))
            request = attrs.evolve(request, body=urllib.parse.urlencode(changed).encode("ascii"))
            if self.announce:
                sys.stderr.write(ANNOUNCEMENT + "\n")
                sys.stderr.flush()
        return self.inner.send(request)


@hookimpl
def pkceflow_transport(timeout: float, ca_bundle: str | None) -> Transport:
    from pkceflow.transport import Urllib3Transport

    return CorruptVerifierTransport(
        Urllib3Transport(timeout=timeout, ca_bundle=ca_bundle), announce=True
    )


def main(argv: list[str]) -> int:
    from pkceflow.cli import main as pkceflow_main
    from pkceflow.plugins import get_plugin_manager

    get_plugin_manager().register(sys.modules[__name__], name="e2e.corrupt_verifier")
    return pkceflow_main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
