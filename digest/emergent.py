"""Topics the taxonomy does not know, named by a keyphrase of content words.

YAKE ranks candidate keyphrases of the statements no taxonomy topic claimed; a phrase names
a topic only when it is two content words (not a stop word, a weak word such as "thank" or
"speak", or a number), written in lower case, and at least ``_MIN_SENTENCES`` statements
share it. One word is too vague ("review", "countries", "certainly"), and a capitalised
phrase is a name ("Trump", "White House", "Российской Федерации"), which Key names lists
already. At most ``MAX_EMERGENT`` such topics; what is left goes under "Other remarks".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from digest.model import TopicGroup, Transcript
from digest.resources import Resources
from models.text import lemma, words

OTHER_TOPIC = "other"
MAX_EMERGENT = 2
_MIN_SENTENCES = 3
_MIN_WORD_LENGTH = 3
_CANDIDATES = 20
_MAX_PHRASE_WORDS = 2
_SHORTLIST = 8
# The same next word in this share of a phrase's uses: it is part of a longer term.
_FIXED_TERM_SHARE = 0.8


def emergent_groups(
    transcript: Transcript, unmatched: Sequence[int], resources: Resources, room: int
) -> list[TopicGroup]:
    """Up to ``min(room - 1, MAX_EMERGENT)`` named groups, then "other" for the rest."""
    language = transcript.language
    stop = resources.stopwords[language] | resources.languages[language].weak_words
    sentence_lemmas = {
        i: [lemma(w, language) for w in words(transcript.sentences[i].text)] for i in unmatched
    }
    groups: list[TopicGroup] = []
    left = list(unmatched)
    limit = min(room - 1, MAX_EMERGENT)
    phrases = _keyphrases(transcript, unmatched, stop) if limit > 0 else []
    while phrases and len(groups) < limit:
        # Of the best-ranked phrases, the one that gathers the most statements names a topic.
        members_of = {
            phrase: _members(phrase, left, sentence_lemmas, language)
            for phrase in phrases[:_SHORTLIST]
        }
        phrase = max(members_of, key=lambda p: (len(members_of[p]), -phrases.index(p)))
        members = members_of[phrase]
        if len(members) < _MIN_SENTENCES:
            break
        name = _display(phrase, language)
        groups.append(
            TopicGroup(f"emergent-{len(groups) + 1}", tuple(members), (name,), emergent=True)
        )
        left = [i for i in left if i not in members]
        phrases = [p for p in phrases if p != phrase]
    if left and len(groups) < room:
        groups.append(TopicGroup(OTHER_TOPIC, tuple(left), emergent=True))
    return groups


def _members(
    phrase: str, candidates: list[int], sentence_lemmas: dict[int, list[str]], language: str
) -> list[int]:
    """Statements that say the phrase, its words side by side; none when the phrase is the
    opening of a longer fixed term ("senior administration" of "senior administration
    official") in most of them."""
    target = tuple(lemma(w, language) for w in words(phrase))
    size = len(target)
    members: list[int] = []
    following: Counter[str] = Counter()
    for i in candidates:
        seq = sentence_lemmas[i]
        at = [k for k in range(len(seq) - size + 1) if tuple(seq[k : k + size]) == target]
        if at:
            members.append(i)
            following[seq[at[0] + size] if at[0] + size < len(seq) else ""] += 1
    if members:
        word, count = following.most_common(1)[0]
        if word and count >= _FIXED_TERM_SHARE * len(members):
            return []
    return members


def _keyphrases(
    transcript: Transcript, unmatched: Sequence[int], stop: frozenset[str]
) -> list[str]:
    language = transcript.language
    text = "\n".join(transcript.sentences[i].text for i in unmatched)
    # Imported on first use: yake pulls in networkx (about 0.5 s), which every process that
    # imports the pipeline (CLI runs, each worker) would pay for even when no topic is emergent.
    import yake

    extractor = yake.KeywordExtractor(
        lan=language, n=_MAX_PHRASE_WORDS, top=_CANDIDATES, stopwords=set(stop)
    )
    phrases = []
    for phrase, _score in extractor.extract_keywords(text):
        tokens = words(phrase)
        if (
            len(tokens) == _MAX_PHRASE_WORDS == len(phrase.split())
            and phrase == phrase.lower()
            and all(_content(t, language, stop) for t in tokens)
            and not _modifier(tokens[-1], language)
        ):
            phrases.append(phrase)
    return phrases


def _modifier(token: str, language: str) -> bool:
    """An English adverb or comparative ("quickly", "safer") cannot close a topic's name."""
    if language != "en":
        return False
    return token.endswith("ly") or (
        token.endswith(("er", "est")) and lemma(token, language) != token
    )


def _content(token: str, language: str, stop: frozenset[str]) -> bool:
    return (
        len(token) >= _MIN_WORD_LENGTH
        and token.isalpha()
        and token not in stop
        and lemma(token, language) not in stop
    )


def _display(phrase: str, language: str) -> str:
    """A one-word Russian name in its dictionary form ("инициативу" -> "инициатива")."""
    tokens = phrase.split()
    if language == "ru" and len(tokens) == 1 and tokens[0].islower():
        return lemma(tokens[0], language)
    return phrase
