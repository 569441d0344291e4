"""The ``pkceflow`` command's entry point (the console script and ``python -m pkceflow``).

``pkceflow token`` is the hot path of scripts: with a valid cached token in the file
store it is answered here, by pkceflow._fast_token, with the standard library
alone. Anything else imports the command line (pkceflow.cli) and runs it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pkceflow``; returns the exit code (see pkceflow.cli.EXIT_CODES)."""
    from ._fast_token import fast_token

    argv = sys.argv[1:] if argv is None else list(argv)
    done = fast_token(argv)
    if done is not None:
        return done
    from .cli import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
