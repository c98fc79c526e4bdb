"""Alembic migrations of the audit database (run by :meth:`riskmodel.records.audit.AuditStore.upgrade`)."""
