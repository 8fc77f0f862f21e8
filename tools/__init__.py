"""The auditor's stand-alone verifier, ``tools/verify_ledger.py`` (run as a script); it imports
nothing from the repository."""
