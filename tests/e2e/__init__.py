"""End-to-end tests: pkceflow against oidc-provider (Node) and Debian's Chromium."""
