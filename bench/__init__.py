"""Benchmarks (figures, not tests). ``seq2seq_speed`` is also ``briefing-digest bench``; the
others run as scripts: ``python bench/offline_throughput.py``."""
