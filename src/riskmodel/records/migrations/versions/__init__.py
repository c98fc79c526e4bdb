"""The audit database's revisions, oldest first (``0001_baseline``, ``0002_decisions_sessions``)."""
