"""Bohai Liaison directory: the shared contact directory of the Bohai-Rim migrant-population offices.

Owns: regions, offices, contacts, accounts and their audit trail; validation, import/export, search; and the faces
that publish the directory (web pages, JSON API, LDAP). It never imports ``liaison``.
"""
