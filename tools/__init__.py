"""Operators' and developers' scripts; run the benchmarks as ``python -m tools.<name>``."""
