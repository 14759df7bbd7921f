"""SQLAlchemy tables of the knowledge model (层次模型 + 关系模型) and its governance.

Category 知识大类 → Package 知识包 (owns versioned field templates) → Table 知识表 (a knowledge
item, identified by a stable code) → Revision (the fields 知识字段 of one version of a table).
Content that goes through review (title, similar questions, tags, field values) lives on the
revision; identity and governance metadata (code, audience, validity) live on the table.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kb.clock import ensure_utc, utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so store naive UTC there)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = ensure_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else ensure_utc(value)


class Base(DeclarativeBase):
    # Named constraints: PostgreSQL needs names to drop the revisions ⇄ tables foreign-key cycle.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Audience(enum.StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


class RevisionState(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class Role(enum.StrEnum):
    AGENT = "agent"
    EDITOR = "editor"
    REVIEWER = "reviewer"
    ADMIN = "admin"


def _enum(cls: type[enum.StrEnum]) -> Enum:
    # Store the values (not the member names) as plain strings: portable and readable in SQL.
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    packages: Mapped[list[Package]] = relationship(
        back_populates="category", order_by="Package.position, Package.name"
    )


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("category_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    review_interval_days: Mapped[int] = mapped_column(Integer, default=180)
    owner: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    category: Mapped[Category] = relationship(back_populates="packages")
    templates: Mapped[list[FieldTemplate]] = relationship(
        back_populates="package", order_by="FieldTemplate.version", cascade="all, delete-orphan"
    )
    tables: Mapped[list[KnowledgeTable]] = relationship(back_populates="package")

    @property
    def template(self) -> FieldTemplate:
        """The current (highest) template version; every package has at least one."""
        return self.templates[-1]


class FieldTemplate(Base):
    """One version of a package's field template; ``fields`` is a list of FieldSpec dicts."""

    __tablename__ = "field_templates"
    __table_args__ = (UniqueConstraint("package_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    package: Mapped[Package] = relationship(back_populates="templates")


class TableLink(Base):
    """A directed 'see also' link between two tables (the relational part of the model)."""

    __tablename__ = "table_links"

    table_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_tables.id", ondelete="CASCADE"), primary_key=True
    )
    related_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_tables.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class KnowledgeTable(Base):
    __tablename__ = "knowledge_tables"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="RESTRICT"))
    audience: Mapped[Audience] = mapped_column(_enum(Audience), default=Audience.PUBLIC)
    author: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    valid_from: Mapped[datetime | None] = mapped_column(default=None)
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    last_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    live_revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("revisions.id", use_alter=True, ondelete="SET NULL"), default=None
    )
    expired_at: Mapped[datetime | None] = mapped_column(default=None)  # set by the sweep
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    package: Mapped[Package] = relationship(back_populates="tables")
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="table",
        order_by="Revision.number",
        foreign_keys="Revision.table_id",
        cascade="all, delete-orphan",
    )
    live_revision: Mapped[Revision | None] = relationship(
        foreign_keys=[live_revision_id], post_update=True
    )
    related: Mapped[list[KnowledgeTable]] = relationship(
        secondary="table_links",
        primaryjoin="KnowledgeTable.id == TableLink.table_id",
        secondaryjoin="KnowledgeTable.id == TableLink.related_id",
        order_by="TableLink.position",
        viewonly=True,
    )

    @property
    def latest_revision(self) -> Revision:
        return self.revisions[-1]

    @property
    def title(self) -> str:
        """Title of the live revision, else of the latest one."""
        return (self.live_revision or self.latest_revision).title


