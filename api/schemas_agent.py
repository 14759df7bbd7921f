"""Bodies of the agent's read routes: the whole entry of a live table."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas import FaqTableRef, MyFlag, RenderingOut


class AgentField(BaseModel):
    key: str
    label: str
    type: str = Field(description="text, markdown, steps or list")
    internal: bool = Field(description="Never shown to customers (内部)")
    content: str = Field(description="The value in the requested format")


class AgentTableOut(BaseModel):
    code: str
    title: str
    path: list[str] = Field(description="category, package, title")
    audience: str
    revision: int = Field(description="Number of the live revision shown")
    questions: list[str]
    tags: list[str]
    format: str
    fields: list[AgentField] = Field(description="Every field, internal ones included")
    author: str
    source: str
    published_at: datetime | None
    valid_from: datetime | None
    valid_until: datetime | None
    last_verified_at: datetime | None
    expires_at: datetime | None
    expired: bool
    expiring_soon: bool
    related: list[FaqTableRef] = Field(description="Related tables that are live")
    my_flags: list[MyFlag]
    rendering: RenderingOut | None = Field(
        None, description="With format=CHANNEL: the answer as that channel sends it"
    )
    renderings: dict[str, RenderingOut] | None = None
    traditional: dict[str, RenderingOut] | None = None
