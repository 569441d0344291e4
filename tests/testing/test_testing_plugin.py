"""The pytest plugin, the package's import cost and the demo server's command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from pkceflow.testing import HttpFollowingBrowser, TestProvider

from .helpers import request


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def test_fixtures(
    pkceflow_provider: TestProvider,
    pkceflow_browser: HttpFollowingBrowser,
    pkceflow_provider_factory: Callable[..., TestProvider],
) -> None:
    assert pkceflow_provider.running
    other = pkceflow_provider_factory(issuer_path="/x")
    assert other.issuer.endswith("/x")
    assert other.port != pkceflow_provider.port
    assert pkceflow_browser.decision == "approve"


def test_importing_the_plugin_is_light() -> None:
    code = textwrap.dedent(
        """
        import sys
        import pytest
        import pkceflow
        before = set(sys.modules)
        import pkceflow.testing.pytest_plugin
        import pkceflow.testing
        new = sorted(set(sys.modules) - before)
        assert new == ["pkceflow.testing", "pkceflow.testing.pytest_plugin"], new
        from pkceflow.testing import HttpFollowingBrowser
        assert "pkceflow.testing.provider" not in sys.modules
        from pkceflow.testing import TestProvider
        assert "pkceflow.testing.provider" in sys.modules
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_plugin_in_a_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "test_uses_plugin.py").write_text(
        textwrap.dedent(
            """
            import urllib.request

            def test_provider(pkceflow_provider, pkceflow_browser):
                url = pkceflow_provider.openid_configuration_url
                with urllib.request.urlopen(url) as response:
                    assert response.status == 200
                assert pkceflow_browser.open("http://example.com/") is False

            def test_internal_errors_fail_the_test(pkceflow_provider):
                pkceflow_provider._errors.append("Traceback: boom")
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pkceflow.testing.pytest_plugin", "-q"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "internal errors" in result.stdout


def test_demo_server_command_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pkceflow.testing", "--port", "0", "--issuer-path", "/demo"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        issuer = process.stdout.readline().strip()
        assert issuer.startswith("http://127.0.0.1:")
        assert issuer.endswith("/demo")
        reply = request(issuer + "/.well-known/openid-configuration")
        assert reply.json()["issuer"] == issuer
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_demo_server_refuses_a_remote_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pkceflow.testing", "--host", "0.0.0.0"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "non-loopback" in result.stderr
