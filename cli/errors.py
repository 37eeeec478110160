"""The command line's own user errors (the other layers have theirs: settings, digest, models)."""


class CliError(Exception):
    """Bad arguments or a missing piece a user can provide; the message is one line."""
