"""Import and export of the directory in files: CSV, XLSX, vCard (3.0 and Outlook 2.1) and LDIF.

Owns: the standard template (header, columns, formula-injection protection), one module per file format with pure
functions over rows, ``OfficeView``s or DIT entries, the import pipeline (``read_rows`` → ``check_rows`` →
``apply``) shared by the CLI and the web face, and ``export.render`` that turns a Snapshot into file bytes.
"""

from __future__ import annotations

from directory.exchange.export import FORMATS, render
from directory.exchange.importer import ImportPlan, apply, check_rows, import_file, preview, read_rows
from directory.exchange.table import HEADER, LIAISON_COLUMN, Table

__all__ = [
    "FORMATS",
    "HEADER",
    "LIAISON_COLUMN",
    "ImportPlan",
    "Table",
    "apply",
    "check_rows",
    "import_file",
    "preview",
    "read_rows",
    "render",
]
