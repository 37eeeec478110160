"""Count readers' error classes that can be seen in Markdown digests, over a folder of them.

Used for blind tests on transcripts that are not in the repository: digest them into a folder
(``briefing-digest batch DIR --out OUT --format md``), then ``python scripts/digest_stats.py
OUT``. Prints files, empty digests, "Also discussed" topics, bullets and bullets cut with "…".
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_EMERGENT = re.compile(r"^## (Also discussed|Также обсуждалось|इन पर भी चर्चा हुई)", re.M)


def main(folder: str) -> None:
    files = sorted(Path(folder).glob("*.md"))
    empty = emergent = bullets = cut = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        empty += not text.strip()
        emergent += len(_EMERGENT.findall(text))
        for line in text.splitlines():
            if line.startswith("- ") and "**" not in line:  # Key names lines are bold
                bullets += 1
                cut += line.rstrip().endswith("…")
    print(f"files={len(files)} empty={empty} emergent={emergent} bullets={bullets} cut={cut}")


if __name__ == "__main__":
    main(sys.argv[1])
