"""Errors a user can act on; their message is shown as is."""


class DigestError(Exception):
    """Base class: the message is one line that names the input and the problem."""


class IngestError(DigestError):
    """An input could not be read (missing, empty, binary, too large, no text layer...)."""


class NothingToDigestError(DigestError):
    """The transcript has text, but no statement: only questions, greetings or fragments."""


class UnsupportedLanguageError(DigestError):
    """The text is not in English, Hindi or Russian."""

    def __init__(self, code: str, name: str | None = None) -> None:
        self.code = code
        where = f"{name}: " if name else ""
        super().__init__(f"{where}unsupported language: {code} (supported: en, hi, ru)")
