"""``python -m service.cli``: the ``exim-ledger`` command (how ``serve`` starts its
projector with the interpreter it runs on)."""

from service.cli import main

main()
