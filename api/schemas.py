"""Request and response bodies of the HTTP API (pydantic); the OpenAPI document is built from these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api import limits
from api.inputs import Id, Moment
from presenters import search_json

# ---------------------------------------------------------------- common


class ProblemOut(BaseModel):
    field: str | None = None
    value: Any = None
    message: str
    location: str | None = None


class ErrorOut(BaseModel):
    """Every error response: machine-readable kind, a sentence for people, and the problems."""

    error: str = Field(examples=["validation_failed"])
    message: str
    problems: list[ProblemOut] = []


class Page(BaseModel):
    total: int
    page: int
    page_size: int


class Ok(BaseModel):
    ok: bool = True
    message: str = ""


class Health(BaseModel):
    """What anyone may know: the service answers and its database does."""

    status: Literal["ok"] = "ok"


class HealthDetail(Health):
    """What admins may know besides: the index, counts, the last sweep."""

    database: str
    tables: int
    live_tables: int
    index: dict[str, Any]
    uptime_s: float
    last_sweep: dict[str, Any]
    retuning: bool = Field(
        default=False,
        description="Whether this server process runs a re-tune in the background now "
        "(searches are answered meanwhile, with the parameters the index had, on the cores it "
        "leaves; of several workers one re-tunes, the others then take its result).",
    )
    replica: dict[str, Any] = Field(
        default_factory=dict,
        description="Where this process stands in the change feed it follows: last and head "
        "stamp, lag in seconds, whether it listens (empty when it follows none).",
    )


class Me(BaseModel):
    name: str
    display_name: str
    role: str
    scopes: list[str]
    actions: list[str]


# ---------------------------------------------------------------- search


# The search response is the JSON of presenters.search_json, shared with `kb search --json`.
Snippet = search_json.Snippet
Freshness = search_json.Freshness
RenderingOut = search_json.RenderingOut
MyFlag = search_json.MyFlag
Scores = search_json.ScoresOut
Suggestion = search_json.SuggestionOut
SearchOut = search_json.SearchOut


class Turn(BaseModel):
    role: Literal["customer", "agent"]
    text: str = Field(max_length=limits.MAX_TURN_CHARS)


class SuggestIn(BaseModel):
    """A chat or call transcript; suggestions are for its last customer turn."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transcript": [
                        {"role": "customer", "text": "你好，我想问下改号的事"},
                        {"role": "agent", "text": "您好，请讲"},
                        {"role": "customer", "text": "换了新号以后旧号还扣钱吗"},
                    ],
                    "k": 3,
                }
            ]
        }
    )

    transcript: list[Turn] = Field(min_length=1, max_length=limits.MAX_TRANSCRIPT_TURNS)
    k: int = Field(5, ge=1, le=limits.MAX_K)
    category: str | None = None
    package: str | None = None
    format: Literal["plain", "markdown", "html", "agent", "web", "sms", "wechat", "voice"] = "plain"
    renderings: bool = False


class SuggestOut(SearchOut):
    turn: int = Field(description="Index in the transcript of the customer turn answered")


class FlagIn(BaseModel):
    code: str = Field(max_length=64)
    reason: Literal["wrong", "outdated", "unclear", "duplicate"]
    comment: str = Field("", max_length=limits.MAX_COMMENT_CHARS)


class FlagOut(BaseModel):
    id: int
    code: str
    revision: int | None
    reason: str
    comment: str
    raised_by: str
    raised_at: datetime


class FeedbackIn(BaseModel):
    code: str | None = Field(
        None, max_length=64, description="The suggestion voted on; none: nothing fitted"
    )
    helpful: bool
    query: str = Field("", max_length=limits.MAX_QUERY_CHARS)
    query_log_id: Id | None = None


class FeedbackOut(BaseModel):
    id: int
    code: str | None
    helpful: bool


# ---------------------------------------------------------------- customer portal


class FaqTableRef(BaseModel):
    code: str
    title: str


class FaqPackage(BaseModel):
    name: str
    description: str
    tables: list[FaqTableRef]


class FaqCategory(BaseModel):
    name: str
    description: str
    packages: list[FaqPackage]


class FaqTree(BaseModel):
    categories: list[FaqCategory]


class FaqField(BaseModel):
    key: str
    label: str
    type: str
    content: str


