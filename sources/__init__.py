"""Followed sources: RSS/Atom feeds and listing pages of transcripts, checked on a schedule.

Front-end neutral: the bot (``bot/follow_*.py``) and the ``watch`` command both use it. It
fetches through :mod:`sources.safe_fetch`, keeps its state behind
:class:`sources.store.SourceStore`, and knows nothing of Telegram.
"""
