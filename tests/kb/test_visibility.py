from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kb.clock import frozen, utcnow
from kb.models import Audience, RevisionState
from kb.visibility import Channel, expires_at, is_stale, visible
from tests.factories import make_package, make_table

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_expiry_is_the_earlier_of_valid_until_and_review_interval(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session, review_interval_days=30)
    verified = NOW - timedelta(days=10)
    table = make_table(
        session, package=package, last_verified_at=verified, valid_until=NOW + timedelta(days=5)
    )
    assert expires_at(table) == NOW + timedelta(days=5)
    table.valid_until = None
    assert expires_at(table) == verified + timedelta(days=30)
    assert not is_stale(table, NOW)
    assert is_stale(table, verified + timedelta(days=30))


def test_never_verified_counts_from_publication(session) -> None:  # type: ignore[no-untyped-def]
    with frozen(NOW):
        table = make_table(session, package=make_package(session, review_interval_days=7))
        assert expires_at(table) == utcnow() + timedelta(days=7)


def test_channel_rules(session) -> None:  # type: ignore[no-untyped-def]
    package = make_package(session, review_interval_days=0)
    public = make_table(session, package=package)
    internal = make_table(
        session, package=package, code="TX-2", title="内部口径", audience=Audience.INTERNAL
    )
    expired = make_table(session, package=package, code="TX-3", title="旧活动", valid_until=NOW)
    future = make_table(
        session, package=package, code="TX-4", title="新活动", valid_from=NOW + timedelta(days=1)
    )
    draft = make_table(
        session, package=package, code="TX-5", title="草稿", state=RevisionState.DRAFT
    )
    seen = {
        channel: [
            t.code for t in (public, internal, expired, future, draft) if visible(t, channel, NOW)
        ]
        for channel in Channel
    }
    assert seen == {Channel.AGENT: ["TX-GH-001", "TX-2"], Channel.CUSTOMER: ["TX-GH-001"]}
    with_expired = [
        t.code
        for t in (public, internal, expired, future, draft)
        if visible(t, Channel.AGENT, NOW, include_expired=True)
    ]
    assert with_expired == ["TX-GH-001", "TX-2", "TX-3", "TX-4"]
    assert not visible(expired, Channel.CUSTOMER, NOW, include_expired=True)


def test_the_index_documents_window_agrees_with_the_rules(session) -> None:  # type: ignore[no-untyped-def]
    # The search index asks a cached Window of each document; at every boundary it must say
    # what the rules say of the table.
    from indexer.documents import document_for

    package = make_package(session, review_interval_days=30)
    tables = [
        make_table(session, package=package, last_verified_at=NOW - timedelta(days=29)),
        make_table(
            session, package=package, code="TX-2", title="内部口径", audience=Audience.INTERNAL
        ),
        make_table(session, package=package, code="TX-3", title="旧活动", valid_until=NOW),
        make_table(session, package=package, code="TX-4", title="新活动", valid_from=NOW),
    ]
    times = [NOW + timedelta(seconds=s) for s in (-1, 0, 1)] + [NOW + timedelta(days=1)]
    for table in tables:
        doc = document_for(table)
        assert doc is not None
        for at in times:
            for channel in Channel:
                for include_expired in (False, True):
                    expected = visible(table, channel, at, include_expired=include_expired)
                    assert doc.visible(channel, at, include_expired=include_expired) is expected
            assert doc.expired(at) is not visible(table, Channel.AGENT, at)
        assert doc.expires_at() == expires_at(table)
