"""Write prompts/hindi_names.toml: given names and surnames in Devanagari, from the person
providers of Faker (MIT licence) whose names are written in Devanagari (hi_IN, mr_IN, ne_NP).

Hindi has no capitals and the project bundles no Hindi tagger, so a name without an office
before it ("अमित शाह ने कहा") is found only as a given name followed by a surname, both from
these lists (digest/entities.py). Words that are also common Hindi words or places are left
out (see _COMMON), so that "भारत सरकार" (the Government of India) or "आशा व्यक्त की" (expressed
hope) never read as a person. Run when Faker is updated:
``pip install faker && python scripts/build_hindi_names.py > prompts/hindi_names.toml``.
The digest reads only the TOML; Faker is not needed at run time.
"""

from __future__ import annotations

import importlib
import json
import textwrap
import unicodedata

_LOCALES = ("hi_IN", "mr_IN", "ne_NP")
_GIVEN = ("first_names", "first_names_male", "first_names_female")
_SURNAMES = ("last_names",)
# Hindi words that Faker also lists as names: nouns, adjectives, numerals and places. Kept by
# hand; a name here is still found after an office or a courtesy ("श्री राज कुमार").
_COMMON = frozenset(
    [
        "एक",
        "काम",
        "इच्छा",
        "आशा",
        "कल्पना",
        "कविता",
        "कला",
        "कामना",
        "चेतना",
        "उपासना",
        "अभिलाषा",
        "आज्ञा",
        "आकांक्षा",
        "उम्मेद",
        "कमल",
        "कोमल",
        "ईश्वर",
        "ईश",
        "इन्द्र",
        "उत्तम",
        "उज्ज्वल",
        "अमर",
        "अमृत",
        "आनन्द",
        "आशय",
        "असीम",
        "अलंकार",
        "आभा",
        "आकाश",
        "किरण",
        "कीर्ति",
        "कल्याण",
        "काली",
        "काशी",
        "कुमारी",
        "भारत",
        "नेपाल",
        "नेपाली",
        "देव",
        "राज",
        "सूरज",
        "चन्द्र",
        "चाँद",
        "तारा",
        "प्रकाश",
        "ज्योति",
        "शान्ति",
        "शांति",
        "विजय",
        "दीपक",
        "मोती",
        "हीरा",
        "रत्न",
        "माला",
        "पूजा",
        "प्रेम",
        "प्रीति",
        "सुख",
        "सागर",
        "धन",
        "लक्ष्मी",
        "सरस्वती",
        "गंगा",
        "यमुना",
        "सीता",
        "राम",
        "कृष्ण",
        "श्याम",
        "गोपाल",
        "सत्य",
        "धर्म",
        "न्याय",
        "वीर",
        "शेर",
        "सरकार",
        "अधिकारी",
        "लेखक",
        "मुसलमान",
        "प्रधान",
        "मालिक",
        "मंडल",
        "मगर",
        "राय",
        "दास",
        "मिस्त्री",
        "प्रसाद",
        "नाथ",
        "सी",
        "कदम",
        "किल्ला",
        "माने",
        "साने",
        "ओक",
        "आलम",
        "गिरी",
        "राई",
        "शाही",
        "श्रेष्ठ",
        "श्रेष्\u200dठ",
        "साह",
    ]
)


def _names(attributes: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for locale in _LOCALES:
        module = importlib.import_module(f"faker.providers.person.{locale}")
        for attribute in attributes:
            values = getattr(module.Provider, attribute, ())
            if isinstance(values, (list, tuple, dict)):
                found.update(str(v) for v in values)
    return found


def _clean(names: set[str]) -> list[str]:
    """Single words in Devanagari, without the zero-width joiners some entries carry."""
    kept = set()
    for name in names:
        word = unicodedata.normalize("NFC", name.replace("\u200d", "").replace("\u200c", ""))
        word = word.strip("()")
        devanagari = all("\u0900" <= ch <= "\u097f" for ch in word)
        if devanagari and " " not in word and len(word) > 1 and word not in _COMMON:
            kept.add(word)
    return sorted(kept)


def main() -> None:
    print("# Given names and surnames in Devanagari (Faker's hi_IN, mr_IN and ne_NP person")
    print("# providers, MIT licence), less common Hindi words.")
    print("# Written by scripts/build_hindi_names.py; do not edit by hand.")
    print(_array("given", _clean(_names(_GIVEN))))
    print(_array("surnames", _clean(_names(_SURNAMES))))


def _array(key: str, items: list[str]) -> str:
    body = ", ".join(json.dumps(item, ensure_ascii=False) for item in items)
    lines = textwrap.wrap(body, width=96, break_long_words=False, break_on_hyphens=False)
    return f"{key} = [\n" + "".join(f"    {line}\n" for line in lines) + "]"


if __name__ == "__main__":
    main()
