"""Tests of the ``pkceflow`` command line, run as a real subprocess."""
