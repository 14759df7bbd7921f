"""Fixtures for the indexer: a fake encoder, settings in a temporary data dir, a small KB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.analysis import Analyzer
from indexer.encoders import FakeEncoder
from indexer.index import HybridIndex
from kb.db import Database, open_database
from kb.models import Audience, RevisionState
from kb.settings import Settings
from tests.factories import make_package, make_table

TEMPLATE = [
    {"key": "answer", "label": "标准答复", "type": "markdown", "required": True},
    {"key": "steps", "label": "操作步骤", "type": "steps"},
    {"key": "internal_note", "label": "内部备注", "audience": "internal", "searchable": True},
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", encoder="fake")


@pytest.fixture
def kb_db() -> Iterator[Database]:
    db = open_database("sqlite://", create=True)
    yield db
    db.dispose()


def fill_kb(db: Database) -> None:
    """Three packages' worth of tables: public, internal, with an internal field, a draft."""
    with db.transaction() as s:
        telecom = make_package(s, "通信业务", "改号业务", template=TEMPLATE)
        bank = make_package(s, "银行业务", "信用卡", template=TEMPLATE)
        make_table(
            s,
            telecom,
            code="TX-GH-001",
            title="改号后原号码是否还会产生话费",
            questions=["换号以后旧号码还扣钱吗"],
            fields={
                "answer": "改号完成后**原号码停止计费**。",
                "internal_note": "系统工单编号规则 KX9",
            },
            tags=["改号"],
        )
        make_table(
            s,
            telecom,
            code="TX-5G-002",
            title="5G套餐怎么办理",
            questions=["怎么开通5G"],
            fields={"answer": "在营业厅或APP办理5G套餐。", "steps": ["登录APP", "选择5G套餐"]},
        )
        make_table(
            s,
            bank,
            code="BK-XY-001",
            title="信用卡境外消费用PayPal支付",
            questions=["PayPal绑定信用卡"],
            fields={"answer": "支持PayPal绑定本行信用卡。"},
        )
        make_table(
            s,
            bank,
            code="BK-IN-009",
            title="信用卡额度内部调整口径",
            questions=["额度调整内部规则"],
            fields={"answer": "内部口径：按评分卡调整。"},
            audience=Audience.INTERNAL,
        )
        make_table(
            s,
            bank,
            code="BK-DR-010",
            title="信用卡草稿：ETC办理",
            questions=[],
            fields={"answer": "草稿内容"},
            state=RevisionState.DRAFT,
        )


@pytest.fixture
def filled_db(kb_db: Database) -> Database:
    fill_kb(kb_db)
    return kb_db


def fake_index(**kwargs: object) -> HybridIndex:
    return HybridIndex(FakeEncoder(), Analyzer(), **kwargs)  # type: ignore[arg-type]
