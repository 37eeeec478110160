"""Group a transcript's sentences into the taxonomy's topics, plus emergent ones."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest.model import TopicGroup, Transcript
from digest.resources import Resources, TopicSpec
from models.text import words

OTHER_TOPIC = "other"
_PHRASE_WEIGHT = 2.0
# How much a sentence leans on its paragraph's topic when its own words are ambiguous.
_PARAGRAPH_WEIGHT = 0.5
_EMERGENT_MIN_SENTENCES = 2
_EMERGENT_MIN_WORD_LENGTH = 4


@dataclass(frozen=True, slots=True)
class _Matcher:
    exact: dict[str, list[str]]
    prefixes: list[tuple[str, str]]
    phrases: list[tuple[tuple[str, ...], str]]

    def score(self, tokens: Sequence[str]) -> Counter[str]:
        scores: Counter[str] = Counter()
        for token in tokens:
            for topic in self.exact.get(token, ()):
                scores[topic] += 1.0
            for prefix, topic in self.prefixes:
                if token.startswith(prefix):
                    scores[topic] += 1.0
        for phrase, topic in self.phrases:
            if _contains(tokens, phrase):
                scores[topic] += _PHRASE_WEIGHT
        return scores


def _contains(tokens: Sequence[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    first = phrase[0]
    return any(
        tokens[i] == first and tuple(tokens[i : i + n]) == phrase
        for i in range(len(tokens) - n + 1)
    )


def _matcher(taxonomy: Iterable[TopicSpec], language: str) -> _Matcher:
    exact: dict[str, list[str]] = defaultdict(list)
    prefixes: list[tuple[str, str]] = []
    phrases: list[tuple[tuple[str, ...], str]] = []
    for spec in taxonomy:
        for keyword in spec.keywords.get(language, ()):
            if keyword.endswith("*"):
                prefixes.append((keyword[:-1], spec.id))
                continue
            tokens = tuple(words(keyword))
            if len(tokens) == 1:
                exact[tokens[0]].append(spec.id)
            elif tokens:
                phrases.append((tokens, spec.id))
    return _Matcher(dict(exact), prefixes, phrases)


class TopicFinder:
    """Keyword scoring against the taxonomy, per sentence with its paragraph as context."""

    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._matchers = {lang: _matcher(resources.taxonomy, lang) for lang in ("en", "hi", "ru")}
        self._order = {spec.id: i for i, spec in enumerate(resources.taxonomy)}

    def group(self, transcript: Transcript, max_topics: int) -> list[TopicGroup]:
        tokens = [words(s.text) for s in transcript.sentences]
        scores = [
            self._matchers[s.language].score(toks)
            for s, toks in zip(transcript.sentences, tokens, strict=True)
        ]
        paragraph_scores: dict[int, Counter[str]] = defaultdict(Counter)
        for sentence, score in zip(transcript.sentences, scores, strict=True):
            paragraph_scores[sentence.paragraph].update(score)

        assigned: dict[str, list[int]] = defaultdict(list)
        unmatched: list[int] = []
        previous_question_topic: str | None = None
        for sentence, own in zip(transcript.sentences, scores, strict=True):
            topic = self._best(own, paragraph_scores[sentence.paragraph])
            if topic is None and not sentence.is_question and sentence.speaker:
                # An answer that names no topic is about what was just asked.
                topic = previous_question_topic
            if sentence.id == transcript.title_sentence:
                continue  # the title becomes the headline, not a bullet
            if sentence.is_question:
                # Questions steer the answers' topic but are not what the briefing said.
                previous_question_topic = topic or previous_question_topic
            elif topic is None:
                unmatched.append(sentence.id)
            else:
                assigned[topic].append(sentence.id)

        groups = [TopicGroup(topic_id, tuple(ids)) for topic_id, ids in assigned.items()]
        groups.sort(key=lambda g: -len(g.sentence_ids))
        groups = groups[:max_topics]
        groups.sort(key=lambda g: g.sentence_ids[0])
        room = max_topics - len(groups)
        if room > 0:
            groups.extend(self._emergent(transcript, unmatched, tokens, room))
        return groups

    def _best(self, own: Counter[str], paragraph: Counter[str]) -> str | None:
        combined = Counter(own)
        for topic, value in paragraph.items():
            combined[topic] += _PARAGRAPH_WEIGHT * value
        if not combined:
            return None
        return max(combined, key=lambda t: (combined[t], own[t], -self._order[t]))

    def _emergent(
        self,
        transcript: Transcript,
        unmatched: list[int],
        tokens: list[list[str]],
        room: int,
    ) -> list[TopicGroup]:
        """Unmatched sentences sharing a salient word form a topic; the rest are "other"."""
        candidates = unmatched
        counts: Counter[str] = Counter()
        for i in candidates:
            stop = self._resources.stopwords[transcript.sentences[i].language]
            counts.update(
                {w for w in tokens[i] if len(w) >= _EMERGENT_MIN_WORD_LENGTH and w not in stop}
            )
        groups: list[TopicGroup] = []
        left = list(candidates)
        for word, count in counts.most_common():
            if count < _EMERGENT_MIN_SENTENCES or len(groups) >= room - 1:
                break
            members = [i for i in left if word in tokens[i]]
            if len(members) < _EMERGENT_MIN_SENTENCES:
                continue
            groups.append(
                TopicGroup(f"emergent-{len(groups) + 1}", tuple(members), (word,), emergent=True)
            )
            left = [i for i in left if i not in members]
        if left and len(groups) < room:
            groups.append(TopicGroup(OTHER_TOPIC, tuple(left), emergent=True))
        return groups
