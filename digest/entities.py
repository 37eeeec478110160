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

from digest.conventions import label_key
from digest.model import Entity, EntityKind, SentenceKind, Transcript
from digest.names import russian_names, shared_prefix
from digest.resources import GlossaryEntry, LanguageSpec, Resources
from digest.speakers import glossary_person, person_in_label, surname, transliterate
from models.text import in_dictionary

# Capitalised words, with the lower-case words that join them in names of bodies ("Bank of
# Japan") and of people ("Mohammed bin Salman": the particles of language.toml).
_PROPER = (
    r"\b[A-ZА-ЯЁ][\w’'\-]+(?:\s+(?:[A-ZА-ЯЁ][\w’'\-]+|of|the|for|и{particles}))*"
    r"\s+[A-ZА-ЯЁ][\w’'\-]+"
)
# Heads that a person's name can qualify ("the Donald Trump Administration").
_ATTRIBUTIVE_HEADS = frozenset(
    ["administration", "government", "presidency", "campaign", "cabinet"]
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
        "line",
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
_LEADING_COURTESIES = frozenset(
    ["holiness", "excellency", "majesty", "highness", "royal", "his", "her"]
)
# A capitalised pair not in the glossary is listed only when it recurs; a name that a tagger
# or an office ("President Biden") marks as a person needs one mention.
_MIN_UNKNOWN_MENTIONS = 2
_PERSON_MAX_WORDS = 4
# The shortest stem a case form of a name must share with it.
_MIN_STEM = 4
_GIVEN_AND_SURNAME = 2
_NAME_AFTER_TITLE_MAX_WORDS = 3
# "S.", "एस.", "Дж.": an initial, which goes on to the rest of the name.
_INITIAL_MAX_CHARS = 3
_INITIAL_WORD = re.compile(r"^[^\W\d_]\.$")
# Titles that are often not followed by a name ("General Electric", "the Speaker's office",
# "जनरल असेंबली"): they vouch for a name of two words or more, or in English for one word no
# dictionary lists ("Governor Shapiro", not "General Assembly").
_AMBIGUOUS_TITLES = frozenset(
    ["general", "chair", "chairman", "speaker", "king", "queen", "envoy", "governor", "जनरल"]
)
# Titles of rulers and popes, who are known by one name and the title: "Pope Francis",
# "King Charles", "Emir Tamim", "पोप फ्रांसिस".
_REGNAL_TITLES = frozenset(
    ["pope", "king", "queen", "emir", "sultan", "sheikh", "prince", "princess", "पोप", "शेख"]
)
_REGNAL_NUMBER = re.compile(r"(?:^|\s)[IVX]+$")
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
        "परमपावन",
        "पोप",
        "शेख",
        "युवराज",
        "क्राउन प्रिंस",
        "प्रोफेसर",
        "प्रोफ़ेसर",
        "प्रो.",
        "जनरल",
    ]
)
# Hindi words after a title that end like a verb or a particle are not a name.
_HINDI_NOT_NAME_ENDINGS = ("गे", "गा", "गी", "ना", "ने", "ता", "ती", "ते", "या", "यी", "ये")
_HINDI_VERB_ENDINGS = ("गे", "गा", "गी", "ता", "ती", "ते", "एँ", "ाए", "ाई")
_HINDI_PARTICLES = frozenset(["जी", "डॉ", "डॉ.", "श्री", "श्रीमती", "सुश्री", "महोदय"])
# Nouns that follow an office in Hindi without naming anyone: "प्रधानमंत्री स्तर पर" (at the
# level of prime ministers), "विदेश मंत्री फ़ोन पर" (the minister on the phone).
_HINDI_AFTER_OFFICE = frozenset(
    ["स्तर", "स्तरीय", "पद", "कार्यालय", "निवास", "फ़ोन", "फोन", "पहले", "बाद", "भी", "स्वयं"]
)


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
    # People vouched for by a tagger, an office or a name list, not by repetition.
    tagged: Counter[str] = _titled_people(transcript, resources)
    tagged.update(_hindi_named_people(transcript, resources))
    tagged.update(_surnames_with_particles(transcript))
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
            _english_names(covered, resources, tagged, unknown)
    if transcript.language == "ru":
        tagged_known = _russian_names(transcript, resources, tagged, unknown, entries)
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


