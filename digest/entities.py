"""Key people, places and organisations.

Sources, in order of trust:
1. the glossary and the gazetteer (prompts/), whose kinds are known;
2. speaker labels ("MR. KIRBY:" names Kirby);
3. for Russian, natasha's named-entity tagger, with names in the nominative;
4. for English, repeated capitalised names that look like a person's.
An office ("Prime Minister") is never a person, nor is anything the gazetteer knows as a place
or an organisation.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

from digest.model import Entity, EntityKind, SentenceKind, Transcript
from digest.names import russian_names
from digest.resources import GlossaryEntry, Resources
from digest.speakers import glossary_person, person_in_label, surname, transliterate
from models.text import in_dictionary

_PROPER = re.compile(
    r"\b[A-ZА-ЯЁ][\w’'\-]+(?:\s+(?:[A-ZА-ЯЁ][\w’'\-]+|of|the|for|и))*\s+[A-ZА-ЯЁ][\w’'\-]+"
)
_ORGANISATION_WORDS = frozenset(
    [
        "ministry",
        "council",
        "union",
        "corridor",
        "bank",
        "organisation",
        "organization",
        "committee",
        "agency",
        "commission",
        "forum",
        "company",
        "corporation",
        "university",
        "institute",
        "department",
        "office",
        "house",
        "parliament",
        "assembly",
        "court",
        "fund",
        "group",
        "party",
        "army",
        "navy",
        "force",
        "forces",
        "alliance",
        "treaty",
        "trust",
        "facility",
        "initiative",
        "programme",
        "program",
        "service",
        "grants",
        "hub",
        "center",
        "centre",
        "министерство",
        "совет",
        "союз",
        "банк",
        "комитет",
        "агентство",
        "комиссия",
        "корпорация",
        "университет",
        "институт",
        "департамент",
        "фонд",
        "партия",
    ]
)
# Last words that make a name a place ("Kursk Region", "Capitol Hill", "Korean Peninsula").
_PLACE_WORDS = frozenset(
    [
        "region",
        "peninsula",
        "hill",
        "island",
        "islands",
        "sea",
        "ocean",
        "river",
        "valley",
        "province",
        "oblast",
        "state",
        "city",
        "district",
        "mountains",
        "coast",
        "bay",
        "strait",
        "gulf",
        "border",
        "square",
        "street",
        "area",
        "zone",
        "territory",
        "territories",
        "room",
        "hall",
        "airport",
        "base",
        "balkans",
    ]
)
# First words that make a name something other than a person: storms, operations, regions.
_NOT_PERSON_OPENERS = frozenset(
    [
        "hurricane",
        "typhoon",
        "storm",
        "cyclone",
        "operation",
        "western",
        "eastern",
        "northern",
        "southern",
        "central",
        "big",
        "ask",
        "poisoning",
        "north",
        "south",
        "east",
        "west",
        "defense",
        "defence",
        "state",
        "treasury",
        "homeland",
        "уважаемый",
        "уважаемая",
        "уважаемые",
        "дорогой",
        "дорогая",
    ]
)
# Endings of English abstract nouns, never the last word of a person's name.
_NOUN_ENDINGS = ("tion", "sion", "ment", "ness", "ity", "ance", "ence", "ism", "ship")
_KINDS: tuple[EntityKind, ...] = ("person", "place", "organisation")
_POSSESSIVE = re.compile(r"['’]s?$")
# Two to seven capitals, maybe a hyphenated part: "NIA", "ISIS-K", "IRIGC-TEC", "ОДКБ".
_ACRONYM = re.compile(
    r"(?<![\w\-.])[A-ZА-ЯЁ]{2,7}(?:-[A-ZА-ЯЁ0-9]{1,5})?(?![\w\-]|\.\w)"
)
# A sentence with more capitals than this share is shouted (a title, a label): no acronyms.
_SHOUTED_SHARE = 0.5
_SURE_ACRONYM_LETTERS = 3
# Lower-case words that join the parts of an organisation's or a place's name, never a person's.
_CONNECTORS = frozenset(["of", "the", "for", "and", "on", "и", "по", "для"])
_CONNECTOR_SPLIT = re.compile(r"\s+(?:of|for|and|on)\s+")
# The cardinal points name sides of the world's politics, not places on a map.
_NOT_PLACES = frozenset(["запад", "восток", "север", "юг"])
_MODERATION = frozenset([SentenceKind.PLEASANTRY, SentenceKind.FRAGMENT])
# "I'm", "we're", "don't": an apostrophe followed by a lower-case ending ("O'Keefe" is a name).
_CONTRACTION = re.compile(r"['’](?:m|re|ve|ll|d|t)\b")
# Words of address that open a name in English text but are no part of it.
_LEADING_COURTESIES = frozenset(["holiness", "excellency", "majesty", "highness", "his", "her"])
# A capitalised pair not in the glossary is listed only when it recurs; a name that a tagger
# or an office ("President Biden") marks as a person needs one mention.
_MIN_UNKNOWN_MENTIONS = 2
_PERSON_MAX_WORDS = 4
_NAME_AFTER_TITLE_MAX_WORDS = 3
# "S.", "एस.", "Дж.": an initial, which goes on to the rest of the name.
_INITIAL_MAX_CHARS = 3
_INITIAL_WORD = re.compile(r"^[^\W\d_]\.$")
# Titles that are often not followed by a name ("General Electric", "the Speaker's office").
_AMBIGUOUS_TITLES = frozenset(
    ["general", "chair", "chairman", "speaker", "king", "queen", "envoy", "governor"]
)
_HINDI_NAME_TITLES = frozenset(
    [
        "श्री",
        "श्रीमती",
        "सुश्री",
        "डॉ",
        "डॉ.",
        "राष्ट्रपति",
        "प्रधानमंत्री",
        "प्रधान मंत्री",
        "विदेश मंत्री",
        "रक्षा मंत्री",
        "उपराष्ट्रपति",
        "महासचिव",
        "महामहिम",
    ]
)
# Hindi words after a title that end like a verb or a particle are not a name.
_HINDI_NOT_NAME_ENDINGS = ("गे", "गा", "गी", "ना", "ने", "ता", "ती", "ते", "या", "यी", "ये")
_HINDI_VERB_ENDINGS = ("गे", "गा", "गी", "ता", "ती", "ते", "एँ", "ाए", "ाई")
_HINDI_PARTICLES = frozenset(["जी", "डॉ", "डॉ.", "श्री", "श्रीमती", "सुश्री", "महोदय"])


@dataclass(frozen=True, slots=True)
class Mention:
    """A name found in the transcript; ``entry`` is None for names not in the glossary."""

    entry: GlossaryEntry | None
    surface: str
    kind: EntityKind
    count: int


@cache
def _known_pattern(
    resources: Resources, language: str
) -> tuple[re.Pattern[str], dict[str, GlossaryEntry]]:
    """One alternation of every glossary and gazetteer form in ``language``, longest first."""
    owner: dict[str, GlossaryEntry] = {}
    for entry in (*resources.glossary, *resources.gazetteer):
        for form in entry.aliases.get(language, ()):
            owner.setdefault(form, entry)
    alternatives = sorted(owner, key=len, reverse=True)
    body = "|".join(re.escape(a) for a in alternatives) or r"(?!x)x"
    # Word boundaries written out: \b does not see Devanagari vowel signs as word characters.
    pattern = re.compile(rf"(?<![\w\u0900-\u097F])(?:{body})(?![\w\u0900-\u097F])")
    return pattern, owner


@cache
def _known_names(resources: Resources) -> dict[str, GlossaryEntry]:
    """Every known form, lower-cased, in any language: to recognise a tagged name. "ё" is
    also known as "е", which most Russian texts write for it."""
    names: dict[str, GlossaryEntry] = {}
    for entry in (*resources.glossary, *resources.gazetteer):
        for forms in entry.aliases.values():
            for form in forms:
                names.setdefault(form.lower(), entry)
                names.setdefault(form.lower().replace("ё", "е"), entry)
    return names


def known_name(name: str, resources: Resources) -> GlossaryEntry | None:
    """The glossary or gazetteer entry that has ``name`` among its forms, in any language."""
    return _known_names(resources).get(name.lower())


def find_entities(transcript: Transcript, resources: Resources, limit: int) -> list[Mention]:
    """Names in the transcript, most mentioned first."""
    known: Counter[int] = Counter()
    entries: dict[int, GlossaryEntry] = {}
    unknown: Counter[tuple[str, EntityKind]] = Counter()
    acronyms: Counter[str] = Counter()
    # People vouched for by a tagger or an office, not by repetition.
    tagged: Counter[str] = _titled_people(transcript, resources)
    for sentence in transcript.sentences:
        pattern, owner = _known_pattern(resources, sentence.language)
        covered = sentence.text
        for match in pattern.finditer(sentence.text):
            entry = owner[match[0]]
            known[id(entry)] += 1
            entries[id(entry)] = entry
            covered = covered.replace(match[0], " ")
        # A name heard only in moderation ("Go ahead, Nadia Bilbassy", or the name alone:
        # "Christian Datoc.") is a reporter's.
        if sentence.language == "en" and sentence.kind not in _MODERATION:
            stop = resources.stopwords["en"]
            for m in _PROPER.finditer(covered):
                english = resources.languages["en"]
                name = _strip_function_words(m[0], stop, english.honorifics, english.job_titles)
                kind = _guess_kind(name, resources)
                if kind is None and _CONNECTOR_SPLIT.search(name):
                    # "President of the People’s Republic of China Xi Jinping": the name is
                    # what follows the last "of".
                    tail = _CONNECTOR_SPLIT.split(name)[-1]
                    name = _strip_function_words(
                        tail, stop, english.honorifics, english.job_titles
                    )
                    kind = _guess_kind(name, resources)
                if kind is None:
                    continue
                unknown[(name, kind)] += 1
                if kind == "person" and _given_and_rare(name, resources):
                    tagged[name] += 1
    if transcript.language == "ru":
        # The tagger reads whole sentences (names in context). Its nominative forms find the
        # places the gazetteer lists only in the nominative ("в Молдавии"); people of the
        # glossary were already counted through their case forms.
        ru_text = "\n".join(s.text for s in transcript.sentences if s.language == "ru")
        known_names = _known_names(resources)
        tagged_known: Counter[int] = Counter()
        common = resources.languages["ru"].common_acronyms
        for name, kind in russian_names(ru_text):
            if name in common or name.lower() in _NOT_PLACES:
                continue  # "СМИ" (the media), "Запад" (the West): no body, no place
            entry = known_names.get(name.lower().replace("ё", "е"))
            if entry is not None and entry.kind != "person":
                tagged_known[id(entry)] += 1
                entries[id(entry)] = entry
            elif entry is not None or _known_surname(name, resources):
                continue
            elif kind == "person":
                if not _person_like(name, resources, single_word=True):
                    continue
                if "." in name or " " in name:
                    tagged[name] += 1
                else:
                    # A lone word the tagger calls a person ("Кишиневу") must recur.
                    unknown[(name, kind)] += 1
            else:
                unknown[(name, kind)] += 1

        # The same mentions, seen by both: the larger count, not the sum.
        for key, count in tagged_known.items():
            known[key] = max(known[key], count)

    for name, count in _acronyms(transcript, resources).items():
        # Three capitals are rarely anything but a body ("UNIFIL" said once); two often are.
        if count >= _MIN_UNKNOWN_MENTIONS or len(name) >= _SURE_ACRONYM_LETTERS:
            acronyms[name] = count

    mentions = Counter(tagged)
    for (name, kind), count in unknown.items():
        if kind == "person":
            mentions[name] += count
    found: list[Mention] = []
    for key, count in known.items():
        entry = entries[key]
        kind: EntityKind = entry.kind if entry.kind in _KINDS else "organisation"  # type: ignore[assignment]
        found.append(Mention(entry, entry.forms.get(transcript.language, ""), kind, count))
    for (name, kind), count in unknown.items():
        if kind != "person" and count >= _MIN_UNKNOWN_MENTIONS and name not in acronyms:
            found.append(Mention(None, name, kind, count))
    found.extend(Mention(None, name, "organisation", n) for name, n in acronyms.items())
    found.extend(_people(mentions, set(tagged), found, resources.given_names))
    found.extend(_speakers(transcript, resources, found))
    found.sort(key=lambda m: -m.count)
    # Each kind has its own limit, so that many places never push out the people.
    return _limited(found, limit)


def _acronyms(transcript: Transcript, resources: Resources) -> Counter[str]:
    """Acronyms outside the glossary ("UNIFIL", "ОДКБ", "NIA"): organisations, unless a
    language lists them as common ("GDP", "СМИ") or a gazetteer knows them as a place. Lines
    in capitals (titles, labels) say nothing about them."""
    known = _known_names(resources)
    common = set().union(*(spec.common_acronyms for spec in resources.languages.values()))
    found: Counter[str] = Counter()
    for sentence in transcript.sentences:
        if sentence.kind is SentenceKind.PLEASANTRY:
            continue  # "Sidhant from WION": the reporter's outlet
        text = sentence.text
        letters = [ch for ch in text if ch.isalpha()]
        if not letters or sum(ch.isupper() for ch in letters) > _SHOUTED_SHARE * len(letters):
            continue
        for match in _ACRONYM.finditer(text):
            name = match[0]
            if name in common or name.lower() in known:
                continue
            found[name] += 1
    return found


def _limited(found: list[Mention], limit: int) -> list[Mention]:
    kept: list[Mention] = []
    for kind in _KINDS:
        kept.extend([m for m in found if m.kind == kind][:limit])
    return kept


def _people(
    mentions: Counter[str], vouched: set[str], found: list[Mention], given: frozenset[str]
) -> list[Mention]:
    """Unknown people merged by surname ("Lavrov" into "Sergey Lavrov"); a name is kept when
    a tagger or an office marked it, or when it recurs."""
    known_surnames = {
        surname(form).lower()
        for m in found
        if m.kind == "person" and m.entry is not None
        for forms in m.entry.aliases.values()
        for form in forms
    }
    surnames = {surname(n).lower() for n in mentions if len(n.split()) > 1} | known_surnames
    # "Xi" is "Xi Jinping": family names come first in Chinese, so a lone word that opens a
    # longer name goes with it.
    openers = {n.split()[0].lower(): surname(n).lower() for n in mentions if len(n.split()) > 1}
    groups: dict[str, list[str]] = {}
    for name in mentions:
        first = name.split()[0].lower() if name.split() else ""
        if len(name.split()) == 1 and first not in surnames and first in openers:
            key = openers[first]
        elif len(name.split()) > 1 and first in surnames:
            # "Sánchez Vadodara" (a surname, then the place the sentence goes on to) is Sánchez.
            key = first
        else:
            key = surname(name).lower()
        groups.setdefault(key, []).append(name)
    people = []
    for last, names in groups.items():
        if last in known_surnames or not last:
            continue
        count = sum(mentions[n] for n in names)
        # "Affordable Care Act", "Global South": common words, capitalised; a name of common
        # words counts when it opens with a given name ("Bill Burns") or an office or a
        # tagger vouches for it.
        # Each form counts its own mentions and those of the bare surname: "Happy Mother’s
        # Day" and "Victory Day" share a last word, not a person.
        singles = sum(mentions[n] for n in names if len(n.split()) == 1)
        recurs = any(
            (not _common_words(n) or n.split()[0].lower() in given)
            and mentions[n] + (singles if len(n.split()) > 1 else 0) >= _MIN_UNKNOWN_MENTIONS
            for n in names
        )
        marked = any(n in vouched for n in names) or recurs
        if marked:
            # The fullest form, then the most frequent: "Jake Sullivan" over "Sullivan".
            best = max(names, key=lambda n: (len(n.split()), mentions[n]))
            people.append(Mention(None, best, "person", count))
    return people


def _titled_people(transcript: Transcript, resources: Resources) -> Counter[str]:
    """Names right after an office or honorific: "President Biden", "Secretary Blinken",
    "प्रधानमंत्री नरेन्द्र मोदी"."""
    found: Counter[str] = Counter()
    for sentence in transcript.sentences:
        pattern = _title_pattern(resources, sentence.language)
        if pattern is None or sentence.kind in _MODERATION:
            continue
        stop = resources.stopwords[sentence.language]
        for match in pattern.finditer(sentence.text):
            if _office_pattern(resources, honorifics=False).match(match["rest"].lower()):
                continue  # "Mr. Prime Minister": an office addressed, no name
            honorifics = resources.languages[sentence.language].honorifics
            name = _name_after(match["rest"], sentence.language, stop, honorifics)
            if name and _person_like(name, resources, single_word=True):
                found[name] += 1
    return found


@cache
def _title_pattern(resources: Resources, language: str) -> re.Pattern[str] | None:
    spec = resources.languages[language]
    if language == "ru":  # natasha finds Russian names
        return None
    titles = (spec.job_titles | set(spec.honorifics)) - _AMBIGUOUS_TITLES
    if language == "hi":
        # Devanagari has no capitals to tell a name from "मंत्री स्तर": only offices that are
        # always followed by a name.
        titles &= _HINDI_NAME_TITLES
    if not titles:
        return None
    body = "|".join(re.escape(t) for t in sorted(titles, key=len, reverse=True))
    flags = re.IGNORECASE if language == "en" else 0
    # The name is read in a lookahead so that "President Biden and Secretary Blinken" yields
    # both: the first match must not swallow the second title.
    return re.compile(
        rf"(?<![\w\u0900-\u097F])(?:{body})\.?\s+(?=(?P<rest>[^,;:()]{{1,80}}))", flags
    )


def _name_after(
    text: str, language: str, stop: frozenset[str], honorifics: tuple[str, ...] = ()
) -> str:
    """The name that opens ``text``: capitalised words in English, words up to a function
    word in Hindi."""
    taken: list[str] = []
    tokens = text.split()
    for index, word in enumerate(tokens):
        bare = _POSSESSIVE.sub("", word.strip(".,;:!?\"'’“”()"))
        if not bare or len(taken) >= _NAME_AFTER_TITLE_MAX_WORDS:
            break
        if language == "en":
            if not taken and bare.lower() in honorifics:
                continue  # "President Smt. Droupadi Murmu"
            if not bare[0].isupper() or bare.lower() in stop:
                break
        elif bare == "जी" and not taken:
            break  # "प्रधानमंत्री जी": the title itself, honoured; no name follows
        elif bare in _HINDI_PARTICLES and not taken:
            continue
        elif (
            bare in stop
            or bare in _HINDI_PARTICLES
            or (len(bare) > _INITIAL_MAX_CHARS and bare.endswith(_HINDI_NOT_NAME_ENDINGS))
            or not any("\u0900" <= ch <= "\u097f" for ch in bare)
        ):
            break
        # "S.", "एस.", and runs of them: "जी.वी.", "М.В.".
        initial = word.endswith(".") and all(
            0 < len(part) <= _INITIAL_MAX_CHARS for part in bare.split(".")
        )
        taken.append(f"{bare}." if initial else bare)
        if word.endswith((",", ".", ";", ":")) and not initial:
            break
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if language == "hi" and _hindi_verb(following):
            return ""  # "विदेश मंत्री मनामा जाएंगे": the office goes somewhere; no name
    return " ".join(taken)


def _hindi_verb(word: str) -> bool:
    bare = word.strip(".,;:!?")
    return len(bare) > _INITIAL_MAX_CHARS and bare.endswith(_HINDI_VERB_ENDINGS)


def _speakers(transcript: Transcript, resources: Resources, found: list[Mention]) -> list[Mention]:
    """People who speak in the briefing, unless already found under their full name."""
    # Reporters, who only ask, are not among the briefing's key people.
    turns = Counter(p.speaker for p in transcript.paragraphs if p.speaker and not p.is_question)
    people = [m for m in found if m.kind == "person"]
    extra: list[Mention] = []
    for label, count in turns.items():
        person = person_in_label(label, resources)
        if person is None or not _person_like(person, resources, single_word=True):
            continue
        last = surname(person).lower()
        language = transcript.language
        if any(surname(m.surface or _form(m)).lower() == last for m in people):
            continue
        entry = glossary_person(person, language, resources)
        extra.append(Mention(entry, person, "person", count))
        people.append(extra[-1])
    return extra


def _given_and_rare(name: str, resources: Resources) -> bool:
    """A given name and a surname that no English dictionary lists ("Evan Gershkovich",
    "Karine Jean-Pierre"): a person even when named once."""
    words = name.split()
    if len(words) != 2 or words[0].lower() not in resources.given_names:
        return False
    return not any(in_dictionary(part.lower(), "en") for part in words[-1].split("-"))


def _common_words(name: str) -> bool:
    """Every word of an English name is in the dictionary."""
    parts = (_POSSESSIVE.sub("", w) for w in re.split(r"[\s\-]+", name))
    return all(in_dictionary(p.lower(), "en") for p in parts if p)


def _known_surname(name: str, resources: Resources) -> bool:
    """A person of the glossary under another form ("С.В.Лавров", "Лаврову")."""
    return any(glossary_person(name, lang, resources) for lang in ("ru", "en"))


def _form(mention: Mention) -> str:
    forms = mention.entry.forms if mention.entry else {}
    return next(iter(forms.values()), mention.surface)


def _guess_kind(name: str, resources: Resources) -> EntityKind | None:
    if not name:
        return None
    last = name.split()[-1].lower()
    if last in _ORGANISATION_WORDS:
        return "organisation"
    if last in _PLACE_WORDS:
        return "place"
    return "person" if _person_like(name, resources) else None


def _person_like(name: str, resources: Resources, single_word: bool = False) -> bool:
    """A person's name: a few capitalised words, none an office, a country, a sea, an
    organisation word or an acronym ("Open RAN", "Prime Minister", "Red Sea" are not)."""
    words = name.replace(".", ". ").split()
    # Initials add no words to a name's length: "Л.И.Лула да Силва" has three.
    length = sum(1 for w in words if not _INITIAL_WORD.match(w))
    if not words or length > _PERSON_MAX_WORDS or (len(words) < 2 and not single_word):
        return False
    if any(w in _CONNECTORS for w in words[1:]):
        return False  # "Doggett of Texas", "Power of Siberia": an office's or a thing's name
    if words[0].lower() in _NOT_PERSON_OPENERS:
        return False  # "Hurricane Helene", "Western Balkans", "Уважаемый Владимир Владимирович"
    lowered = name.lower()
    entry = known_name(name, resources)
    if entry is not None and entry.kind != "person":
        return False
    if _has_office(lowered, resources):
        return False
    known = _known_names(resources)
    for word in words:
        bare = word.strip(".,")
        entry = known.get(bare.lower())
        if entry is not None and entry.kind != "person":
            return False
        if bare.lower() in _ORGANISATION_WORDS or bare.lower() in _PLACE_WORDS:
            return False
        if _demonym(bare, resources):
            return False  # "Pakistani Hindu", "Japanese Prime Minister"
        if len(bare) > 1 and bare.isupper() and any(ch.isalpha() for ch in bare):
            return False  # an acronym: "RAN", "NATO"
    last = words[-1].strip(".,").lower()
    return not (len(words) > 1 and last.endswith(_NOUN_ENDINGS))


def _has_office(lowered: str, resources: Resources) -> bool:
    """An office or honorific anywhere in the name: "National Security Advisor Shri"."""
    return _office_pattern(resources).search(lowered) is not None


@cache
def _office_pattern(resources: Resources, honorifics: bool = True) -> re.Pattern[str]:
    offices: set[str] = set()
    for spec in resources.languages.values():
        offices |= spec.job_titles | (set(spec.honorifics) if honorifics else set())
    body = "|".join(re.escape(o) for o in sorted(offices, key=len, reverse=True))
    return re.compile(rf"(?<![\w\u0900-\u097F])(?:{body})\.?(?![\w\u0900-\u097F])")


def _demonym(word: str, resources: Resources) -> bool:
    """ "Pakistani", "Japanese", "Indian": a country's name plus a short ending."""
    lowered = word.lower()
    if len(lowered) < 5 or not lowered.endswith(("i", "ese", "an", "ian", "ish")):
        return False
    return any(
        lowered.startswith(stem) and len(lowered) - len(stem) <= 4
        for stem in _country_stems(resources)
    )


