"""Request and response bodies of customers' contact requests (联系人工客服), both sides."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api import limits
from api.inputs import Id
from api.schemas import Page
from kb import handoff
from kb.contact import MAX_EMAIL_CHARS, MAX_NAME_CHARS

StatusName = Literal["new", "in_progress", "answered", "closed"]

# ---------------------------------------------------------------- the customer's side


class RequestIn(BaseModel):
    """What the customer sends; every contact detail is optional."""

    question: str = Field(max_length=handoff.MAX_QUESTION_CHARS, examples=["改号以后积分怎么办"])
    name: str = Field("", max_length=MAX_NAME_CHARS, description="How to address the customer")
    phone: str = Field("", max_length=30, examples=["13812345678"])
    email: str = Field("", max_length=MAX_EMAIL_CHARS)
    wechat: str = Field("", max_length=40, description="WeChat ID (微信号)")
    shown: list[str] = Field(
        [],
        max_length=handoff.MAX_SHOWN,
        description="Codes of the answers the customer was shown",
    )
    abstained: bool | None = Field(
        None, description="Whether the search found no confident answer (default: from the log)"
    )
    channel: Literal["web", "app", "wechat"] = "web"
    query_log_id: Id | None = Field(None, description="The search's query_log_id, if any")


class RequestCreated(BaseModel):
    ref: str = Field(description="Reference number to quote (参考编号)")
    token: str = Field(description="Secret for looking the request up; shown only this once")
    status: StatusName
    status_url: str = Field(description="The customer's status page (holds ref and token)")


class ContactOut(BaseModel):
    name: str
    phone: str
    email: str
    wechat: str


class ReplyOut(BaseModel):
    at: datetime
    text: str


class CustomerRequestOut(BaseModel):
    """The customer's view: no staff names or notes; contact details masked."""

    ref: str
    status: StatusName
    question: str
    created_at: datetime
    updated_at: datetime = Field(
        description="The last change the customer can see: the status or a reply (staff notes "
        "and reassignments leave it)."
    )
    replies: list[ReplyOut]
    contact: ContactOut


# ---------------------------------------------------------------- staff


class ShownOut(BaseModel):
    code: str
    title: str


class MessageOut(BaseModel):
    at: datetime
    author: str
    text: str
    to_customer: bool


class HistoryOut(BaseModel):
    at: datetime
    actor: str
    action: str
    comment: str
    detail: dict[str, Any]


class RequestRow(BaseModel):
    ref: str
    status: StatusName
    question: str
    abstained: bool
    channel: str
    has_contact: bool
    assignee: str | None
    created_at: datetime
    updated_at: datetime = Field(
        description="The last change the customer can see: the status or a reply (staff notes "
        "and reassignments leave it)."
    )


class RequestOut(RequestRow):
    shown: list[ShownOut]
    contact: ContactOut
    answered_at: datetime | None
    closed_at: datetime | None
    next_statuses: list[StatusName] = Field(description="Statuses it may move to now")
    messages: list[MessageOut]
    history: list[HistoryOut]


class RequestList(Page):
    status: str
    counts: dict[str, int] = Field(description="Requests per status, whatever the filter")
    items: list[RequestRow]


class HandlerOut(BaseModel):
    name: str
    display_name: str
    role: str


class AssignIn(BaseModel):
    to: str | None = Field(None, max_length=100, description="User name; null: nobody")


class StatusIn(BaseModel):
    status: StatusName
    comment: str = Field("", max_length=limits.MAX_COMMENT_CHARS)


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=limits.MAX_COMMENT_CHARS)