def _english_names(
    text: str,
    resources: Resources,
    tagged: Counter[str],
    unknown: Counter[tuple[str, EntityKind]],
) -> None:
    """Capitalised names in English ``text`` (glossary names already blanked out): a sure
    person goes to ``tagged``, anything else to ``unknown`` with its guessed kind."""
    stop = resources.stopwords["en"]
    english = resources.languages["en"]
    for m in _proper_pattern(resources).finditer(text):
        name = _strip_function_words(m[0], stop, english.honorifics, english.job_titles)
        kind = _guess_kind(name, resources)
        if kind is None and _CONNECTOR_SPLIT.search(name):
            # "President of the People’s Republic of China Xi Jinping": the name is what
            # follows the last "of".
            tail = _CONNECTOR_SPLIT.split(name)[-1]
            name = _strip_function_words(tail, stop, english.honorifics, english.job_titles)
            kind = _guess_kind(name, resources)
        if kind is None:
            owner = _attributive_owner(name, resources)
            if owner:
                tagged[owner] += 1
            continue
        unknown[(name, kind)] += 1
        if kind == "person" and (
            _given_and_rare(name, resources) or _chinese_name(name, resources)
        ):
            tagged[name] += 1


def _russian_names(
    transcript: Transcript,
    resources: Resources,
    tagged: Counter[str],
    unknown: Counter[tuple[str, EntityKind]],
    entries: dict[int, GlossaryEntry],
) -> Counter[int]:
    """Names natasha tags in the Russian text: sure people go to ``tagged``, others to
    ``unknown``; glossary and gazetteer entries it finds are counted and returned.

    The tagger reads whole sentences (names in context). Its nominative forms find the places
    the gazetteer lists only in the nominative ("в Молдавии"); people of the glossary were
    already counted through their case forms."""
    ru_text = "\n".join(s.text for s in transcript.sentences if s.language == "ru")
    known_names = _known_names(resources)
    tagged_known: Counter[int] = Counter()
    common = resources.languages["ru"].common_acronyms
    addressed = _after_courtesy(ru_text, resources.languages["ru"])
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
            if "." in name or " " in name or _addressed(name, addressed):
                tagged[name] += 1
            else:
                # A lone word the tagger calls a person ("Кишиневу") must recur, unless a
                # courtesy comes before it ("господин Столтенберг").
                unknown[(name, kind)] += 1
        else:
            unknown[(name, kind)] += 1
    return tagged_known


@cache
def _proper_pattern(resources: Resources) -> re.Pattern[str]:
    english = resources.languages["en"].name_particles
    particles = "".join(f"|{re.escape(p)}" for p in sorted(english))
    return re.compile(_PROPER.format(particles=particles))


def _attributive_owner(name: str, resources: Resources) -> str:
    """ "Donald Trump Administration" -> "Donald Trump": a given name and a surname before a
    head they qualify; "" for anything else."""
    words = name.split()
    if len(words) < _GIVEN_AND_SURNAME + 1 or words[-1].lower() not in _ATTRIBUTIVE_HEADS:
        return ""
    owner = " ".join(words[:-1])
    if words[0].lower() not in resources.given_names or not _person_like(owner, resources):
        return ""
    return owner


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
        _surname_key(form)
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
        # "И.Щеголев" and "Игорь Олегович Щёголев" are one man: most texts write "е" for "ё".
        groups.setdefault(key.replace("ё", "е"), []).append(name)
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
            (not _common_words(n) or _given_and_surname(n, given))
            and mentions[n] + (singles if len(n.split()) > 1 else 0) >= _MIN_UNKNOWN_MENTIONS
            for n in names
        )
        marked = any(n in vouched for n in names) or recurs
        if marked:
            # The fullest form, then the most frequent: "Jake Sullivan" over "Sullivan".
            best = max(names, key=lambda n: (len(n.split()), mentions[n]))
            people.append(Mention(None, best, "person", count))
    return people


