"""Threadline's core: records, storage, identity, queries, export and the CLI. No Qt here."""

__version__ = "0.1.0"
