"""The operator's tools: backup and restore across engines (``backup``, ``restore``, the file format in
``backupfile``, the tables in ``tables``), the configuration check ``doctor``, and the yearly division update
``divisions``. Each module is called by ``liaison/cli`` and holds no printing of its own.
"""
