"""Source-format connectors: parse a file and yield ``app.records`` items. No storage, no Qt."""
