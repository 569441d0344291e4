"""What every suite needs before its own conftest runs: the repository root on ``sys.path``.

The suites import shared code as ``tests.support.<module>`` (and the core's fakes as
``tests.core.fakes``); ``python -m pytest`` from the root puts it there already, any
other way of starting pytest does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