def _surname_key(name: str) -> str:
    return surname(name).lower().replace("ё", "е")


def _titled_people(transcript: Transcript, resources: Resources) -> Counter[str]:
    """Names right after an office or honorific: "President Biden", "Secretary Blinken",
    "प्रधानमंत्री नरेन्द्र मोदी"."""
    found: Counter[str] = Counter()
    for sentence in transcript.sentences:
        pattern = _title_pattern(resources, sentence.language)
        if pattern is None or sentence.kind in _MODERATION:
            continue
        for match in pattern.finditer(sentence.text):
            name = _titled_name(match["title"], match["rest"], sentence.language, resources)
            if name:
                found[name] += 1
    return found


# A surname that opens with a nobiliary particle, said without the given name: "the von der
# Leyen summit", "van Hollen". After a capitalised word, _PROPER reads the whole name.
_PARTICLE_SURNAME = re.compile(r"(?<![\w’'\-])(?:von|van)(?:\s+(?:der|den))?\s+[A-Z][\w\-]+")


def _surnames_with_particles(transcript: Transcript) -> Counter[str]:
    found: Counter[str] = Counter()
    for sentence in transcript.sentences:
        if sentence.language != "en" or sentence.kind in _MODERATION:
            continue
        for match in _PARTICLE_SURNAME.finditer(sentence.text):
            before = sentence.text[: match.start()].split()
            if before and before[-1][:1].isupper():
                continue  # "Ursula von der Leyen": the whole name is read elsewhere
            found[_POSSESSIVE.sub("", match[0])] += 1
    return found


def _after_courtesy(text: str, spec: LanguageSpec) -> frozenset[str]:
    """Words right after a courtesy in any case form ("господина Столтенберга",
    "г-жа Бербок"), lower-cased, as the text writes them."""
    courtesies = [h for h in spec.honorifics if _courtesy(h, spec)]
    if not courtesies:
        return frozenset()
    body = "|".join(re.escape(c) for c in courtesies)
    pattern = re.compile(rf"(?<!\w)(?i:{body})\w{{0,3}}\s+([А-ЯЁ][\w\-]+)")
    return frozenset(m[1].lower() for m in pattern.finditer(text))


def _addressed(name: str, addressed: frozenset[str]) -> bool:
    """``name`` (a nominative) is one of the words after a courtesy, in some case form: the
    two differ at most in the ending ("Захарова", "госпожи Захаровой")."""
    lowered = name.lower()
    return any(shared_prefix(lowered, w) >= max(len(lowered) - 1, _MIN_STEM) for w in addressed)


def _hindi_named_people(transcript: Transcript, resources: Resources) -> Counter[str]:
    """Hindi names with no office before them: a given name, maybe a second one, and a
    surname, all from the name lists ("अमित शाह ने कहा", "राज कुमार वर्मा")."""
    found: Counter[str] = Counter()
    given, surnames = resources.hindi_given_names, resources.hindi_surnames
    for sentence in transcript.sentences:
        if sentence.language != "hi" or sentence.kind in _MODERATION:
            continue
        words = [w.strip(".,;:!?।\"'’“”()") for w in sentence.text.split()]
        for i, word in enumerate(words):
            if word not in given or (i and words[i - 1] in given):
                continue  # a name opens with its first given name
            middle = 1 if i + 2 < len(words) and words[i + 1] in given else 0
            last = i + 1 + middle
            if last < len(words) and words[last] in surnames:
                found[" ".join(words[i : last + 1])] += 1
    return found


