"""Tests of pkceflow_core.oidc: id_token validation, in the manner of the OpenID RP tests."""
