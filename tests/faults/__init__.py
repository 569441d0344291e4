"""Fault injection: kill -9, a full or read-only disk, broken stores, hostile endpoints, floods."""
