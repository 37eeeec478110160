"""JSON in the versioned schema described by docs/digest.schema.json."""

from __future__ import annotations

import json
from typing import Any

from digest.model import Digest
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
    }


def render_json(digest: Digest, resources: Resources | None = None) -> str:
    return json.dumps(digest_to_dict(digest), ensure_ascii=False, indent=2) + "\n"
