"""The read-only CardDAV face (RFC 6352, RFC 6578) in the web app, over the Snapshot and the one vCard writer.

Layered like the LDAP face: ``davxml`` (safe parsing, multistatus writing) → ``books`` (views, URLs, members,
cards) and ``sync`` (tokens over the durable change log) → ``props`` and ``reports`` (``query`` for the
addressbook-query filter) → ``server`` (routes, app-password login, methods, errors). No business rule lives
here: what a card says is ``directory.exchange.vcard``; who may log in is ``directory.apppasswords``.
"""
