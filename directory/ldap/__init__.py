"""The read-only LDAP face (DESIGN §4): BER codec → PDUs → filters → backend over the Snapshot → asyncio server."""
