"""The operator's tools: backup and restore across engines (``backup``, ``restore``, the file format in
``backupfile``, the tables in ``tables``) and the configuration check ``doctor``. Each module is called by
``liaison/cli`` and prints nothing itself. (The yearly division update is the directory's: ``directory.divisions``
plans it, ``directory.store.regions`` applies it.)
"""
