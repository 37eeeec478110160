"""A fake Telegram Bot API on 127.0.0.1 and a webhook harness, for the tests and for
``bench/webhook_load.py``. Not used by the bot itself."""
