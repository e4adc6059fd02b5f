"""Crash-safe node state in SQLite (WAL)."""
