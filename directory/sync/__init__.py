"""Publishing our offices into other LDAP directories and pulling a province's offices from its own, with ldap3.

Owns nothing itself; the modules own their concern: ``connect`` (opening, binding and reading a remote directory,
its faults as ``SyncFailed``), ``shapes`` (the entries we write, per flavour: OpenLDAP ``inetOrgPerson`` and AD
``contact`` with its length rules), ``plan`` (what to add, modify and delete, pure), ``state`` (each target's last
run in the ``meta`` table), ``publish`` (plan → gates → apply), ``pull`` (read → validate → all-or-nothing write)
and ``schedule`` (running targets from ``bohai serve``). Modelled on LSC: a sync phase, a gated clean phase, a dry
run. See docs/sync.md.
"""
