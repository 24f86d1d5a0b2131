"""Tradewind's benchmark harness: the workloads of shared/BENCHMARKS.md on real services."""
