"""Benchmarks for clinextract: throughput A/B, per-document overhead, memory (`make bench`)."""
