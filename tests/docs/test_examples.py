"""Every Python example of the documentation runs, against the local test provider.

The markers that say how a block is run are described in tests/docs/examples.py.
A block without one fails ``test_every_python_block_is_run_or_marked_with_a_reason``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pkceflow.plugins import get_plugin_manager
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from pkceflow_core.hookspecs import hookimpl

from .examples import ROOT, Block, Chain, chains, markdown_files, python_blocks

ALL_BLOCKS: list[Block] = [block for path in markdown_files() for block in python_blocks(path)]
CHAINS: list[Chain] = chains(ALL_BLOCKS)

#: How long a browser may take to sign in, in seconds.
_SIGN_IN_TIMEOUT = 30.0


def test_every_python_block_is_run_or_marked_with_a_reason() -> None:
    unmarked = [
        f"{block.where}: {block.problem or 'no <!-- example: ... --> marker before the block'}"
        for block in ALL_BLOCKS
        if block.marker is None
    ]
    orphans = [
        f"{block.where}: continue without a run block before it"
        for block in ALL_BLOCKS
        if block.marker is not None
        and block.marker.kind == "continue"
        and not any(block in chain.blocks for chain in CHAINS)
    ]
    assert not unmarked + orphans, (
        "every ```python block in docs/ and README.md must be run or say why not"
        " (see tests/docs/examples.py):\n" + "\n".join(unmarked + orphans)
    )


def test_the_documentation_has_examples_to_run() -> None:
    # A parser that found nothing would make every other test here pass vacuously.
    run = {block.path.relative_to(ROOT).as_posix() for chain in CHAINS for block in chain.blocks}
    assert {"README.md", "docs/core.md", "docs/oidc.md"} <= run


def sign_in_through(url: str) -> str:
    """Sign in at ``url`` as a person would; return the URL the server redirected to.

    The browser stops at the authorization request's own redirect_uri, where the
    program (not this browser) takes over.
    """
    redirect_uri = parse_qs(urlsplit(url).query).get("redirect_uri", [""])[0]
    assert redirect_uri, f"the authorization URL has no redirect_uri: {url}"
    browser = HttpFollowingBrowser(stop_at=(redirect_uri,))
    assert browser.open(url), f"the browser cannot open {url}"
    final = browser.wait(timeout=_SIGN_IN_TIMEOUT)
    assert browser.stopped_at is not None, (
        f"the sign-in never came back to {redirect_uri}; it ended at"
        f" {final.url if final else None} ({final.status if final else '-'})"
    )
    return browser.stopped_at


class _SigningInBrowser:
    """A plugin: every pkceflow Client opens this browser, which signs in and approves."""

    def __init__(self) -> None:
        self.browsers: list[HttpFollowingBrowser] = []

    @hookimpl
    def pkceflow_browser(self, open_browser: bool) -> HttpFollowingBrowser:
        browser = HttpFollowingBrowser()
        self.browsers.append(browser)
        return browser

    def check(self) -> None:
        for browser in self.browsers:
            browser.wait(timeout=_SIGN_IN_TIMEOUT)  # re-raises what went wrong


@pytest.fixture
def example_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_SigningInBrowser]:
    """No example touches the user's own files, and every Client signs in headlessly."""
    monkeypatch.setenv("PKCEFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    plugin = _SigningInBrowser()
    manager = get_plugin_manager()
    manager.register(plugin, name="docs-examples-browser")
    try:
        yield plugin
    finally:
        manager.unregister(plugin)
    plugin.check()


def _start_provider(issuer: str, clients: tuple[str, ...]) -> TestProvider:
    path = urlsplit(issuer).path.rstrip("/")
    provider = TestProvider(issuer_path=path).start()
    for client_id in clients:
        provider.add_client(client_id)
    return provider


def _run(block: Block, namespace: dict[str, Any], replace: Callable[[str], str]) -> str:
    # Blank lines in front keep the Markdown file's line numbers in tracebacks.
    source = "\n" * block.line + replace(block.code)
    code = compile(source, block.where, "exec")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(code, namespace)
    return output.getvalue()


@pytest.mark.parametrize("chain", CHAINS, ids=[chain.first.where for chain in CHAINS])
def test_the_example_runs(chain: Chain, example_world: _SigningInBrowser) -> None:
    marker = chain.first.marker
    assert marker is not None
    provider: TestProvider | None = None
    namespace: dict[str, Any] = {"__name__": "__docs_example__"}
    placeholder = marker.provider

    def replace(code: str) -> str:
        if provider is None or placeholder is None:
            return code
        return code.replace(placeholder, provider.issuer)

    if placeholder is not None:
        provider = _start_provider(placeholder, marker.clients)
        namespace.update(provider=provider, sign_in=sign_in_through)
    try:
        for block in chain.blocks:
            assert block.marker is not None
            expect = block.marker.expect
            assert provider is not None or not expect, f"{block.where}: expect= needs provider="
            before = {name: provider.count(name) for name in expect} if provider else {}
            try:
                output = _run(block, namespace, replace)
            except Exception as exc:
                raise AssertionError(f"the example at {block.where} raised {exc!r}") from exc
            if provider is not None and placeholder is not None:
                assert placeholder not in output, f"{block.where} still names {placeholder}"
                for name, count in before.items():
                    assert provider.count(name) > count, (
                        f"the example at {block.where} sent no {name} request to the provider"
                    )
        example_world.check()
    finally:
        if provider is not None:
            provider.stop()
    assert provider is None or not provider.errors, provider.errors