class FaqTable(BaseModel):
    code: str
    title: str
    path: list[str]
    tags: list[str]
    format: str
    answer: str | None
    fields: list[FaqField]
    published_at: datetime | None
    last_verified_at: datetime | None
    expires_at: datetime | None
    related: list[FaqTableRef]


class FaqHit(BaseModel):
    code: str
    title: str
    path: list[str]
    confidence: float
    snippet: Snippet | None
    answer: str


class FaqSearchOut(BaseModel):
    query: str
    format: str
    abstained: bool
    threshold: float = Field(description="Confidence below which a result is only 'maybe related'")
    results: list[FaqHit]
    query_log_id: int | None = None
    contact: str = Field(description="Where to go when nothing fits (联系人工客服)")


# ---------------------------------------------------------------- hierarchy


class FieldSpecIO(BaseModel):
    key: str
    label: str
    type: Literal["text", "markdown", "steps", "list"] = "text"
    required: bool = False
    searchable: bool = True
    weight: float = 1.0
    audience: Literal["public", "internal"] = "public"
    customer_label: str = Field("", description="Label on the customer portal; empty: derived")
    customer_sees: str = Field(
        "", description="The label customers read (customer_label or derived)"
    )


class CategoryIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)


class CategoryUpdate(BaseModel):
    description: str = Field(max_length=2000)


class RenameIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="The new name")


class PackageRef(BaseModel):
    name: str
    path: str
    description: str
    review_interval_days: int
    owner: str
    template_version: int
    tables: int


class CategoryOut(BaseModel):
    name: str
    description: str
    packages: list[PackageRef]


class PackageIn(BaseModel):
    category: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    review_interval_days: int = Field(180, ge=0, le=3650)
    owner: str = Field("", max_length=100)
    template: list[dict[str, Any]] = Field(
        description="Field template; every template needs a field with key 'answer'",
        examples=[
            [
                {"key": "answer", "label": "标准答复", "type": "markdown", "required": True},
                {"key": "internal_note", "label": "内部备注", "audience": "internal"},
            ]
        ],
    )


class PackageUpdate(BaseModel):
    description: str | None = Field(None, max_length=2000)
    review_interval_days: int | None = Field(None, ge=0, le=3650)
    owner: str | None = Field(None, max_length=100)
    template: list[dict[str, Any]] | None = None


class TableRow(BaseModel):
    code: str
    title: str
    package: str
    audience: str
    state: str = Field(description="Status of the latest revision (draft, in_review, scheduled…)")
    latest_revision: int
    live_revision: int | None
    expires_at: datetime | None
    updated_at: datetime


class PackageOut(PackageRef):
    category: str
    template: list[FieldSpecIO]
    table_rows: list[TableRow]


class TableList(Page):
    tables: list[TableRow]


# ---------------------------------------------------------------- tables and revisions


class TableIn(BaseModel):
    package: str = Field(description="'category/package'", examples=["通信业务/改号业务"])
    code: str = Field(max_length=64, examples=["TX-GH-101"])
    title: str = Field(max_length=300)
    questions: list[str] = []
    tags: list[str] = []
    fields: dict[str, Any] = {}
    audience: Literal["public", "internal"] = "public"
    source: str = Field("", max_length=200)
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    note: str = Field("", max_length=limits.MAX_COMMENT_CHARS, description="Change note")
    related: list[str] = Field([], max_length=50, description="Codes of related tables")


class DraftIn(BaseModel):
    """A change to the table's content; fields left out stay as they are."""

    title: str | None = Field(None, max_length=300)
    questions: list[str] | None = None
    tags: list[str] | None = None
    fields: dict[str, Any] | None = None
    replace_fields: bool = False
    note: str = Field("", max_length=limits.MAX_COMMENT_CHARS)


class MetaIn(BaseModel):
    audience: Literal["public", "internal"] | None = None
    source: str | None = Field(None, max_length=200)
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    clear_valid_from: bool = False
    clear_valid_until: bool = False
    related: list[str] | None = Field(
        None, description="Codes of related tables (replaces the list)"
    )
    package: str | None = Field(None, description="Move to this 'category/package'")


