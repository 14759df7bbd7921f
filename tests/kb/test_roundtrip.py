"""import → export → import gives the same knowledge base (Hypothesis), and export is stable."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import hierarchy, repository
from kb.db import Database, open_database
from kb.models import Base, ChangeCounter, RevisionState, SchemaVersion
from kb.tables import CODE_RE
from kb.transfer.bundle import Bundle, CategoryDoc, PackageDoc, TableDoc
from kb.transfer.dates import parse_when
from kb.transfer.exporter import export_files, write_directory
from kb.transfer.importer import apply_bundle, check_bundle, import_path
from tests.factories import make_package, make_table
from tests.kb.content_files import kb_content, snapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Simplified and Traditional CJK, full-width forms, Chinese punctuation, the ideographic space,
# and ASCII that YAML treats specially.
_CHARS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
    st.sampled_from(list("“”‘’、。，：《》【】…—·\u3000 \t:#-'\"{}[],&*!|>%@`?~=aZ09")),
)
_NAME_CHARS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
    st.sampled_from(list("abcXYZ019-")),
)
texts = st.text(_CHARS, min_size=1, max_size=16).filter(lambda s: s.strip())
lines = st.lists(texts, min_size=1, max_size=3).map("\n".join)
names = st.text(_NAME_CHARS, min_size=1, max_size=8)
terms = st.text(_NAME_CHARS, min_size=1, max_size=6)
codes = st.from_regex(CODE_RE, fullmatch=True).filter(lambda c: len(c) <= 12)
moments = st.one_of(
    st.none(),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 12, 31),
        timezones=st.sampled_from([UTC, SHANGHAI, ZoneInfo("America/New_York")]),
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)),  # naive
)


def _when(value: Any, end: bool = False) -> datetime | None:
    return parse_when(value, zone=SHANGHAI, end_of_day=end, field="x")[0]


@st.composite
def templates(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 3))
    labels = draw(st.lists(names, min_size=count + 1, max_size=count + 1, unique=True))
    fields: list[dict[str, Any]] = [
        {"key": "answer", "label": labels[0], "type": draw(st.sampled_from(["text", "markdown"]))}
    ]
    for i in range(count):
        fields.append(
            {
                "key": f"f{i}",
                "label": labels[i + 1],
                "type": draw(st.sampled_from(["text", "markdown", "steps", "list"])),
                "weight": draw(st.sampled_from([0.5, 1.0, 2.0])),
                "audience": draw(st.sampled_from(["public", "internal"])),
                "searchable": draw(st.booleans()),
                "customer_label": draw(st.just("") | names),
            }
        )
    fields[0]["required"] = True
    return fields


@st.composite
def bundles(draw: st.DrawFn) -> Bundle:
    category_names = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    bundle = Bundle(
        categories=[
            CategoryDoc(name, description=draw(st.just("") | texts), position=i)
            for i, name in enumerate(category_names)
        ],
        source="hypothesis",
    )
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(category_names), names),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    for position, (category, name) in enumerate(keys):
        bundle.packages.append(
            PackageDoc(
                category,
                name,
                template=draw(templates()),
                description=draw(st.just("") | texts),
                review_interval_days=draw(st.integers(0, 3650)),
                owner=draw(st.just("") | names),
                position=position,
            )
        )
    all_codes = draw(st.lists(codes, min_size=1, max_size=6, unique_by=str.upper))
    for code in all_codes:
        package = draw(st.sampled_from(bundle.packages))
        fields: dict[str, Any] = {}
        for spec in package.template:
            if spec["key"] == "answer" or draw(st.booleans()):
                is_list = spec["type"] in {"steps", "list"}
                fields[spec["key"]] = draw(st.lists(texts, max_size=3) if is_list else lines)
        valid_from, valid_until = draw(moments), draw(moments)
        start, end = _when(valid_from), _when(valid_until, end=True)
        if start is not None and end is not None and end <= start:
            valid_until = None
        package.tables.append(
            TableDoc(
                code=code,
                title=draw(texts),
                questions=draw(st.lists(texts, max_size=3)),
                tags=draw(st.lists(names, max_size=3)),
                fields=fields,
                audience=draw(st.sampled_from(["public", "internal"])),
                author=draw(st.just("") | names),
                source=draw(st.just("") | texts),
                valid_from=valid_from,
                valid_until=valid_until,
                last_verified=draw(moments),
                related=draw(
                    st.lists(st.sampled_from(all_codes), max_size=2, unique=True).map(
                        lambda rs, c=code: [r for r in rs if r != c]
                    )
                ),
            )
        )
    vocabulary = draw(st.lists(terms, max_size=8, unique=True))
    cut = draw(st.integers(0, len(vocabulary)))
    grouped, loose = vocabulary[:cut], vocabulary[cut:]
    bundle.synonyms = [grouped[i : i + 2] for i in range(0, len(grouped) - 1, 2)]
    bundle.terms = loose
    bundle.dictionary_given = True
    return bundle


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Database, Database]]:
    # Creating a schema costs more than an example; wipe rows between examples instead.
    first, second = open_database("sqlite://", create=True), open_database("sqlite://", create=True)
    yield first, second
    first.dispose()
    second.dispose()


def _wipe(db: Database) -> None:
    with db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            # Bookkeeping a fresh database has too: its schema stamp and change counter.
            if table.name not in {SchemaVersion.__tablename__, ChangeCounter.__tablename__}:
                session.execute(table.delete())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundle=bundles(), data=st.data())
def test_import_export_import_is_lossless(
    pair: tuple[Database, Database], bundle: Bundle, data: st.DataObject
) -> None:
    first, second = pair
    _wipe(first)
    _wipe(second)
    with first.transaction() as session:
        assert check_bundle(session, bundle, zone=SHANGHAI) == []
        apply_bundle(session, bundle, actor="t", zone=SHANGHAI)
        for doc in bundle.packages:  # a later template change: the tables keep their version
            if data.draw(st.booleans(), label=f"retemplate {doc.name}"):
                category = repository.category_by_name(session, doc.category)
                assert category is not None
                template = data.draw(templates())
                hierarchy.ensure_package(session, category, doc.name, template=template)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export"
        with first.session() as session:
            write_directory(session, out)
            expected = kb_content(session)
        with second.transaction() as session:
            import_path(session, out, actor="t", zone=SHANGHAI)
        with second.session() as session:
            assert kb_content(session) == expected
        with first.session() as session:
            before = snapshot(session)
            report = import_path(session, out, actor="t", zone=SHANGHAI)
            assert (report.created, report.revised, report.updated) == ([], [], [])
            assert snapshot(session) == before


def test_export_is_stable_and_writes_what_people_write(tmp_path: Path) -> None:
    bundle = Bundle(
        categories=[CategoryDoc("通信业务", description="运营商", position=1)],
        packages=[
            PackageDoc(
                "通信业务",
                "改号业务",
                template=[
                    {"key": "answer", "label": "标准答复", "type": "markdown", "required": True},
                    {
                        "key": "steps",
                        "label": "操作步骤",
                        "type": "steps",
                        "weight": 0.5,
                        "customer_label": "办理步骤",
                    },
                ],
                description="",
                review_interval_days=180,
                owner="",
                position=0,
                tables=[
                    TableDoc(
                        "TX-2",
                        "改號後舊號碼還會扣費嗎",
                        questions=["换号以后旧号还扣钱吗"],
                        tags=["改号"],
                        fields={"answer": "第一行\n第二行", "steps": ["登录 App", "查看状态"]},
                        valid_until=date(2027, 6, 30),
                        related=["TX-1"],
                    ),
                    TableDoc("TX-1", "Ｑ：全角问题？", fields={"answer": "yes"}),
                ],
            )
        ],
        synonyms=[["改号", "换号"]],
        terms=["携号转网"],
        dictionary_given=True,
    )
    db = open_database("sqlite://", create=True)
    with db.transaction() as session:
        apply_bundle(session, bundle, actor="t", zone=SHANGHAI)
    with db.session() as session:
        files = export_files(session)
    db.dispose()
    assert sorted(map(str, files)) == [
        "_dictionary.yaml",
        "通信业务/_category.yaml",
        "通信业务/改号业务.yaml",
    ]
    assert files[Path("_dictionary.yaml")] == "synonyms:\n  - [改号, 换号]\nterms: [携号转网]\n"
    assert files[Path("通信业务/_category.yaml")] == "description: 运营商\nposition: 1\n"
    assert files[Path("通信业务/改号业务.yaml")] == (
        "package: 改号业务\n"
        "description: ''\n"
        "review_interval_days: 180\n"
        "position: 0\n"
        "template_version: 1\n"
        "template:\n"
        "  - {key: answer, label: 标准答复, type: markdown, required: true}\n"
        "  - {key: steps, label: 操作步骤, type: steps, weight: 0.5, customer_label: 办理步骤}\n"
        "tables:\n"
        "  - code: TX-1\n"
        "    title: Ｑ：全角问题？\n"
        "    fields:\n"
        "      answer: 'yes'\n"
        "\n"
        "  - code: TX-2\n"
        "    title: 改號後舊號碼還會扣費嗎\n"
        "    questions:\n"
        "      - 换号以后旧号还扣钱吗\n"
        "    tags: [改号]\n"
        "    valid_until: 2027-06-30T16:00:00Z\n"
        "    related: [TX-1]\n"
        "    fields:\n"
        "      answer: |-\n"
        "        第一行\n"
        "        第二行\n"
        "      steps:\n"
        "        - 登录 App\n"
        "        - 查看状态\n"
    )


def test_tables_not_live_where_exported_are_not_published_by_importing_them(
    tmp_path: Path,
) -> None:
    """The documented migration (export, `kb init --reset`, import) published every table."""
    states = {
        "LIVE-1": RevisionState.PUBLISHED,
        "GONE-1": RevisionState.ARCHIVED,
        "DRAFT-1": RevisionState.DRAFT,
        "REJECT-1": RevisionState.REJECTED,
        "REVIEW-1": RevisionState.IN_REVIEW,
    }
    source = open_database("sqlite://", create=True)
    with source.transaction() as session:
        package = make_package(session)
        for code, state in states.items():
            make_table(session, package, code, title=f"标题 {code}", state=state)
        write_directory(session, tmp_path / "export")
    target = open_database("sqlite://", create=True)
    with target.transaction() as session:
        report = import_path(session, tmp_path / "export", actor="t", zone=SHANGHAI)
        assert sorted(report.created) == sorted(states)
    with target.session() as session:
        found = {
            t.code: (t.live_revision is not None, t.latest_revision.state)
            for t in repository.all_tables(session)
        }
    assert found == {
        "LIVE-1": (True, RevisionState.PUBLISHED),
        "GONE-1": (False, RevisionState.ARCHIVED),
        "DRAFT-1": (False, RevisionState.DRAFT),
        "REJECT-1": (False, RevisionState.DRAFT),  # back to review, never published unreviewed
        "REVIEW-1": (False, RevisionState.DRAFT),
    }
    source.dispose()
    target.dispose()
