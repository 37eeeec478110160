"""People behind speaker labels, and how a digest names them.

"Official Spokesperson, Shri Randhir Jaiswal" is Randhir Jaiswal; "MR. KIRBY" is Kirby;
"С.В.Лавров (перевод с английского)" is С.В.Лавров. A label that names only an office
("MODERATOR", "SENIOR ADMINISTRATION OFFICIAL") names nobody; a bullet then names the office.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import iuliia

from digest.conventions import without_parentheses
from digest.resources import GlossaryEntry, LanguageSpec, Resources

_INITIALS = re.compile(r"^((?:[^\W\d_]\.\s?)+)(?=[^\W\d_]{2})")
_REGNAL_NUMBER = re.compile(r"^[IVX]+\.?$")
_SCRIPT_OF = {"ru": "Cyrl", "hi": "Deva", "en": "Latn"}


def person_in_label(label: str, resources: Resources) -> str | None:
    """The person a speaker label names, as the transcript writes it; None for an office."""
    specs = tuple(resources.languages.values())
    cleaned = without_parentheses(label)
    for part in cleaned.split(","):
        name = _strip_honorifics(part.strip(), specs)
        if name and not _is_office(name, specs):
            return _tidy_case(name)
    return None


def _strip_honorifics(text: str, specs: tuple[LanguageSpec, ...]) -> str:
    changed = True
    while changed and text:
        changed = False
        lowered = text.lower()
        for spec in specs:
            for word in spec.honorifics:
                after = lowered[len(word) : len(word) + 1]
                if lowered.startswith(word) and after in (" ", ".", ""):
                    text = text[len(word) :].lstrip(" .")
                    changed = True
                    break
            if changed:
                break
    return text.strip()


def _is_office(name: str, specs: tuple[LanguageSpec, ...]) -> bool:
    """A label made only of office words, labels and particles ("SENIOR ADMINISTRATION
    OFFICIAL", "MODERATOR", "Official Spokesperson")."""
    lowered = name.lower()
    if any(
        lowered in spec.question_labels
        or lowered in spec.moderator_labels
        # Answer labels are offices ("Official Spokesperson"), except the names some
        # transcripts use as labels ("С.В.Лавров").
        or (lowered in spec.answer_labels and "." not in lowered)
        or lowered in spec.job_titles
        for spec in specs
    ):
        return True
    tokens = re.split(r"[\s.]+", lowered)
    office = set().union(*(spec.official_words for spec in specs))
    return any(t in office for t in tokens) and all(
        t in office or len(t) <= 4 or t.endswith(("ive", "ior", "ion", "ary")) for t in tokens if t
    )


def _tidy_case(name: str) -> str:
    """ "KIRBY" -> "Kirby", "JEAN-PIERRE" -> "Jean-Pierre"; mixed case is kept."""
    if any(ch.isupper() for ch in name) and not any(ch.islower() for ch in name):
        return name.title()
    return name


def surname(name: str) -> str:
    """ "Randhir Jaiswal" -> "Jaiswal"; "С.В.Лавров" -> "Лавров"; "Queen Elizabeth II" ->
    "Elizabeth" (a regnal number is no surname)."""
    words = name.split()
    if len(words) > 1 and _REGNAL_NUMBER.match(words[-1]):
        words = words[:-1]
    last = words[-1] if words else name
    return _INITIALS.sub("", last) or last


def speaker_name(label: str, source: str, target: str, resources: Resources) -> str | None:
    """How a bullet names its speaker in a digest in ``target``: a surname, an office for an
    unnamed official ("Senior administration official") in the transcript's language, or
    None."""
    person = person_in_label(label, resources)
    if person is None:
        return _office_label(label, resources) if target == source else None
    entry = glossary_person(person, source, resources)
    if entry is not None and entry.forms.get(target):
        return surname(entry.forms[target])
    return transliterate(surname(person), target)


def _office_label(label: str, resources: Resources) -> str | None:
    """ "SENIOR ADMINISTRATION OFFICIAL" -> "Senior administration official"; None for a
    moderator or a reporter, who say nothing a bullet quotes."""
    text = without_parentheses(label).strip(" .,")
    lowered = text.lower()
    specs = resources.languages.values()
    if not text or any(
        lowered in spec.question_labels or lowered in spec.moderator_labels for spec in specs
    ):
        return None
    if text.isupper():
        text = lowered
    return text[:1].upper() + text[1:]


def glossary_person(name: str, language: str, resources: Resources) -> GlossaryEntry | None:
    """The glossary entry of a person whose form or alias in ``language`` is ``name`` or ends
    with its surname."""
    return _people_by_surname(resources).get((language, surname(name).lower()))


@cache
def _people_by_surname(resources: Resources) -> dict[tuple[str, str], GlossaryEntry]:
    found: dict[tuple[str, str], GlossaryEntry] = {}
    for entry in resources.glossary:
        if entry.kind != "person":
            continue
        for language, forms in entry.aliases.items():
            for form in forms:
                found.setdefault((language, surname(form).lower()), entry)
    return found


def transliterate(name: str, target: str) -> str:
    """A name in another script, written in ``target``'s script where a standard scheme exists:
    Cyrillic to Latin (the Wikipedia scheme) and Devanagari to Latin (IAST, without diacritics
    and with the final inherent vowel dropped). Other directions keep the original."""
    script = _script(name)
    if target != "en" or script == "Latn":
        return name
    if script == "Cyrl":
        return iuliia.WIKIPEDIA.translate(name)
    if script == "Deva":
        return " ".join(_devanagari_word(w) for w in name.split())
    return name


def _devanagari_word(word: str) -> str:
    # Imported on first use (about 0.4 s): only Devanagari names written in Latin need it.
    from indic_transliteration import sanscript

    latin = sanscript.transliterate(word, sanscript.DEVANAGARI, sanscript.IAST)
    plain = "".join(
        ch for ch in unicodedata.normalize("NFD", latin) if unicodedata.category(ch) != "Mn"
    )
    # Hindi drops the inherent vowel at the end of a word: "जायसवाल" is Jaiswal, not Jayasavala.
    if len(plain) > 3 and plain.endswith("a") and not plain.endswith("aa"):
        plain = plain[:-1]
    return plain[:1].upper() + plain[1:]


def _script(text: str) -> str:
    for ch in text:
        if "\u0400" <= ch <= "\u04ff":
            return "Cyrl"
        if "\u0900" <= ch <= "\u097f":
            return "Deva"
    return "Latn"