class RevisionOut(BaseModel):
    number: int
    state: str
    title: str
    questions: list[str]
    tags: list[str]
    fields: dict[str, Any]
    template_version: int
    author: str
    contributors: list[str] = Field(
        description="Everyone who wrote into this revision (none of them may approve it)"
    )
    proposed: dict[str, Any] | None = Field(
        None, description="Audience / validity this revision applies when it goes live"
    )
    note: str
    based_on: int | None
    created_at: datetime
    submitted_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str
    publish_at: datetime | None
    published_at: datetime | None


class RevisionBrief(BaseModel):
    number: int
    state: str
    title: str
    author: str
    created_at: datetime
    note: str = Field(description="The author's change note")
    based_on: int | None
    reviewed_by: str | None
    review_comment: str
    publish_at: datetime | None = Field(description="Scheduled publication, once approved")
    published_at: datetime | None


class TableOut(BaseModel):
    code: str
    title: str
    category: str
    package: str
    audience: str
    author: str
    source: str
    valid_from: datetime | None
    valid_until: datetime | None
    last_verified_at: datetime | None
    expires_at: datetime | None
    expired: bool
    state: str
    allowed_actions: list[str]
    live_revision: int | None
    template: list[FieldSpecIO]
    latest: RevisionOut
    live: RevisionOut | None
    revisions: list[RevisionBrief]
    related: list[FaqTableRef]
    open_flags: list[FlagOut]
    usage: dict[str, Any]


class CommentIn(BaseModel):
    comment: str = Field("", max_length=limits.MAX_COMMENT_CHARS)


REVIEWED = (
    "The revision's submitted_at as the reviewer read it: a revision withdrawn, changed and "
    "submitted again since is refused with 409 instead of decided unread"
)


class RejectIn(BaseModel):
    comment: str = Field(min_length=1, max_length=limits.MAX_COMMENT_CHARS)
    submitted_at: Moment | None = Field(None, description=REVIEWED)


class ApproveIn(CommentIn):
    publish_at: Moment | None = Field(None, description="Schedule publication instead of now")
    submitted_at: Moment | None = Field(None, description=REVIEWED)


class RollbackIn(BaseModel):
    to: Id = Field(description="Revision number to copy into a new draft")
    note: str = Field("", max_length=limits.MAX_COMMENT_CHARS)


class VerifyIn(CommentIn):
    valid_until: Moment | None = Field(None, description="New end of validity (optional)")


class DuplicateOut(BaseModel):
    code: str
    title: str
    score: float


class TransitionOut(BaseModel):
    code: str
    revision: int
    state: str
    live_revision: int | None
    duplicates: list[DuplicateOut] = []


class DiffChange(BaseModel):
    key: str
    label: str
    kind: str
    before: Any
    after: Any
    removed: list[str]
    added: list[str]
    lines: list[str]


class DiffOut(BaseModel):
    code: str
    a: int
    b: int
    changes: list[DiffChange]


# ---------------------------------------------------------------- queues, audit, dictionary


class DueItemOut(BaseModel):
    code: str
    title: str
    package: str
    owner: str
    expires_at: datetime | None
    last_verified_at: datetime | None
    valid_until: datetime | None


class ReviewItemOut(BaseModel):
    code: str
    revision: int
    title: str
    package: str
    author: str
    submitted_at: datetime | None
    note: str
    live_revision: int | None


class FlaggedItemOut(BaseModel):
    code: str
    title: str
    package: str
    owner: str
    flags: list[dict[str, Any]]


class QueueOut(BaseModel):
    queue: str
    count: int
    items: list[DueItemOut] | list[ReviewItemOut] | list[FlaggedItemOut]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_key: str
    revision: int | None
    comment: str
    detail: dict[str, Any]


class AuditList(Page):
    entries: list[AuditOut]


class SynonymsIO(BaseModel):
    synonyms: list[list[str]] = Field(examples=[[["改号", "换号", "更换号码"]]])


class TermsIO(BaseModel):
    terms: list[str] = Field(examples=[["携号转网", "副卡"]])


class ImportOut(BaseModel):
    created: list[str]
    revised: list[str]
    proposed: list[str] = Field(
        default_factory=list,
        description="Tables whose audience / validity change waits for review on a draft",
    )
    unchanged: list[str]
    categories: int
    packages: int
    published: bool


class HitTestOut(SearchOut):
    explain: dict[str, Any] = Field(default_factory=dict)
    default_threshold: float = Field(
        description="The channel's calibrated threshold (`threshold` is the one applied)"
    )