def _titled_name(written: str, rest: str, language: str, resources: Resources) -> str:
    """The person a title introduces, or "" when none follows it. A ruler or a pope known by
    one name keeps the title ("Pope Francis", not "Francis")."""
    if _office_pattern(resources, honorifics=False).match(rest.lower()):
        return ""  # "Mr. Prime Minister": an office addressed, no name
    spec = resources.languages[language]
    stop = resources.stopwords[language]
    if language == "en" and rest.startswith("of "):
        # "Minister of Foreign Affairs of the Republic of Indonesia Sugiono"
        rest = _after_office_of(rest, resources)
    title = written.lower().rstrip(".")
    # A courtesy ("Ms.", "सुश्री") is said only before a person: a given name that is also
    # a place ("सुश्री जॉर्जिया मेलोनी", Georgia) or ends like a Hindi verb (-या) is still one.
    courtesy = _courtesy(title, spec)
    name = _name_after(rest, language, stop, spec.honorifics, spec.name_particles, courtesy)
    if not name or all(_INITIAL_WORD.match(w) for w in name.replace(".", ". ").split()):
        return ""  # "King Jr.": initials alone name nobody
    if title in _AMBIGUOUS_TITLES and not _named_enough(name, language, spec.name_particles):
        return ""
    if name.lower() in spec.months or name in _HINDI_AFTER_OFFICE:
        return ""  # "विदेश मंत्री अक्टूबर में", "प्रधानमंत्री स्तर पर": a date, a level
    # "Queen Elizabeth II": a regnal number after a title, never an acronym.
    number = _REGNAL_NUMBER.search(name) if title in _REGNAL_TITLES else None
    core = name[: number.start()] if number else name
    if not core or not _person_like(core, resources, True, given_may_be_place=courtesy):
        return ""
    if title in _REGNAL_TITLES and len(core.split()) == 1:
        return f"{written[:1].upper()}{written[1:]} {name}"
    return name


# Words between an office and the country or body it serves: "of the Republic of".
_OFFICE_OF_WORDS = re.compile(r"^(?:(?:of|the|and|for|[A-Z][\w’'.\-]*)\s+)*$")


def _after_office_of(rest: str, resources: Resources) -> str:
    """The text after the country or body that an office "of ..." serves ("of the Republic
    of Indonesia Sugiono" -> "Sugiono"); "" when no such place or body ends the office."""
    pattern, owner = _known_pattern(resources, "en")
    after = ""
    for match in pattern.finditer(rest):
        if owner[match[0]].kind == "person" or not _OFFICE_OF_WORDS.match(rest[: match.start()]):
            break
        after = rest[match.end() :].lstrip()
    return after


def _named_enough(name: str, language: str, particles: frozenset[str]) -> bool:
    """Enough of a name for an ambiguous title: two words, or in English one word that no
    dictionary lists."""
    words = [w for w in name.split() if w.lower() not in particles]
    if len(words) >= 2:  # a given name and a surname
        return True
    return language == "en" and not in_dictionary(words[0].lower().strip("."), "en")


@cache
def _title_pattern(resources: Resources, language: str) -> re.Pattern[str] | None:
    spec = resources.languages[language]
    if language == "ru":  # natasha finds Russian names
        return None
    titles = spec.job_titles | set(spec.honorifics)
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
        rf"(?<![\w\u0900-\u097F])(?P<title>{body})\.?\s+(?=(?P<rest>[^,;:()]{{1,80}}))", flags
    )


