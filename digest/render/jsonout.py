"""JSON in the versioned schemas of docs/: one digest (digest.schema.json) and the envelope
of one digest per language that the command line prints (digests.schema.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from digest.model import Changes, Digest
from digest.resources import Resources


def digest_to_dict(digest: Digest) -> dict[str, Any]:
    return {
        "schema_version": digest.schema_version,
        "source": digest.source_name,
        "source_language": digest.source_language,
        "language": digest.language,
        "headline": digest.headline,
        "topics": [
            {
                "id": topic.id,
                "title": topic.title,
                "bullets": [
                    {
                        "text": bullet.text,
                        "speaker": bullet.speaker,
                        "evidence": [
                            {"sentence": i, "text": digest.sentences.get(i, "")}
                            for i in bullet.evidence
                        ],
                    }
                    for bullet in topic.bullets
                ],
            }
            for topic in digest.topics
        ],
        "entities": [
            {"text": e.text, "kind": e.kind, "mentions": e.mentions} for e in digest.entities
        ],
        "engine": digest.engine,
        "route": list(digest.route),
        "notices": list(digest.notices),
        **({"changes": changes_to_dict(digest.changes)} if digest.changes else {}),
    }


def changes_to_dict(changes: Changes) -> dict[str, Any]:
    """The ``changes`` block (schema 1.2): what is new since the previous briefing."""
    return {
        "since": changes.since,
        "previous_source": changes.previous_source,
        "new_topics": list(changes.new_topics),
        "gone_topics": [{"id": t.id, "title": t.title} for t in changes.gone_topics],
    }


def render_json(digest: Digest, resources: Resources | None = None) -> str:
    return json.dumps(digest_to_dict(digest), ensure_ascii=False, indent=2) + "\n"


# 1.1: its digests follow digest schema 1.2 (an optional changes block).
ENVELOPE_VERSION = "1.1"


def envelope_to_dict(digests: Sequence[Digest]) -> dict[str, Any]:
    """One source in one or several languages: the same shape whatever the count."""
    first = digests[0]
    return {
        "schema_version": ENVELOPE_VERSION,
        "source": first.source_name,
        "source_language": first.source_language,
        "digests": [digest_to_dict(d) for d in digests],
    }


def render_json_envelope(digests: Sequence[Digest]) -> str:
    return json.dumps(envelope_to_dict(digests), ensure_ascii=False, indent=2) + "\n"
