"""The use cases: ``commands`` (what a request asks), ``decide`` (pure: commands, the
loaded facts and the clock -> events or a refusal), ``application`` (load -> decide ->
append), ``program`` (policy on the ledger), ``snapshots`` and ``cache``."""