def _name_after(
    text: str,
    language: str,
    stop: frozenset[str],
    honorifics: tuple[str, ...] = (),
    particles: frozenset[str] = frozenset(),
    courtesy: bool = False,
) -> str:
    """The name that opens ``text``: capitalised words in English, words up to a function
    word in Hindi. Particles ("bin", "von der") go on to the next word and do not count
    towards the name's length. After a ``courtesy`` no Hindi word is taken for a verb."""
    taken: list[str] = []
    tokens = text.split()
    for index, word in enumerate(tokens):
        bare = _POSSESSIVE.sub("", word.strip(".,;:!?\"'’“”()"))
        counted = [w for w in taken if w.lower() not in particles]
        if not bare or len(counted) >= _NAME_AFTER_TITLE_MAX_WORDS:
            break
        if taken and _particle(bare, particles) and not word.endswith((",", ".", ";", ":")):
            taken.append(bare)  # "Mohammed bin Salman", "मोहम्मद बिन सलमान"
            continue
        if language == "en":
            if not taken and bare.lower() in honorifics:
                continue  # "President Smt. Droupadi Murmu"
            prefix, _, tail = bare.partition("-")
            joined = prefix.lower() in particles and tail[:1].isupper()  # "al-Sudani"
            if (not bare[0].isupper() and not joined) or bare.lower() in stop:
                break
        elif bare == "जी" and not taken:
            break  # "प्रधानमंत्री जी": the title itself, honoured; no name follows
        elif bare in _HINDI_PARTICLES and not taken:
            continue
        elif (
            bare in stop
            or bare in _HINDI_PARTICLES
            or (
                not courtesy
                and len(bare) > _INITIAL_MAX_CHARS
                and bare.endswith(_HINDI_NOT_NAME_ENDINGS)
            )
            or not any("\u0900" <= ch <= "\u097f" for ch in bare)
        ):
            break
        # "S.", "एस.", and runs of them: "जी.वी.", "М.В.".
        initial = word.endswith(".") and _initials(bare, language)
        taken.append(f"{bare}." if initial else bare)
        if word.endswith((",", ".", ";", ":")) and not initial:
            break
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if language == "hi" and _hindi_verb(following):
            return ""  # "विदेश मंत्री मनामा जाएंगे": the office goes somewhere; no name
    while taken and taken[-1].lower() in particles:
        taken.pop()  # a particle ends no name: "Bashar al" of "Bashar al said"
    return " ".join(taken)


def _particle(word: str, particles: frozenset[str]) -> bool:
    """ "bin", "von", "बिन": a particle inside a name; "al-Sudani" is a name word."""
    return word.lower() in particles


def _initials(bare: str, language: str) -> bool:
    """ "S", "J.D", "एस", "जी.वी": initials. In English each is one letter, so the end of
    "Wang Yi." is no initial."""
    longest = 1 if language == "en" else _INITIAL_MAX_CHARS
    return all(0 < len(part) <= longest for part in bare.split("."))


def _hindi_verb(word: str) -> bool:
    bare = word.strip(".,;:!?")
    return len(bare) > _INITIAL_MAX_CHARS and bare.endswith(_HINDI_VERB_ENDINGS)


def _speakers(transcript: Transcript, resources: Resources, found: list[Mention]) -> list[Mention]:
    """People who speak in the briefing, unless already found under their full name."""
    turns = _official_turns(transcript, resources)
    people = [m for m in found if m.kind == "person"]
    extra: list[Mention] = []
    for label, count in turns.items():
        person = person_in_label(label, resources)
        if person is None or not _person_like(person, resources, single_word=True):
            continue
        if _has_stop_word(person, resources):
            continue  # "एक अन्य घोषणा:" (another announcement) opens a line like a label
        last = surname(person).lower()
        language = transcript.language
        if any(surname(m.surface or _form(m)).lower() == last for m in people):
            continue
        entry = glossary_person(person, language, resources)
        extra.append(Mention(entry, person, "person", count))
        people.append(extra[-1])
    return extra


def _official_turns(transcript: Transcript, resources: Resources) -> Counter[str]:
    """Turns per speaker label, without reporters' questions: reporters, who only ask, are
    not among the briefing's key people. Where reporters are labelled as such ("Q"), a
    speaker labelled with a courtesy ("MS. JEAN-PIERRE") is the host, even one who only
    calls on reporters ("Who's next?"), and so counts."""
    specs = tuple(resources.languages.values())
    labels = {p.speaker for p in transcript.paragraphs if p.speaker}
    asked_by_label = any(
        label_key(label) in spec.question_labels for label in labels for spec in specs
    )
    return Counter(
        p.speaker
        for p in transcript.paragraphs
        if p.speaker
        and (not p.is_question or (asked_by_label and _courtesy_label(p.speaker, resources)))
    )


def _courtesy_label(label: str, resources: Resources) -> bool:
    """ "MS. JEAN-PIERRE", "Mr Price": a label that opens with a courtesy, not an office."""
    first = label.split()[0].lower().rstrip(".") if label.split() else ""
    return any(
        _courtesy(first, spec) and first not in spec.question_labels
        for spec in resources.languages.values()
    )


