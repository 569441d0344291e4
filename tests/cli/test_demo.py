"""``pkceflow demo``: a whole login against the built-in provider, narrated."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from .helpers import Cli


def test_demo_narrates_a_login_refresh_and_logout(cli: Cli) -> None:
    result = cli.run("demo", timeout=60).ok()

    out = result.stdout
    assert result.stderr == ""
    assert re.findall(r"^(\d+)\. ", out, re.MULTILINE) == ["1", "2", "3", "4", "5", "6", "7"]
    assert re.search(r"^1\. Started pkceflow's local test provider at http://127\.0\.0\.1:", out)
    assert "2. Discovered its endpoints" in out
    assert "S256 supported: True" in out
    assert "Signed in: a Bearer access token (43 characters, kept secret)" in out
    assert "Refreshed: a new access token" in out
    assert "The provider rotated the refresh token" in out
    assert "Logged out: tokens revoked at the provider (RFC 7009)" in out
    assert "2 token requests in all" in out
    assert out.endswith("Done. Try it against your own provider: pkceflow login --help\n")
    assert not list(cli.files())  # the demo keeps nothing (memory store)

    (url,) = re.findall(r"^   (http://\S+/authorize\?\S+)$", out, re.MULTILINE)
    params = dict(parse_qsl(urlsplit(url).query))
    for name in ("state", "nonce"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{6}\u2026", params[name]), params[name]
    challenge = params["code_challenge"]
    assert f"S256 challenge {challenge}," in out
    # Tokens are long random base64url strings; the only one shown is the challenge.
    assert set(re.findall(r"[A-Za-z0-9_-]{30,}", out)) == {challenge}
