"""Runtimes that turn text into numbers (embeddings), shared by engines."""
