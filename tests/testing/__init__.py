"""Tests of pkceflow.testing: the local authorization server, the browser and the plugin."""
