"""Write prompts/given_names.txt: given names in Latin script, from the person providers of
Faker (MIT licence), for every locale it has.

A capitalised pair in an English transcript whose first word is a given name and whose last
word no dictionary lists ("Evan Gershkovich") is a person even when named once
(digest/entities.py). Run when Faker is updated:
``pip install faker && python scripts/build_given_names.py > prompts/given_names.txt``.
The digest reads only the text file; Faker is not needed at run time.
"""

from __future__ import annotations

import importlib
import pkgutil
import unicodedata

from faker.providers import person

_ATTRIBUTES = ("first_names", "first_names_male", "first_names_female", "first_romanized_names")
# Latin letters with their accents: Basic Latin to Latin Extended-B.
_LAST_LATIN = 0x24F


def _latin(name: str) -> bool:
    letters = [ch for ch in name if ch.isalpha()]
    return bool(letters) and all(ord(ch) <= _LAST_LATIN for ch in letters)


def given_names() -> list[str]:
    names: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attribute in _ATTRIBUTES:
            values = getattr(provider, attribute, ())
            if isinstance(values, (list, tuple, dict)):  # some locales compute them
                names.update(str(v) for v in values)
    single = {unicodedata.normalize("NFC", n) for n in names if " " not in n and len(n) > 1}
    return sorted(n for n in single if _latin(n) and n[0].isupper())


def main() -> None:
    print("# Given names in Latin script (Faker's person providers, MIT licence).")
    print("# Written by scripts/build_given_names.py; do not edit by hand.")
    for name in given_names():
        print(name)


if __name__ == "__main__":
    main()
