"""``python -m shoal`` is the ``shoal`` command."""

from .cli import main

main()
