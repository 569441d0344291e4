"""``pkceflow token`` with a valid cached token loads neither the HTTP stack nor plugins."""

from __future__ import annotations

import re
import sys

import pytest

from pkceflow.testing import TestProvider

from .helpers import Cli

# Modules (and packages, with everything under them) a cached token must not need.
FORBIDDEN_PACKAGES = ("urllib3", "pluggy", "jwt", "cryptography")
FORBIDDEN_MODULES = ("http.client", "socket", "ssl", "pkceflow.transport", "pkceflow.plugins")
_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)$")


def _imports(stderr: str) -> list[tuple[int, str]]:
    """(depth, module) per ``-X importtime`` line, in its order (children first)."""
    found = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            found.append((len(match.group(1)) // 2, match.group(2)))
    return found


def _chain(imports: list[tuple[int, str]], index: int) -> str:
    """Who imported ``imports[index]``: the enclosing lines that follow it."""
    depth, name = imports[index]
    chain = [name]
    for parent_depth, parent in imports[index + 1 :]:
        if parent_depth < depth:
            chain.append(parent)
            depth = parent_depth
    return " <- ".join(chain)


@pytest.mark.parametrize("how", ["python -X importtime -m pkceflow", "console script"])
def test_a_cached_token_needs_no_http_stack(cli: Cli, provider: TestProvider, how: str) -> None:
    seeded = cli.seed(provider)

    if how == "console script":
        result = cli.run("token", "--profile", "work", env={"PYTHONPROFILEIMPORTTIME": "1"})
    else:
        command = [sys.executable, "-X", "importtime", "-m", "pkceflow"]
        result = cli.run("token", "--profile", "work", command=command)

    assert result.returncode == 0, result
    assert result.stdout == seeded.access_token + "\n"
    imports = _imports(result.stderr)
    names = {name for _, name in imports}
    assert "pkceflow._fast_token" in names  # the check sees pkceflow's own imports
    offending = [
        _chain(imports, i)
        for i, (_, name) in enumerate(imports)
        if name in FORBIDDEN_MODULES or name.split(".")[0] in FORBIDDEN_PACKAGES
    ]
    assert offending == []
    assert provider.count() == 0
