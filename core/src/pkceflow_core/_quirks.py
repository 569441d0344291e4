"""Declared deviations of real providers from the RFCs.

The core is strict by default. A provider preset turns a quirk on by name; no quirk
is ever guessed from a response.
"""

from __future__ import annotations

import attrs

__all__ = ["Quirks"]


@attrs.frozen
class Quirks:
    """Switches that relax one rule each; all off by default."""

    #: Accept a token response in application/x-www-form-urlencoded form (GitHub
    #: answers so unless asked for JSON).
    form_encoded_token_response: bool = False
    #: Accept ``expires_in`` as a string of digits (some Microsoft endpoints).
    expires_in_as_string: bool = False
    #: Accept ``scope`` in a token response as a JSON array of strings.
    scope_as_array: bool = False
    #: Characters besides the space that separate scopes in a response (GitHub: ",").
    scope_separators: str = ""
    #: The discovery document's issuer is a template with this placeholder in one
    #: path segment (Microsoft's ``{tenantid}`` for multi-tenant endpoints); id_tokens
    #: then carry the tenant's own issuer, matched through their ``tid`` claim.
    issuer_placeholder: str | None = None
