"""The localhost listener where the machine's loopback differs: in network namespaces.

Each test runs a small Python program in a network namespace of its own (``unshare
--net``, root only), whose loopback is set up for the case: IPv6 switched off on ``lo``,
or an ephemeral port range of one or two ports so that the port the OS picks is known.
Nothing outside the namespace is touched.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest

from .support import WAIT

#: Prints one JSON line: the listener's addresses and port, or the UsageError it raised,
#: and the status of a callback sent to 127.0.0.1 (when a listener was made).
PROGRAM = """
import http.client, json, logging, socket, sys, threading
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
from pkceflow import UsageError
from pkceflow.loopback import LoopbackListener
from pkceflow_core import CallbackReply

squatters = []
for port in {squat}:  # another program, holding [::1]:port
    sock = socket.socket(socket.AF_INET6)
    sock.bind(("::1", port))
    sock.listen()
    squatters.append(sock)
try:
    listener = LoopbackListener("localhost", linger=0)
except UsageError as exc:
    print(json.dumps({{"error": str(exc)}}))
    sys.exit(0)
done = lambda target: CallbackReply(done=True, ok=True, message="ok")
waiting = threading.Thread(target=listener.wait, args=(done,), kwargs={{"timeout": 10}})
waiting.start()
# From a port of its own: the namespace's ephemeral range may have none left.
connection = http.client.HTTPConnection(
    "127.0.0.1", listener.port, timeout=10, source_address=("127.0.0.1", 50000)
)
connection.request("GET", "/callback?code=c&state=s")
status = connection.getresponse().status
waiting.join(10)
print(json.dumps({{"addresses": listener.addresses, "port": listener.port, "status": status}}))
"""


def _require_namespaces() -> None:
    missing = [tool for tool in ("unshare", "ip", "sysctl") if shutil.which(tool) is None]
    reason = None
    if os.geteuid() != 0:
        reason = "network namespaces need root"
    elif missing:
        reason = f"missing {', '.join(missing)} (util-linux, iproute2, procps)"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def run_in_namespace(*sysctls: str, squat: tuple[int, ...] = ()) -> tuple[dict[str, object], str]:
    """Run PROGRAM in a new network namespace after ``sysctl -w`` of each setting.

    Returns its JSON line and its standard error (the log).
    """
    _require_namespaces()
    steps = ["ip link set lo up", *(f"sysctl -qw {shlex.quote(s)}" for s in sysctls)]
    program = textwrap.dedent(PROGRAM).format(squat=list(squat))
    steps.append(f"exec {shlex.quote(sys.executable)} -c {shlex.quote(program)}")
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", " && ".join(steps)],
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
        check=False,
    )
    assert done.returncode == 0, done
    return json.loads(done.stdout), done.stderr


def test_without_an_ipv6_loopback_localhost_is_served_on_127_0_0_1_alone_and_says_so() -> None:
    result, log = run_in_namespace("net.ipv6.conf.lo.disable_ipv6=1")
    assert result["addresses"] == ["127.0.0.1"]
    assert result["status"] == 303
    assert "pkceflow.loopback: this machine has no IPv6 loopback" in log


def test_a_free_port_taken_on_ipv6_loopback_is_passed_over_for_another() -> None:
    # Two ephemeral ports; the other program holds one of them on ::1.
    result, _ = run_in_namespace("net.ipv4.ip_local_port_range=40000 40001", squat=(40001,))
    assert result == {"addresses": ["127.0.0.1", "::1"], "port": 40000, "status": 303}


def test_no_free_port_on_both_loopback_addresses_is_a_usage_error() -> None:
    result, _ = run_in_namespace("net.ipv4.ip_local_port_range=40000 40000", squat=(40000,))
    assert result == {
        "error": "found no port free on both 127.0.0.1 and ::1 in 1 tries;"
        " use the redirect host 127.0.0.1 or a given port"
    }