class Revision(Base):
    __tablename__ = "revisions"
    __table_args__ = (
        UniqueConstraint("table_id", "number"),
        Index("ix_revisions_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("knowledge_tables.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[RevisionState] = mapped_column(_enum(RevisionState), default=RevisionState.DRAFT)
    title: Mapped[str] = mapped_column(String(300))
    questions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    template_version: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(100), default="")
    # Everyone who wrote into this revision, its author first (an admin editing an editor's
    # draft, an import rewriting it): none of them may approve it.
    # Nullable: revisions from before schema version 3 have none (their author wrote them).
    contributors: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    # Audience and validity this revision changes when it goes live (reviewed like its
    # content): {"audience": "public", "valid_until": ISO or null, ...}; None: no change.
    proposed: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    note: Mapped[str] = mapped_column(Text, default="")  # the author's change note
    based_on: Mapped[int | None] = mapped_column(Integer, default=None)  # revision number
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    publish_at: Mapped[datetime | None] = mapped_column(default=None)  # scheduled publish
    published_at: Mapped[datetime | None] = mapped_column(default=None)

    table: Mapped[KnowledgeTable] = relationship(
        back_populates="revisions", foreign_keys=[table_id]
    )


class SynonymGroup(Base):
    """Terms that mean the same to a customer (同义词), e.g. 改号 / 换号 / 更换号码."""

    __tablename__ = "synonym_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    terms: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DomainTerm(Base):
    """A domain word the tokenizer must keep whole (领域词), e.g. 携号转网, 微粒贷."""

    __tablename__ = "domain_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_object", "object_type", "object_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str] = mapped_column(String(30))  # table, package, category, user, ...
    object_key: Mapped[str] = mapped_column(String(100))  # the code or name
    revision: Mapped[int | None] = mapped_column(Integer, default=None)
    comment: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[Role] = mapped_column(_enum(Role))
    # Empty scopes = everything; else category names and "category/package" paths.
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()


class Flag(Base):
    """An agent's report that a published table is wrong, outdated, unclear or a duplicate."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("knowledge_tables.id", ondelete="CASCADE"))
    revision_number: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    raised_by: Mapped[str] = mapped_column(String(100))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(String(100), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(String(20), default=None)
    resolution_comment: Mapped[str] = mapped_column(Text, default="")

    table: Mapped[KnowledgeTable] = relationship()


class QueryLogEntry(Base):
    __tablename__ = "query_log"
    __table_args__ = (Index("ix_query_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))
    query: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(Text, default="")
    results: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{code, confidence}]
    abstained: Mapped[bool] = mapped_column(default=False)
    latency_ms: Mapped[float] = mapped_column(default=0.0)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))
    query: Mapped[str] = mapped_column(Text, default="")
    table_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_tables.id", ondelete="CASCADE"), default=None
    )
    helpful: Mapped[bool] = mapped_column()
    query_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("query_log.id", ondelete="SET NULL"), default=None
    )


class TableUsage(Base):
    """Running counters per table, kept beside the query log so dashboards need no log scan."""

    __tablename__ = "table_usage"

    table_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_tables.id", ondelete="CASCADE"), primary_key=True
    )
    hits: Mapped[int] = mapped_column(Integer, default=0)  # times suggested first
    last_hit_at: Mapped[datetime | None] = mapped_column(default=None)
    helpful: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful: Mapped[int] = mapped_column(Integer, default=0)


class GoldenQuery(Base):
    """A logged query confirmed to be answered by a table: the KB's own benchmark set."""

    __tablename__ = "golden_queries"
    __table_args__ = (UniqueConstraint("query", "table_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    table_id: Mapped[int] = mapped_column(ForeignKey("knowledge_tables.id", ondelete="CASCADE"))
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    table: Mapped[KnowledgeTable] = relationship()


class HandoffStatus(enum.StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    CLOSED = "closed"


class HandoffRequest(Base):
    """A customer's request to reach a person (联系人工客服), worked by staff in the admin desk.

    The customer looks it up by ``ref`` and a secret token, of which only the hash is kept
    (like API tokens). Contact details are the ones the customer chose to give; all optional.
    """

    __tablename__ = "handoff_requests"
    __table_args__ = (Index("ix_handoff_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(20), unique=True, default=None)
    token_hash: Mapped[str] = mapped_column(String(128))
    question: Mapped[str] = mapped_column(Text)
    # What the customer had been shown: [{code, title}], and whether the search abstained.
    shown: Mapped[list[Any]] = mapped_column(JSON, default=list)
    abstained: Mapped[bool] = mapped_column(default=True)
    channel: Mapped[str] = mapped_column(String(16))
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_wechat: Mapped[str] = mapped_column(String(30), default="")
    status: Mapped[HandoffStatus] = mapped_column(_enum(HandoffStatus), default=HandoffStatus.NEW)
    assignee: Mapped[str | None] = mapped_column(String(100), default=None)
    query_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("query_log.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The last change the customer can see (status, a reply); staff notes and who holds the
    # request leave it: the customer's status page shows it.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)

    messages: Mapped[list[HandoffMessage]] = relationship(
        back_populates="request", order_by="HandoffMessage.id", cascade="all, delete-orphan"
    )


class HandoffMessage(Base):
    """A reply to the customer (shown on their status page) or a note between staff."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("handoff_requests.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    to_customer: Mapped[bool] = mapped_column(default=False)

    request: Mapped[HandoffRequest] = relationship(back_populates="messages")


class SchemaVersion(Base):
    __tablename__ = "zhiku_schema"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeCounter(Base):
    """The last stamp handed to a change-feed entry: one row, taken by every writer at commit.

    Its row lock orders the writers, so stamps are handed out in commit order without gaps
    (:mod:`kb.change_feed`).
    """

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ChangeFeedEntry(Base):
    """One committed unit of work that changed what search serves, for other replicas to apply."""

    __tablename__ = "change_feed"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    tables: Mapped[list[Any]] = mapped_column(JSON, default=list)  # knowledge_tables ids
    dictionary: Mapped[bool] = mapped_column(default=False)  # synonyms or domain terms changed
