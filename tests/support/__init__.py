"""Support code shared by the test suites, one module per kind.

- ``commands``: the ``pkceflow`` command (console script) and the processes it runs in;
- ``cli``: a runner of that command with a home of its own, and what a run did;
- ``raw_http``: HTTP servers on raw sockets, to misbehave as real servers would not;
- ``browsers``: headless browsers (the fake ``BROWSER`` command, Debian's Chromium);
- ``threads``: a call in a background thread, many calls at once, bounded polling;
- ``oauth``: grants issued by a TestProvider, PKCE pairs;
- ``id_tokens``: ``raises_check``, an IdTokenError of an expected ``check``;
- ``folders``: folders a worker process is to lose the right to write in;
- ``closing``: factories whose products are closed after the test;
- ``strategies``: hypothesis strategies;
- ``fixtures``: pytest fixtures the suites' conftest files import.

Import it as ``tests.support.<module>``: the repository root is on ``sys.path`` (see
``tests/conftest.py``).
"""
