"""Knowledge gaps: from the query log to clusters, and from a cluster through review to live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from kb import gaps, users, workflow
from kb.clock import frozen
from kb.errors import Conflict, NotFound, PermissionDenied
from kb.models import RevisionState, User
from tests.factories import char_embed, log_unanswered, make_package, make_table

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)


def _unanswered(session: Session, query: str, times: int = 1) -> None:
    log_unanswered(session, query, times, at=NOW - timedelta(hours=1))


def _user(session: Session, name: str, role: str, scopes: Sequence[str] = ()) -> User:
    return users.create_user(session, name, role, scopes)


def _log_two_intents(session: Session) -> None:
    _unanswered(session, "数字人民币钱包怎么开通", 3)
    _unanswered(session, "怎么开通数字人民币钱包", 2)
    _unanswered(session, "以旧换新怎么估价", 2)


def test_find_clusters_reads_the_log_and_ranks_by_volume(session: Session) -> None:
    _log_two_intents(session)
    clusters = gaps.find_clusters(session, char_embed, since=SINCE, threshold=0.75)
    assert [(c.name, c.volume, c.queries) for c in clusters] == [
        ("数字人民币钱包怎么开通", 5, ["数字人民币钱包怎么开通", "怎么开通数字人民币钱包"]),
        ("以旧换新怎么估价", 2, ["以旧换新怎么估价"]),
    ]
    assert gaps.find_clusters(session, char_embed, since=NOW, threshold=0.75) == []


def test_cluster_number_refuses_a_missing_or_renumbered_cluster(session: Session) -> None:
    _log_two_intents(session)
    clusters = gaps.find_clusters(session, char_embed, since=SINCE, threshold=0.75)
    assert gaps.cluster_number(clusters, 2).name == "以旧换新怎么估价"
    assert gaps.cluster_number(clusters, 1, expected=" 数字人民币钱包怎么开通 ") is clusters[0]
    with pytest.raises(NotFound, match="No gap cluster 3; there are 2 clusters"):
        gaps.cluster_number(clusters, 3)
    with pytest.raises(NotFound, match="no knowledge gaps"):
        gaps.cluster_number([], 1)
    with pytest.raises(Conflict, match="now “以旧换新怎么估价”, not “数字人民币钱包怎么开通”"):
        gaps.cluster_number(clusters, 2, expected="数字人民币钱包怎么开通")


def test_gap_draft_is_reviewed_then_published(session: Session) -> None:
    package = make_package(session, "银行服务", "手机银行与转账")
    editor = _user(session, "editor1", "editor")
    reviewer = _user(session, "reviewer1", "reviewer")
    _log_two_intents(session)
    cluster = gaps.find_clusters(session, char_embed, since=SINCE, threshold=0.75)[0]
    with frozen(NOW):
        table = gaps.draft_from_gap(
            session,
            editor,
            cluster,
            package,
            code="YH-SZ-901",
            fields={"answer": "在手机银行“数字人民币”页开通钱包。"},
            title="怎么开通数字人民币钱包并绑定本行卡",
        )
        draft = table.latest_revision
        assert (draft.state, draft.author, draft.questions) == (
            RevisionState.DRAFT,
            "editor1",
            ["数字人民币钱包怎么开通", "怎么开通数字人民币钱包"],
        )
        assert table.live_revision is None
        workflow.submit(session, editor, "YH-SZ-901")
        workflow.approve(session, reviewer, "YH-SZ-901", comment="口径已核对")
    assert table.live_revision is draft
    assert draft.state is RevisionState.PUBLISHED and draft.reviewed_by == "reviewer1"


def test_gap_draft_needs_the_draft_permission_in_the_package(session: Session) -> None:
    package = make_package(session, "银行服务", "手机银行与转账")
    make_package(session)
    agent = _user(session, "agent1", "agent")
    outsider = _user(session, "editor9", "editor", ["通信业务"])
    cluster = gaps.GapCluster("以旧换新怎么估价", ["以旧换新怎么估价"], 2)
    for user in (agent, outsider):
        with pytest.raises(PermissionDenied, match=user.name):
            gaps.draft_from_gap(session, user, cluster, package, code="X-1", fields={"answer": "a"})


def test_attach_adds_the_queries_as_a_reviewable_draft(session: Session) -> None:
    package = make_package(session)
    make_table(session, package=package, code="TX-GH-002", questions=["旧问法"])
    editor = _user(session, "editor1", "editor")
    revision = gaps.attach_to_table(session, editor, "TX-GH-002", ["新问法", "旧问法", "新问法"])
    assert (revision.state, revision.based_on, revision.note) == (
        RevisionState.DRAFT,
        1,
        gaps.ATTACH_NOTE,
    )
    assert revision.questions == ["旧问法", "新问法"]
    table = revision.table
    assert table.live_revision is not None and table.live_revision.questions == ["旧问法"]
    with pytest.raises(Conflict, match="already a similar question of TX-GH-002"):
        gaps.attach_to_table(session, editor, "TX-GH-002", ["新问法"])
    workflow.submit(session, editor, "TX-GH-002")
    with pytest.raises(Conflict, match="in_review"):
        gaps.attach_to_table(session, editor, "TX-GH-002", ["第三种问法"])


def test_attach_refuses_an_unknown_table_and_a_user_out_of_scope(session: Session) -> None:
    make_table(session)
    make_package(session, "银行服务", "信用卡")
    outsider = _user(session, "editor9", "editor", ["银行服务"])
    with pytest.raises(NotFound, match="NO-SUCH"):
        gaps.attach_to_table(session, outsider, "NO-SUCH", ["q"])
    with pytest.raises(PermissionDenied, match="通信业务/改号业务"):
        gaps.attach_to_table(session, outsider, "TX-GH-001", ["q"])


def test_queries_that_cannot_be_similar_questions_are_left_out_and_said_so(
    session: Session,
) -> None:
    """A contact question runs to 500 characters, a similar question to 300: one long query
    made the cluster's draft and attach fail (422) however the editor filled the rest."""
    package = make_package(session)
    make_table(session, package=package, code="TX-GH-002", questions=["旧问法"])
    editor = _user(session, "editor1", "editor")
    long = "我想问一下" * 70  # 350 characters
    cluster = gaps.GapCluster("改号积分", ["改号积分还在吗", long], 3)
    table = gaps.draft_from_gap(
        session, editor, cluster, package, code="TX-GH-901", fields={"answer": "积分保留。"}
    )
    draft = table.latest_revision
    assert draft.questions == ["改号积分还在吗"]
    assert draft.note.startswith("1 条问法未加入（每条至多 300 字")
    revision = gaps.attach_to_table(session, editor, "TX-GH-002", [long, "新问法"])
    assert revision.questions == ["旧问法", "新问法"]
    assert revision.note.startswith(gaps.ATTACH_NOTE + "；1 条问法未加入")
    with pytest.raises(Conflict, match="or cannot be one"):
        gaps.attach_to_table(session, editor, "TX-GH-002", [long])
