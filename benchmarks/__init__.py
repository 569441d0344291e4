"""Benchmarks of pkceflow against the standard library and its peers (see README.md)."""
