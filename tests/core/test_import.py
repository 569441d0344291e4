"""__init__.py: importing the core stays light, and its names are the public API."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pkceflow_core

NOT_IMPORTED = [
    "socket",
    "ssl",
    "http",
    "http.client",
    "urllib3",
    "pluggy",
    "jwt",
    "concurrent.futures",
    "queue",
    "selectors",
    "asyncio",
]

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(name for name in {names!r} if name in sys.modules)))
"""


def imported_by(module: str) -> list[str]:
    """Which NOT_IMPORTED modules a fresh interpreter holds after importing ``module``."""
    # Coverage's start-up hook would import modules of its own into the child.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, names=NOT_IMPORTED)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    found: list[str] = json.loads(result.stdout)
    return found


def test_importing_the_core_imports_no_network_plugin_or_concurrency_module() -> None:
    assert imported_by("pkceflow_core") == []


def test_the_hook_specifications_bring_pluggy_only_when_imported() -> None:
    assert "pluggy" in imported_by("pkceflow_core.hookspecs")


def test_every_public_name_is_importable_from_the_package() -> None:
    missing = [name for name in pkceflow_core.__all__ if not hasattr(pkceflow_core, name)]

    assert missing == []


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        pkceflow_core.Nope  # noqa: B018


def test_the_package_lists_exactly_its_public_names() -> None:
    assert dir(pkceflow_core) == sorted(pkceflow_core.__all__)


def test_a_program_that_needs_only_token_sets_does_not_load_the_flow() -> None:
    probe = (
        "import sys; from pkceflow_core import TokenSet;"
        " print('pkceflow_core._flow' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    assert result.stdout.strip() == "False"


def test_the_imports_type_checkers_read_are_the_lazy_exports() -> None:
    # The lazy names are listed once, in _EXPORTS; the TYPE_CHECKING imports only
    # repeat them for type checkers, and must not drift from them.
    source = ast.parse(Path(pkceflow_core.__file__).read_text(encoding="utf-8"))
    typed: dict[str, set[str]] = {}
    for node in ast.walk(source):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                assert statement.module is not None
                typed.setdefault(statement.module, set()).update(a.name for a in statement.names)
    lazy = {module: set(names) for module, names in pkceflow_core._EXPORTS.items()}
    assert typed == lazy


def test_internal_modules_are_named_as_internal() -> None:
    public = {"errors", "hookspecs", "oidc", "ports", "steps", "async_driver"}
    folder = Path(pkceflow_core.__file__).parent
    modules = {path.stem for path in folder.glob("*.py")} - {"__init__"}
    assert {name for name in modules if not name.startswith("_")} == public
