"""A cheaper PBKDF2 hasher for a test server (see PASSWORD_HASHERS in settings.py)."""

from __future__ import annotations

from django.contrib.auth.hashers import (  # type: ignore[import-not-found]
    PBKDF2PasswordHasher,
)


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):  # type: ignore[misc]
    algorithm = "pbkdf2_sha256_e2e"
    iterations = 1000
