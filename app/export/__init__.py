"""Exports of one customer's history: a Qt-free HTML document and its PDF rendering.

``app.export.document`` builds the complete history of one customer (profile,
notes, every event oldest first) as a self-contained HTML document in the rich
text subset Qt understands; ``app.export.pdf`` lays that document out on A4 pages
with a header and a "page N of M" footer and writes the PDF atomically. Only
``pdf`` imports Qt, so everything else here runs and is tested without it.
"""
