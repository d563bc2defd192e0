"""The suite's fixtures live in ``tests/support`` (databases on SQLite and PostgreSQL, the mail sink, the clock, the
web client …); this file only loads them for every test."""

pytest_plugins = [
    "tests.support.databases",
    "tests.support.fixtures",
    "tests.support.slapd",
    "tests.support.browser",
    "tests.support.staffweb",
]
