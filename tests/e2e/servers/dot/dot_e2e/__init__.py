"""A minimal Django project serving Django OAuth Toolkit for the end-to-end suite.

It runs in its own virtual environment (``tests/e2e/.e2e-cache/dot-venv``), started by
``tests/e2e/servers/dot.py`` as ``python -m dot_e2e.serve STATE_DIR``.
"""
