"""The index follows the database: publish, archive, expire and edits touch only what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from indexer import store
from indexer.service import SearchService, sync_after_commit
from kb import changes, hierarchy, repository, tables
from kb.clock import utcnow
from kb.db import Database
from kb.models import RevisionState
from kb.settings import Settings
from kb.visibility import Channel
from tests.factories import ask, make_table


def _codes(service: SearchService, query: str, **kwargs: object) -> list[str]:
    return [s.code for s in service.search(ask(query, k=10, **kwargs)).suggestions]


@pytest.fixture
def service(settings: Settings, filled_db: Database) -> SearchService:
    return SearchService.open(settings, filled_db)


def _commit(db: Database, settings: Settings, work) -> set[int]:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        work(s)
        changed = changes.pop(s)
    assert sync_after_commit(settings, db, changed)
    return changed


def test_publishing_a_new_table_adds_only_it(
    settings: Settings, filled_db: Database, service: SearchService
) -> None:
    before = {t: d.stamp for t, d in service.index.docs.items()}

    def publish(s):  # type: ignore[no-untyped-def]
        from kb import repository

        make_table(
            s,
            repository.package_by_name(s, "通信业务", "改号业务"),
            code="TX-ETC-003",
            title="ETC设备怎么激活",
            questions=["ETC激活"],
            fields={"answer": "插卡后按激活键。"},
        )

    changed = _commit(filled_db, settings, publish)
    reopened = SearchService.open(settings, filled_db, sync=False)
    assert len(changed) == 1
    assert _codes(reopened, "ETC设备激活")[0] == "TX-ETC-003"
    after = {t: d.stamp for t, d in reopened.index.docs.items()}
    assert {t: s for t, s in after.items() if t in before} == before


def test_a_new_revision_replaces_the_old_text(
    settings: Settings, filled_db: Database, service: SearchService
) -> None:
    def revise(s):  # type: ignore[no-untyped-def]
        table = tables.get_table(s, "TX-5G-002")
        content = tables.TableContent(
            title="5G套餐如何退订", questions=["取消5G"], fields={"answer": "在APP中退订5G套餐。"}
        )
        tables.add_revision(s, table, content, actor="editor", state=RevisionState.PUBLISHED)

    _commit(filled_db, settings, revise)
    reopened = SearchService.open(settings, filled_db, sync=False)
    top = reopened.search(ask("5G套餐如何退订")).suggestions[0]
    assert top.code == "TX-5G-002" and top.title == "5G套餐如何退订"
    assert top.answer is not None and top.answer.value == "在APP中退订5G套餐。"


def test_archiving_removes_the_table(
    settings: Settings, filled_db: Database, service: SearchService
) -> None:
    def archive(s):  # type: ignore[no-untyped-def]
        table = tables.get_table(s, "BK-XY-001")
        table.live_revision.state = RevisionState.ARCHIVED
        table.live_revision = None
        s.flush()
        changes.mark(s, table.id)

    _commit(filled_db, settings, archive)
    reopened = SearchService.open(settings, filled_db, sync=False)
    assert "BK-XY-001" not in _codes(reopened, "PayPal绑定信用卡")
    assert len(reopened.index.docs) == 3


def test_validity_change_applies_without_rebuild(
    settings: Settings, filled_db: Database, service: SearchService
) -> None:
    def expire(s):  # type: ignore[no-untyped-def]
        table = tables.get_table(s, "TX-GH-001")
        meta = tables.TableMeta(
            audience=table.audience, valid_until=utcnow() - timedelta(minutes=1)
        )
        tables.update_meta(s, table, meta, actor="editor")

    _commit(filled_db, settings, expire)
    reopened = SearchService.open(settings, filled_db, sync=False)
    assert "TX-GH-001" not in _codes(reopened, "改号后旧号码还扣费吗", channel=Channel.CUSTOMER)
    flagged = reopened.search(ask("改号后旧号码还扣费吗", include_expired=True)).suggestions[0]
    assert flagged.code == "TX-GH-001" and flagged.expired


def test_open_repairs_drift_it_was_not_told_about(
    settings: Settings, filled_db: Database, service: SearchService
) -> None:
    with filled_db.transaction() as s:
        table = tables.get_table(s, "BK-XY-001")
        content = tables.TableContent(title="PayPal提现到信用卡", fields={"answer": "暂不支持。"})
        tables.add_revision(s, table, content, actor="editor", state=RevisionState.PUBLISHED)
        changes.pop(s)  # nobody tells the index
    repaired = SearchService.open(settings, filled_db)
    assert repaired.search(ask("PayPal提现")).suggestions[0].title == "PayPal提现到信用卡"
    assert repaired.status()["drift"]["tables_to_update"] == 0


def test_dictionary_change_rebuilds_the_lexical_index(
    settings: Settings, filled_db: Database, service: SearchService
) -> None:
    from kb import dictionary

    with filled_db.transaction() as s:
        dictionary.replace_synonyms(s, [["改号", "转号码"]], actor="editor")
    reopened = SearchService.open(settings, filled_db)
    assert reopened.params["analyzer_hash"] != service.params["analyzer_hash"]
    assert "w:改号" in reopened.index.analyzer.tokens("转号码")


def test_sync_after_commit_without_an_index_does_nothing(
    settings: Settings, filled_db: Database
) -> None:
    assert not sync_after_commit(settings, filled_db, {1})
    assert not (settings.index_dir / store.PARAMS).exists()


def test_a_sync_of_some_tables_takes_in_a_package_change_it_was_not_given(
    filled_db: Database, service: SearchService
) -> None:
    """The package stamps a sync records must not pass over a package change whose tables it
    was not given (a server syncs its own next change before its follower's round): after a
    restart nothing saw that change drift any more, and the old review interval stayed."""
    with filled_db.transaction() as s:
        card = repository.package_by_name(s, "银行业务", "信用卡")
        assert card is not None
        hierarchy.ensure_package(
            s, card.category, card.name, template=card.template.fields, review_interval_days=1
        )
        other = tables.get_table(s, "TX-5G-002").id
    service.sync([other])
    intervals = {d.code: d.review_interval_days for d in service.index.docs.values()}
    assert intervals["BK-XY-001"] == 1 and intervals["TX-GH-001"] == 180
