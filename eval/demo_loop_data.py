"""What the gap-loop demo asks: three customer intents the demo KB has no table for.

Written for the demo (not taken from any benchmark). Each intent carries the questions
customers type (with how often), the table an editor would write for it, and a few new
phrasings that are asked only after the table is published.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Intent:
    key: str
    package: str  # where the editor files the new table
    code: str
    title: str
    answer: str  # the editor's standard answer (标准答复)
    asked: tuple[tuple[str, int], ...]  # (query, times) before the table exists
    later: tuple[str, ...] = ()  # phrasings first seen after publishing


DIGITAL_RMB = Intent(
    key="数字人民币",
    package="银行服务/手机银行与转账",
    code="YH-SJ-901",
    title="怎么开通数字人民币钱包并绑定本行银行卡",
    answer=(
        "数字人民币钱包在“数字人民币”官方 App 里开通，不需要到网点：下载 App 后用本人手机号"
        "注册，运营机构选择本行，按提示完成实名认证即可。开通后在钱包的“银行卡”页面绑定本行"
        "借记卡，就能在借记卡和钱包之间兑入、兑出；本行手机银行首页搜索“数字人民币”也能跳转开通。"
    ),
    asked=(
        ("数字人民币钱包怎么开通", 3),
        ("怎么开通数字人民币钱包", 2),
        ("数字人民币钱包支持绑本行卡吗", 2),
        ("想开个数字人民币钱包，在哪里弄", 1),
        ("数字人民币怎么关联本行借记卡", 1),
        ("开数字人民币钱包要去网点吗", 1),
        ("手机上怎么申请数字人民币", 1),
    ),
    later=("数币钱包开好了怎么绑定银行卡", "在你们银行能开数字人民币吗"),
)

WATCH_ESIM = Intent(
    key="手表一号双终端",
    package="通信业务/套餐资费",
    code="TX-TC-901",
    title="智能手表怎么开通一号双终端（eSIM）",
    answer=(
        "支持 eSIM 的蜂窝版智能手表可以办理“一号双终端”，手表和手机共用一个号码、共享套餐。"
        "在营业厅 App 搜索“一号双终端”，扫描手表配对页面的二维码即可开通，功能费按月收取。"
    ),
    asked=(
        ("智能手表怎么开通一号双终端", 2),
        ("手表想和手机用同一个号码怎么办", 1),
        ("苹果手表蜂窝版怎么开通eSIM", 1),
        ("eSIM一号双终端每月收多少钱", 1),
        ("手表独立打电话要办什么业务", 1),
    ),
)

TRADE_IN = Intent(
    key="以旧换新",
    package="电商售后/退换货",
    code="DS-THH-901",
    title="以旧换新怎么估价、旧机怎么回收",
    answer=(
        "在新机商品页选择“以旧换新”，填写旧机型号和成色即可在线估价，估价金额在下单时直接抵扣；"
        "新机签收后快递员上门回收旧机，质检结果与估价不符时会按质检价退补差额。"
    ),
    asked=(
        ("以旧换新怎么估价", 2),
        ("旧手机能抵钱换新手机吗", 1),
        ("以旧换新的旧机什么时候上门回收", 1),
        ("以旧换新补贴怎么算", 1),
    ),
)

INTENTS: tuple[Intent, ...] = (DIGITAL_RMB, WATCH_ESIM, TRADE_IN)