@cache
def _country_stems(resources: Resources) -> frozenset[str]:
    """English country names without their last letter ("chin" of China, "japa" of Japan)."""
    return frozenset(
        form.lower()[:-1]
        for entry in resources.gazetteer
        if entry.kind == "place"
        for form in entry.aliases.get("en", ())
        if " " not in form and len(form) >= 5
    )


def _strip_function_words(
    name: str, stop: frozenset[str], honorifics: tuple[str, ...], offices: frozenset[str]
) -> str:
    """ "The Indian Navy" -> "Indian Navy"; "World Bank’s" -> "World Bank"; "Shri Kiren
    Rijiju" -> "Kiren Rijiju"; a name that is all function words -> ""."""
    words = _POSSESSIVE.sub("", name).split()
    while words and (
        words[0].lower() in stop
        or words[0].lower().rstrip(".") in honorifics
        or words[0].lower() in _LEADING_COURTESIES
        or words[0].lower() in offices
    ):
        words.pop(0)  # "The", "Shri", "His Holiness", "Mayor" before the name
    if any(_CONTRACTION.search(w) for w in words):
        return ""  # "I'm Sidhant", "We're Ready": speech, not a name
    return " ".join(words) if len(words) >= 2 else ""


def localise(found: list[Mention], language: str) -> tuple[Entity, ...]:
    """Entities named as the glossary writes them in ``language``; others transliterated
    where a standard scheme exists, else as found."""
    entities = []
    seen: set[tuple[str, str]] = set()
    for mention in found:
        forms = mention.entry.forms if mention.entry else {}
        text = forms.get(language) or transliterate(mention.surface or _form(mention), language)
        if (text, mention.kind) in seen or not text:
            continue
        seen.add((text, mention.kind))
        entities.append(Entity(text, mention.kind, mention.count))
    return tuple(entities)
