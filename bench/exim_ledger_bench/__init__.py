"""``exim-ledger bench``: the ledger measured side by side with a baseline in the same run.

Each scenario runs real processes (the shipped ``exim-ledger serve`` on a fresh database, a
load generator in another process) and reports throughput with p50/p99/max latency next
to its baseline; a ratio is what is compared between runs, as the machines are noisy.
"""
