"""oidc.py without the oidc extra: a pkceflow error that names the extra, nothing else."""

from __future__ import annotations

import importlib
import subprocess
import sys

import jwt.algorithms
import pytest

import pkceflow_core
from pkceflow_core.errors import MissingExtraError, PkceflowError, UsageError

_FIX = "pip install 'pkceflow-core[oidc]'"


def _import_oidc_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    # The module the other tests use is put back afterwards, in sys.modules and as
    # the package's attribute, so that their classes stay the same objects.
    original = importlib.import_module("pkceflow_core.oidc")
    monkeypatch.setattr(pkceflow_core, "oidc", original, raising=False)
    monkeypatch.delitem(sys.modules, "pkceflow_core.oidc")
    importlib.import_module("pkceflow_core.oidc")


def test_without_pyjwt_the_import_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(MissingExtraError) as caught:
        _import_oidc_afresh(monkeypatch)
    error = caught.value
    assert isinstance(error, UsageError)
    assert isinstance(error, PkceflowError)
    assert isinstance(error, ImportError)  # `except ImportError` keeps working
    assert _FIX in str(error)
    assert error.extra == "pkceflow-core[oidc]"
    assert error.name == "jwt"
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_pyjwt_without_cryptography_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwt.algorithms, "has_crypto", False)
    with pytest.raises(MissingExtraError, match=r"pip install 'pkceflow-core\[oidc\]'"):
        _import_oidc_afresh(monkeypatch)


def test_with_the_extra_the_module_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    _import_oidc_afresh(monkeypatch)
    assert callable(sys.modules["pkceflow_core.oidc"].validate_id_token)


def test_the_error_is_exported_with_the_others() -> None:
    assert pkceflow_core.MissingExtraError is MissingExtraError
    assert "MissingExtraError" in pkceflow_core.__all__


_BLOCKED_IMPORT = """
import sys
sys.modules["jwt"] = None  # as if PyJWT were not installed
import pkceflow_core.oidc
"""


def test_a_program_without_pyjwt_sees_one_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKED_IMPORT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("pkceflow_core.errors.MissingExtraError: ")
    assert _FIX in last_line
    # One traceback, with no chained ModuleNotFoundError before it.
    assert result.stderr.count("Traceback (most recent call last)") == 1
    assert "ModuleNotFoundError" not in result.stderr
    assert "During handling" not in result.stderr
    assert "direct cause" not in result.stderr
