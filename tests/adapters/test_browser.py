"""WebBrowserLauncher: the system browser through webbrowser, or the URL on the terminal."""

from __future__ import annotations

import io
import sys
import time
import webbrowser
from pathlib import Path

import pytest

from pkceflow.browser import WebBrowserLauncher, browser_available

URL = "https://auth.example.test/authorize?client_id=cli&state=s&code_challenge=c"

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the display rules are the Linux ones"
)


@pytest.fixture
def fresh_webbrowser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make webbrowser read $BROWSER again (it registers browsers once per process)."""
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "TERM"):
        monkeypatch.delenv(name, raising=False)


def _browser_script(directory: Path, exit_code: int = 0) -> tuple[Path, Path]:
    """An executable that appends its arguments to a file, standing in for a browser."""
    log = directory / "opened.txt"
    script = directory / "fake-browser"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)
    return script, log


def test_with_open_browser_false_the_url_is_printed_and_false_returned() -> None:
    out = io.StringIO()
    assert WebBrowserLauncher(open_browser=False, out=out).open(URL) is False
    assert f"Open this URL in a browser to sign in:\n\n  {URL}\n" in out.getvalue()


@linux_only
@pytest.mark.usefixtures("no_display", "fresh_webbrowser")
def test_without_a_display_or_browser_on_linux_the_url_is_printed() -> None:
    out = io.StringIO()
    assert WebBrowserLauncher(out=out).open(URL) is False
    assert f"\n  {URL}\n" in out.getvalue()


@pytest.mark.usefixtures("no_display", "fresh_webbrowser")
def test_the_browser_named_by_the_browser_variable_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = _browser_script(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    out = io.StringIO()
    assert WebBrowserLauncher(out=out).open(URL) is True
    assert log.read_text() == URL + "\n"
    assert "Opened your browser" in out.getvalue()
    assert URL in out.getvalue()  # shown as well, in case the browser did not come up


@pytest.mark.usefixtures("no_display", "fresh_webbrowser")
def test_a_browser_that_fails_falls_back_to_printing_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = _browser_script(tmp_path, exit_code=1)
    monkeypatch.setenv("BROWSER", str(script))
    out = io.StringIO()
    assert WebBrowserLauncher(out=out).open(URL) is False
    assert log.read_text() == URL + "\n"
    assert f"Open this URL in a browser to sign in:\n\n  {URL}\n" in out.getvalue()


def test_the_url_goes_to_standard_error_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    WebBrowserLauncher(open_browser=False).open(URL)
    captured = capsys.readouterr()
    assert URL in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"BROWSER": "firefox"}, "linux", True),
        ({}, "freebsd14", False),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_browser_available_follows_display_and_browser_variables(
    environ: dict[str, str], platform: str, expected: bool
) -> None:
    assert browser_available(environ, platform) is expected


@pytest.mark.usefixtures("no_display", "fresh_webbrowser")
def test_a_browser_command_that_keeps_running_does_not_block_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # webbrowser waits for a BROWSER command (w3m, lynx...) until it exits; the
    # redirect it follows can only be answered once open() has returned.
    script = tmp_path / "terminal-browser"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    script.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(script))
    monkeypatch.setattr("pkceflow.browser.LAUNCH_WAIT", 0.2)
    started = time.monotonic()

    assert WebBrowserLauncher(out=io.StringIO()).open(URL) is True
    assert time.monotonic() - started < 5
