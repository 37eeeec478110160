"""Builders for tests and benchmarks: tiny or full-size models with random weights, made
offline. Not used by the product itself; shipped so that benchmarks run from an install."""
