"""The demo knowledge base in content/demo imports cleanly and survives export → import."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from kb import repository
from kb.db import Database, open_database
from kb.transfer.exporter import write_directory
from kb.transfer.importer import apply_bundle, import_path, read_path
from tests.kb.content_files import kb_content, snapshot

DEMO = Path(__file__).resolve().parents[2] / "content" / "demo"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_demo_imports_cleanly_and_round_trips(db: Database, tmp_path: Path) -> None:
    bundle = read_path(DEMO)
    assert bundle.problems == []
    with db.transaction() as session:
        report = apply_bundle(session, bundle, actor="demo", zone=SHANGHAI)
    assert len(report.created) == bundle.table_count()
    with db.session() as session:
        empty = [
            f"{c.name}/{p.name}"
            for c in repository.all_categories(session)
            for p in c.packages
            if not p.tables
        ]
        assert empty == []
        assert len(repository.all_tables(session)) == bundle.table_count()
        write_directory(session, tmp_path / "export")
        expected = kb_content(session)
        before = snapshot(session)
        again = import_path(session, tmp_path / "export", actor="demo", zone=SHANGHAI)
        assert (again.created, again.revised, again.updated) == ([], [], [])
        assert snapshot(session) == before
    fresh = open_database("sqlite://", create=True)
    try:
        with fresh.transaction() as session:
            import_path(session, tmp_path / "export", actor="demo", zone=SHANGHAI)
        with fresh.session() as session:
            assert kb_content(session) == expected
    finally:
        fresh.dispose()


def test_demo_meets_the_product_targets(sqlite_db: Database) -> None:
    """≥ 3 categories, ≥ 10 packages, ≥ 200 tables with ≥ 2 similar questions each, some
    Traditional, some internal-only, a few expired and a few expiring within 30 days."""
    from datetime import UTC, datetime, timedelta

    import opencc

    from kb.models import Audience
    from kb.visibility import expires_at

    with sqlite_db.transaction() as session:
        import_path(session, DEMO, actor="demo", zone=SHANGHAI)
    today = datetime(2026, 11, 23, tzinfo=UTC)
    to_simplified = opencc.OpenCC("t2s")
    with sqlite_db.session() as session:
        categories = repository.all_categories(session)
        tables = repository.all_tables(session)
        assert len(categories) >= 3
        assert sum(len(c.packages) for c in categories) >= 10
        assert len(tables) >= 200
        live = [t.live_revision for t in tables]
        assert all(r is not None and len(r.questions) >= 2 for r in live)
        traditional = [
            t.code
            for t in tables
            if any(to_simplified.convert(q) != q for q in t.live_revision.questions)  # type: ignore[union-attr]
        ]
        assert len(traditional) >= 20
        assert sum(t.audience is Audience.INTERNAL for t in tables) >= 3
        ends = [expires_at(t) for t in tables]
        expired = [e for e in ends if e is not None and e <= today]
        soon = [e for e in ends if e is not None and today < e <= today + timedelta(days=30)]
        assert len(expired) >= 3
        assert len(soon) >= 3
        assert repository.synonym_groups(session) and repository.domain_terms(session)
