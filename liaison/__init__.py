"""Bohai Liaison liaison: letters between offices, delivery by e-mail and fax, deadlines, joint meetings.

Owns: everything that sends or receives mail. It builds on ``directory`` (never the other way round); the whole
program is composed in ``liaison.service`` and driven by ``liaison.cli``.
"""
