"""Group a transcript's sentences into the taxonomy's topics, plus emergent ones."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest.emergent import OTHER_TOPIC, emergent_groups
from digest.model import SentenceKind, TopicGroup, Transcript
from digest.resources import Resources, TopicSpec
from models.text import cased_words, lemma, words

__all__ = ["OTHER_TOPIC", "TopicFinder"]
_PHRASE_WEIGHT = 2.0
# How much a sentence leans on its paragraph's topic when its own words are ambiguous.
_PARAGRAPH_WEIGHT = 0.5
# A subheading ("О ситуации вокруг Украины") names the topic of the section under it.
_HEADING_WEIGHT = 0.75
_MIN_LEMMA_LENGTH = 3


# A phrase word: the word, and whether it is a prefix ("контрол*").
_Word = tuple[str, bool]


@dataclass(frozen=True, slots=True)
class _Matcher:
    """Keyword look-ups in time linear in a sentence's length: exact words and lemmas by
    dictionary, prefixes by their few distinct lengths, phrases by their first word."""

    exact: dict[str, tuple[str, ...]]
    prefixes: dict[str, tuple[str, ...]]
    prefix_lengths: tuple[int, ...]
    phrases: dict[_Word, tuple[tuple[tuple[_Word, ...], str], ...]]

    def score(
        self, tokens: Sequence[str], lemmas: Sequence[str], skip: frozenset[int] = frozenset()
    ) -> Counter[str]:
        """Keyword scores of one sentence; single words at the ``skip`` positions (an
        office's name) do not count, phrases do."""
        scores: Counter[str] = Counter()
        for i, (token, base) in enumerate(zip(tokens, lemmas, strict=True)):
            if i in skip:
                continue
            for topic in self.exact.get(token) or self.exact.get(base, ()):
                scores[topic] += 1.0
            for length in self.prefix_lengths:
                for topic in self.prefixes.get(token[:length], ()) if len(token) >= length else ():
                    scores[topic] += 1.0
        seen: set[tuple[tuple[_Word, ...], str]] = set()
        for i, token in enumerate(tokens):
            keys = [(token, False)] + [
                (token[:n], True) for n in self.prefix_lengths if len(token) >= n
            ]
            for key in keys:
                for phrase, topic in self.phrases.get(key, ()):
                    if (phrase, topic) not in seen and _phrase_at(tokens, i, phrase):
                        seen.add((phrase, topic))
                        scores[topic] += _PHRASE_WEIGHT
        return scores


def _phrase_at(tokens: Sequence[str], start: int, phrase: tuple[_Word, ...]) -> bool:
    if start + len(phrase) > len(tokens):
        return False
    for (word, is_prefix), token in zip(phrase, tokens[start : start + len(phrase)], strict=True):
        if not (token.startswith(word) if is_prefix else token == word):
            return False
    return True


def _matcher(taxonomy: Iterable[TopicSpec], language: str) -> _Matcher:
    exact: dict[str, list[str]] = defaultdict(list)
    prefixes: dict[str, list[str]] = defaultdict(list)
    phrases: dict[_Word, list[tuple[tuple[_Word, ...], str]]] = defaultdict(list)
    for spec in taxonomy:
        for keyword in spec.keywords.get(language, ()):
            parts = keyword.split()
            if len(parts) == 1 and keyword.endswith("*"):
                prefixes[keyword[:-1]].append(spec.id)
                continue
            phrase = tuple(_phrase_words(parts))
            if len(phrase) == 1:
                token = phrase[0][0]
                exact[token].append(spec.id)
                # Inflected text matches a keyword through the dictionary forms of both; short
                # words and acronyms keep their own form ("ai" is no form of "be").
                base = lemma(token, language)
                if len(token) > _MIN_LEMMA_LENGTH and base != token and _widens(language):
                    exact[base].append(spec.id)
            elif phrase:
                phrases[phrase[0]].append((phrase, spec.id))
    return _Matcher(
        {k: tuple(v) for k, v in exact.items()},
        {k: tuple(v) for k, v in prefixes.items()},
        tuple(sorted({len(p) for p in prefixes} | {len(w) for w, pre in phrases if pre})),
        {k: tuple(v) for k, v in phrases.items()},
    )


def _widens(language: str) -> bool:
    """Does a keyword written in an inflected form also match its dictionary form? Not in
    English, where the form is chosen for its sense: "talks" (negotiations) is not "talk",
    "goods" not "good", "nationals" not "national", "signed" not "sign". Keywords in their
    dictionary form still match every inflection ("meeting" matches "meetings")."""
    return language != "en"


def _title_positions(
    tokens: Sequence[str], lowered: Sequence[str], heads: Sequence[str]
) -> frozenset[int]:
    """Positions of the topic words in a title before a name: "Defense" in "Defense Minister
    Gallant", "Defense" in "Secretary of Defense Austin", "обороны" in "министр обороны
    С.К.Шойгу". Such a sentence is about the person, not about defence. ``tokens`` are as
    written (a name is known by its capital), ``lowered`` the same in lower case."""
    if not heads:
        return frozenset()
    out: set[int] = set()
    for i, token in enumerate(lowered):
        if not any(token.startswith(h[:-1]) if h.endswith("*") else token == h for h in heads):
            continue
        after = i + 2 if i + 2 < len(tokens) and lowered[i + 1] in _OFFICE_LINKS else i + 1
        for word, name in ((i - 1, i + 1), (after, after + 1)):
            if 0 <= word < len(tokens) and name < len(tokens) and tokens[name][:1].isupper():
                out.add(word)
    return frozenset(out)


# "Secretary of Defense", "Minister for Trade".
_OFFICE_LINKS = frozenset({"of", "for"})


def _phrase_words(parts: Sequence[str]) -> list[_Word]:
    """ "экспортн* контрол*" -> [("экспортн", True), ("контрол", True)]; hyphens and
    punctuation split words as in the text ("North-South" -> "north", "south")."""
    out: list[_Word] = []
    for part in parts:
        is_prefix = part.endswith("*")
        tokens = words(part.rstrip("*"))
        out.extend((t, False) for t in tokens[:-1])
        if tokens:
            out.append((tokens[-1], is_prefix))
    return out


class TopicFinder:
    """Keyword scoring against the taxonomy, per sentence with its paragraph and section
    (the text under a subheading) as context. Only statements are grouped; questions steer
    the topic of the answer after them."""

    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        # Built per language on first use: each needs that language's lemma dictionary
        # (about half a second to load), and most transcripts are in one language.
        self._matchers: dict[str, _Matcher] = {}
        self._matchers_lock = threading.Lock()
        self._order = {spec.id: i for i, spec in enumerate(resources.taxonomy)}
        self._broad = {spec.id: spec.broad for spec in resources.taxonomy}

    def scores(self, transcript: Transcript) -> list[Counter[str]]:
        result = []
        for s in transcript.sentences:
            cased = cased_words(s.text)
            tokens = [t.lower() for t in cased]
            lemmas = [lemma(t, s.language) for t in tokens]
            spec = self._resources.languages.get(s.language)
            skip = _title_positions(cased, tokens, spec.office_heads if spec else ())
            result.append(self._matcher(s.language).score(tokens, lemmas, skip))
        return result

    def _matcher(self, language: str) -> _Matcher:
        with self._matchers_lock:
            if language not in self._matchers:
                self._matchers[language] = _matcher(self._resources.taxonomy, language)
            return self._matchers[language]

    def group(
        self,
        transcript: Transcript,
        max_topics: int,
        min_sentences: int = 1,
        min_share: float = 0.0,
        min_broad_share: float = 0.0,
    ) -> list[TopicGroup]:
        scores = self.scores(transcript)
        paragraph_scores: dict[int, Counter[str]] = defaultdict(Counter)
        for sentence, score in zip(transcript.sentences, scores, strict=True):
            paragraph_scores[sentence.paragraph].update(score)
        section_scores = _sections(transcript, scores)

        assigned: dict[str, list[int]] = defaultdict(list)
        unmatched: list[int] = []
        previous_question_topic: str | None = None
        for sentence, own in zip(transcript.sentences, scores, strict=True):
            context = Counter(paragraph_scores[sentence.paragraph])
            for topic, value in section_scores[sentence.id].items():
                context[topic] += value * _HEADING_WEIGHT / _PARAGRAPH_WEIGHT
            topic = self._best(own, context)
            if topic is None and not sentence.is_question and sentence.speaker:
                # An answer that names no topic is about what was just asked.
                topic = previous_question_topic
            if sentence.kind is SentenceKind.QUESTION:
                previous_question_topic = topic or previous_question_topic
                continue
            if not sentence.informative:
                continue
            if topic is None:
                unmatched.append(sentence.id)
            else:
                assigned[topic].append(sentence.id)

        statements = sum(1 for s in transcript.sentences if s.informative)
        for topic_id in list(assigned):
            share = min_broad_share if self._broad.get(topic_id) else min_share
            needed = max(min_sentences, share * statements)
            # Named in the sentence's own words, or by the subheading it stands under.
            direct = sum(
                1
                for i in assigned[topic_id]
                if scores[i].get(topic_id) or section_scores[i].get(topic_id)
            )
            if direct < needed:
                # Too little said about it in its own words: not a section of its own.
                unmatched.extend(assigned.pop(topic_id))
        unmatched.sort()
        groups = [TopicGroup(topic_id, tuple(ids)) for topic_id, ids in assigned.items()]
        groups.sort(key=lambda g: -len(g.sentence_ids))
        groups = groups[:max_topics]
        groups.sort(key=lambda g: g.sentence_ids[0])
        room = max_topics - len(groups)
        if room > 0 and unmatched:
            groups.extend(emergent_groups(transcript, unmatched, self._resources, room))
        return groups

    def _best(self, own: Counter[str], context: Counter[str]) -> str | None:
        combined = Counter(own)
        for topic, value in context.items():
            combined[topic] += _PARAGRAPH_WEIGHT * value
        if not combined:
            return None
        return max(combined, key=lambda t: (combined[t], own[t], -self._order[t]))


def _sections(transcript: Transcript, scores: list[Counter[str]]) -> list[Counter[str]]:
    """For each sentence, the topic scores of the subheading above it (empty if none). The
    page's opening lines (title, venue: "International Exhibition-cum-Convention Centre, New
    Delhi") head no section."""
    current: Counter[str] = Counter()
    out: list[Counter[str]] = []
    for sentence, score in zip(transcript.sentences, scores, strict=True):
        if (
            sentence.kind is SentenceKind.HEADING
            and sentence.id != transcript.title_sentence
            and sentence.id >= transcript.front_matter_sentences
        ):
            current = Counter(score)
        out.append(current)
    return out
