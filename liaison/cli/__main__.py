"""``python -m liaison.cli``: the ``bohai`` command without the installed script."""

from liaison.cli import main

raise SystemExit(main())
