"""``python -m monai_medcomp`` is the ``medcomp`` command."""

from .cli import main

raise SystemExit(main())
