"""profiles.py: whatever a profile holds, the file it is written to reads back equal."""

from __future__ import annotations

import sys

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pkceflow.profiles import Profile, load_profile, save_profile, stage_profile
from pkceflow_core import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# What a hand-written TOML writer gets wrong: quotes of both kinds and triples of them,
# backslashes (a Windows path, an escape that is not one), newlines and other control
# characters (DEL included), text that looks like TOML, and characters beyond ASCII.
AWKWARD = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\n",
    "\\u0041",
    "C:\\Users\\me",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x08",
    "\x1b[31m",
    "\x7f",
    "\u0085",
    "\u2028",
    "\ufeff",
    "é",
    "日本",
    "\U0001f600",
    'x"\nstore = "keyring',
    "[params]",
    "# not a comment",
    "a = 1",
    " ",
    "",
]

# Any text a profile can hold: strings are Unicode scalar values (tomllib never
# returns a lone surrogate), which st.text() draws from by default.
text = st.one_of(
    st.text(),
    st.sampled_from(AWKWARD),
    st.lists(st.one_of(st.sampled_from(AWKWARD), st.text(max_size=3)), max_size=6).map("".join),
)
optional_text = st.none() | text
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
# Repeated values are kept, in order: an authorization request may repeat a parameter.
values = st.one_of(
    st.lists(text, max_size=4),
    st.lists(text, min_size=1, max_size=3).map(lambda v: v + v),
).map(tuple)

profiles = st.builds(
    Profile,
    name=names,
    client_id=text,
    issuer=optional_text,
    auth_url=optional_text,
    token_url=optional_text,
    revocation_url=optional_text,
    userinfo_url=optional_text,
    jwks_uri=optional_text,
    iss_parameter_supported=st.booleans(),
    issuer_template=optional_text,
    scope=st.lists(text, max_size=4).map(tuple),
    redirect_host=text,
    redirect_port=st.integers(0, 65535),
    redirect_path=optional_text,
    params=st.dictionaries(text, values, max_size=4),
    template=st.dictionaries(text, text, max_size=3),
    store=text,
    provider=optional_text,
    auth_method=optional_text,
    has_client_secret=st.booleans(),
    login_id=optional_text,
)

FULL = Profile(
    name="work",
    client_id='a "quoted" \\ client\nid',
    issuer="https://id.example/\u00e9",
    auth_url="https://id.example/authorize",
    token_url="https://id.example/token",
    scope=("openid", "offline_access", "openid"),
    redirect_port=8765,
    params={"audience": ("api", "api", "\x00\x7f"), "": ("",), "a b": ()},
    template={"tenant": "'''\"\"\"", "\t": "\r\n"},
    has_client_secret=True,
    login_id="\U0001f600",
)


# The PKCEFLOW_HOME of the adapters' autouse fixture serves every example: each one
# writes its own profile over whatever an earlier one left under the same name.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(profiles)
@example(FULL)
@example(Profile(name="p", client_id=""))
def test_a_saved_profile_loads_back_equal(profile: Profile) -> None:
    save_profile(profile)
    assert load_profile(profile.name) == profile


@settings(max_examples=300, deadline=None)
@given(profiles)
@example(FULL)
def test_the_document_is_toml_that_says_what_the_profile_holds(profile: Profile) -> None:
    document = tomllib.loads(profile.to_toml())
    assert document.pop("version") == 1
    assert document.pop("params", {}) == {k: list(v) for k, v in profile.params.items()}
    assert document.pop("template", {}) == profile.template
    expected = {
        field.name: list(value) if isinstance(value, tuple) else value
        for field in attrs.fields(Profile)
        if (value := getattr(profile, field.name)) is not None
        and field.name not in ("params", "template")
    }
    assert document == expected


def test_text_that_is_not_unicode_is_a_usage_error_and_nothing_is_written() -> None:
    # A command-line argument whose bytes were not UTF-8 arrives as lone surrogates.
    profile = Profile(name="work", client_id="caf\udce9")
    with pytest.raises(UsageError, match="not valid UTF-8 text"):
        stage_profile(profile)
    assert load_profile("work") is None