def _courtesy(word: str, spec: LanguageSpec) -> bool:
    """An honorific that names no office ("Ms.", "господин", "सुश्री"): said only of a
    person."""
    return word in spec.honorifics and word not in spec.job_titles


def _has_stop_word(name: str, resources: Resources) -> bool:
    words = {w.strip(".,").lower() for w in name.split()}
    return any(
        len(w) > 1 and w in stop for w in words for stop in resources.stopwords.values()
    )


def _given_and_rare(name: str, resources: Resources) -> bool:
    """A given name and a surname that no English dictionary lists ("Evan Gershkovich",
    "Karine Jean-Pierre"): a person even when named once."""
    words = name.split()
    if len(words) != 2 or words[0].lower() not in resources.given_names:
        return False
    return not any(in_dictionary(part.lower(), "en") for part in words[-1].split("-"))


def _chinese_name(name: str, resources: Resources) -> bool:
    """A Chinese family name, then a given name of one or two pinyin syllables that no English
    dictionary lists ("Xi Jinping", "Wang Yi", "Mao Ning"): a person even when named once."""
    words = name.split()
    if len(words) != 2 or words[0].lower() not in resources.chinese_surnames:
        return False
    given = words[1].lower()
    return _PINYIN.fullmatch(given) is not None and not in_dictionary(given, "en")


_SYLLABLE = (
    "(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    "(?:iang|iong|uang|ueng|iao|ian|ang|eng|ong|uai|uan|ing|ai|ei|ao|ou|an|en|er|ia|ie|iu|"
    "in|ua|uo|ui|un|ue|a|o|e|i|u|v)"
)
_PINYIN = re.compile(f"(?:{_SYLLABLE}){{1,2}}")


def _given_and_surname(name: str, given: frozenset[str]) -> bool:
    """ "Bill Burns": a given name and one more word, though both are common words. A longer
    run of common words that opens with a given name ("Long Term Visas") is no person."""
    words = name.split()
    return len(words) == _GIVEN_AND_SURNAME and words[0].lower() in given


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


def _person_like(
    name: str, resources: Resources, single_word: bool = False, given_may_be_place: bool = False
) -> bool:
    """A person's name: a few capitalised words, none an office, a country, a sea, an
    organisation word or an acronym ("Open RAN", "Prime Minister", "Red Sea" are not).
    ``given_may_be_place``: words before the last may be places ("Georgia Meloni")."""
    words = name.replace(".", ". ").split()
    # Initials and particles add no words to a name's length: "Л.И.Лула да Силва" has two,
    # "Mohammed bin Abdulrahman bin Jassim" three.
    particles = _all_particles(resources)
    length = sum(1 for w in words if not _INITIAL_WORD.match(w) and w.lower() not in particles)
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
    for index, word in enumerate(words):
        bare = word.strip(".,")
        entry = known.get(bare.lower())
        given = given_may_be_place and index < len(words) - 1 and entry is not None
        if entry is not None and entry.kind != "person" and not (given and entry.kind == "place"):
            return False
        if bare.lower() in _ORGANISATION_WORDS or bare.lower() in _PLACE_WORDS:
            return False
        if _demonym(bare, resources):
            return False  # "Pakistani Hindu", "Japanese Prime Minister"
        if len(bare) > 1 and bare.isupper() and any(ch.isalpha() for ch in bare):
            return False  # an acronym: "RAN", "NATO"
    last = words[-1].strip(".,").lower()
    return not (len(words) > 1 and last.endswith(_NOUN_ENDINGS))


@cache
def _all_particles(resources: Resources) -> frozenset[str]:
    return frozenset().union(*(spec.name_particles for spec in resources.languages.values()))


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
        popped = words.pop(0)  # "The", "Shri", "His Holiness", "Mayor" before the name
        if popped.lower() in offices and words and words[0].lower() == "of":
            # "Secretary of Energy Granholm", "Minister of External Affairs S. Jaishankar":
            # the department's words go with the office.
            words.pop(0)
            while len(words) > 1 and in_dictionary(words[0].lower(), "en"):
                words.pop(0)
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
