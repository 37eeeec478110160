"""The packages, and the data they read shipped beside them as ``briefing_digest_data``.

``config.toml`` and ``prompts/`` stay at the top of the source tree; setuptools' declarative
configuration cannot map them into the wheel while also finding the packages, so this does.
Everything else about the project is in pyproject.toml.
"""

from setuptools import find_packages, setup

DATA_PACKAGE = "briefing_digest_data"

setup(
    packages=[
        *find_packages(
            include=[
                "settings*", "digest*", "models*", "sources*", "bot*", "cli*", "bench*", "workers*"
            ]
        ),
        DATA_PACKAGE,
    ],
    package_dir={DATA_PACKAGE: "."},
    package_data={
        "bench": ["configs/*.json"],
        DATA_PACKAGE: [
            "config.toml",
            "prompts/*.toml",
            "prompts/*.txt",
            "prompts/llm/*.j2",
            "prompts/stopwords/*.txt",
        ]
    },
)
