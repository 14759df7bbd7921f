"""Each output channel's presenter, with exact expected outputs."""

from __future__ import annotations

import pytest

from presenters import Entry, Field, OutputChannel, PresentOptions, present, present_all

ANSWER = (
    "改号完成后，原号码**立即停止计费**。\n\n办理步骤：\n"
    "1. 登录[营业厅 App](https://app.example.cn/gh)\n2. 在“已办业务”中查看进度\n\n"
    "- 客服热线 10086，服务时间 8:00-22:00\n- 详见[资费说明](/faq/tables/TX-GH-001)"
)
ENTRY = Entry(
    code="TX-GH-001",
    title="改号后原号码还扣费吗",
    path=("通信业务", "改号业务"),
    fields=(
        Field("answer", "标准答复", "markdown", ANSWER),
        Field("steps", "操作步骤", "steps", ["登录营业厅 App", "查看已办业务"]),
        Field("internal_note", "内部备注", "text", "坚持扣费的转计费组核查", internal=True),
    ),
)
LONG = (
    "信用卡逾期后，请尽快还清逾期欠款，避免产生更多利息和违约金。逾期记录会按规定报送征信系统，"
    "结清后保留五年。如因特殊原因无法按时还款，可以在逾期前致电客服申请延期或分期还款，"
    "经审核通过后可减免部分违约金。还款后一般在一至两个工作日内恢复额度。"
)


def long_entry(times: int = 1, *, public: bool = True) -> Entry:
    answer = Field("answer", "标准答复", "text", LONG * times)
    return Entry("YH-XYK-008", "信用卡逾期了怎么办", ("银行服务", "信用卡"), (answer,), public)


def test_agent_view_is_the_whole_entry_with_internal_fields_marked() -> None:
    rendering = present(ENTRY, "agent")
    assert rendering.text == (
        "改号后原号码还扣费吗（TX-GH-001）\n通信业务 › 改号业务\n【标准答复】\n"
        "改号完成后，原号码立即停止计费。\n\n办理步骤：\n"
        "1. 登录营业厅 App（https://app.example.cn/gh）\n2. 在“已办业务”中查看进度\n\n"
        "· 客服热线 10086，服务时间 8:00-22:00\n· 详见资费说明（/faq/tables/TX-GH-001）\n"
        "【操作步骤】\n1. 登录营业厅 App\n2. 查看已办业务\n"
        "【内部备注·内部】\n坚持扣费的转计费组核查"
    )


def test_web_is_sanitized_markdown_and_html_of_the_answer_only() -> None:
    entry = Entry(
        "X-1",
        "t",
        ("a", "b"),
        (
            Field(
                "answer",
                "标准答复",
                "markdown",
                "**注意** <img src=x onerror=alert(1)> [点](javascript:x)",
            ),
        ),
    )
    rendering = present(entry, OutputChannel.WEB)
    assert rendering.text == "**注意** &lt;img src=x onerror=alert(1)&gt; 点"
    assert rendering.html == "<p><strong>注意</strong> &lt;img src=x onerror=alert(1)&gt; 点</p>"
    assert "坚持扣费" not in present(ENTRY, "web").text  # no internal field goes out


def test_sms_is_plain_text_with_only_links_a_handset_can_open() -> None:
    rendering = present(ENTRY, "sms", PresentOptions(public_url="https://kb.example.cn"))
    assert rendering.text == (
        "改号完成后，原号码立即停止计费。\n办理步骤：\n"
        "1. 登录营业厅 App https://app.example.cn/gh\n2. 在“已办业务”中查看进度\n"
        "· 客服热线 10086，服务时间 8:00-22:00\n"
        "· 详见资费说明 https://kb.example.cn/faq/tables/TX-GH-001"
    )
    without_site = present(ENTRY, "sms").text
    assert without_site.endswith("· 详见资费说明") and "/faq/" not in without_site
    assert rendering.truncated is False


def test_sms_segments_are_exactly_70_characters_but_the_last() -> None:
    rendering = present(long_entry(), "sms")  # 120 characters: two segments
    assert rendering.parts == (LONG[:70], LONG[70:])
    assert [len(p) for p in rendering.parts] == [70, 50]
    assert rendering.truncated is False


def test_sms_over_the_segment_limit_ends_at_a_sentence_with_a_pointer() -> None:
    rendering = present(long_entry(3), "sms", PresentOptions(sms_max_segments=3))
    assert rendering.truncated is True
    assert [len(p) for p in rendering.parts] == [70, 70, 55]
    assert rendering.text == (
        LONG
        + "信用卡逾期后，请尽快还清逾期欠款，避免产生更多利息和违约金。逾期记录会按规定报送征信系统，"
        "结清后保留五年。…详情请咨询客服（编号YH-XYK-008）"
    )


def test_sms_pointer_is_the_faq_page_when_the_table_is_public() -> None:
    options = PresentOptions(sms_max_segments=1, public_url="https://kb.example.cn/")
    rendering = present(long_entry(), "sms", options)
    assert rendering.parts == (
        "信用卡逾期后，请尽快还清逾期欠款，避免产生更多…全文：https://kb.example.cn/faq/tables/YH-XYK-008",
    )
    assert len(rendering.parts[0]) == 70
    internal = present(long_entry(public=False), "sms", options)
    assert (
        internal.text
        == "信用卡逾期后，请尽快还清逾期欠款，避免产生更多利息和违约金。…详情请咨询客服（编号YH-XYK-008）"
    )


def test_sms_counts_characters_outside_the_bmp_as_two() -> None:
    entry = Entry(
        "E-1", "t", ("a", "b"), (Field("answer", "标准答复", "text", "好" * 69 + "😀" + "好"),)
    )
    assert [len(p) for p in present(entry, "sms").parts] == [69, 2]


def test_no_segment_limit_keeps_the_whole_answer() -> None:
    rendering = present(long_entry(5), "sms", PresentOptions(sms_max_segments=0))
    assert rendering.text == LONG * 5 and len(rendering.parts) == 9


def test_wechat_is_plain_text_within_its_byte_limit() -> None:
    assert present(ENTRY, "wechat").text == present(ENTRY, "sms").text
    options = PresentOptions(wechat_max_bytes=200, public_url="https://kb.example.cn")
    rendering = present(long_entry(), "wechat", options)
    assert rendering.text == (
        "信用卡逾期后，请尽快还清逾期欠款，避免产生更多利息和违约金。…\n"
        "查看完整答复：https://kb.example.cn/faq/tables/YH-XYK-008"
    )
    assert len(rendering.text.encode()) <= 200 and rendering.truncated


def test_voice_is_speakable_sentences() -> None:
    assert present(ENTRY, "voice").text == (
        "改号完成后，原号码立即停止计费。办理步骤。第一步，登录营业厅 App。"
        "第二步，在已办业务中查看进度。客服热线 幺零零八六，服务时间 8点到22点。详见资费说明。"
    )


@pytest.mark.parametrize(
    ("line", "spoken"),
    [
        ("热线 95588，或 400-820-8820", "热线 九五五八八，或 四零零八二零八八二零。"),
        ("2026-01-05 起年费 ¥200，费率 0.5%", "2026年1月5日 起年费 200元，费率 百分之0.5。"),
        ("单日限额 50000元，每笔 1~5000 元", "单日限额 50000元，每笔 1到5000 元。"),
        ("流量 10元/月，详见 www.example.cn/x 或 help@example.cn", "流量 10元每月，详见 或。"),
        ("# 标题 | 列 | `code` *重点*", "标题 列 code 重点。"),
    ],
)
def test_voice_reads_numbers_and_drops_symbols(line: str, spoken: str) -> None:
    entry = Entry("V-1", "t", ("a", "b"), (Field("answer", "标准答复", "text", line),))
    assert present(entry, "voice").text == spoken


def test_voice_counts_steps_past_ten() -> None:
    steps = [f"做第{i}件事" for i in range(1, 13)]
    entry = Entry("V-2", "t", ("a", "b"), (Field("answer", "标准答复", "steps", steps),))
    text = present(entry, "voice", PresentOptions(voice_max_chars=0)).text
    assert text.startswith("第一步，做第1件事。") and "第十二步，做第12件事。" in text


def test_voice_over_its_limit_ends_with_a_handover() -> None:
    rendering = present(long_entry(), "voice", PresentOptions(voice_max_chars=60))
    assert (
        rendering.text
        == "信用卡逾期后，请尽快还清逾期欠款，避免产生更多利息和违约金。内容较长，详细信息请转人工服务。"
    )
    assert rendering.truncated


def test_traditional_conversion_comes_before_the_channel_limits() -> None:
    rendering = present(ENTRY, "sms", traditional="s2twp")
    assert rendering.text.startswith("改號完成後，原號碼立即停止計費。\n辦理步驟：")
    everything = present_all(ENTRY, traditional="s2twp")
    assert set(everything) == {"agent", "web", "sms", "wechat", "voice"}
    assert everything["agent"].text.startswith(
        "改號後原號碼還扣費嗎（TX-GH-001）\n通訊業務 › 改號業務"
    )


def test_an_entry_without_an_answer_renders_empty_for_customers() -> None:
    entry = Entry(
        "E-2", "t", ("a", "b"), (Field("note", "内部备注", "text", "内部", internal=True),)
    )
    assert [present(entry, c).text for c in ("web", "sms", "wechat", "voice")] == ["", "", "", ""]
    assert present(entry, "agent").text == "t（E-2）\na › b\n【内部备注·内部】\n内部"


def test_plain_channels_scrub_markup_that_only_appears_once_a_tag_is_gone() -> None:
    text = "见 [说明]<i>(https://x.cn) 和 <<b>b>粗</b> 与 <script>alert(1)</script>完"
    entry = Entry("S-1", "t", ("a", "b"), (Field("answer", "标准答复", "text", text),))
    assert present(entry, "sms").text == "见 说明 和 粗 与 完"


def test_an_answer_its_template_marks_internal_goes_to_no_customer_channel() -> None:
    secret = Field("answer", "标准答复", "text", "内部口径：风控阈值5万", internal=True)
    entry = Entry("FK-1", "大额转账被拦截怎么办", ("银行服务", "风控"), (secret,), public=False)
    assert "风控阈值" in present(entry, "agent").text
    for channel in ("web", "sms", "wechat", "voice"):
        assert "风控阈值" not in present(entry, channel).text, channel


@pytest.mark.parametrize(
    "text",
    [
        "改" * 69 + "😀" + "改" * 139,  # 209 units: fits 3 × 70 by count, not by segments
        ("改" * 69 + "😀") * 5,  # cut, with its pointer
    ],
)
def test_sms_segments_stay_within_the_limit_with_characters_outside_the_bmp(text: str) -> None:
    answer = Field("answer", "标准答复", "text", text)
    rendering = present(Entry("X-1", "t", ("c", "p"), (answer,)), "sms", PresentOptions())
    assert len(rendering.parts) <= 3, [len(p) for p in rendering.parts]
    assert "".join(rendering.parts) == rendering.text


@pytest.mark.parametrize("limit", [300, 40, 16, 10, 2])
def test_voice_stays_within_its_limit_however_short(limit: int) -> None:
    answer = Field("answer", "标准答复", "text", "一个很长的分句没有句号" * 40)
    spoken = present(
        Entry("X-1", "t", ("c", "p"), (answer,)), "voice", PresentOptions(voice_max_chars=limit)
    )
    assert spoken.truncated and 1 <= len(spoken.text) <= limit, (limit, spoken.text)


def test_digits_joined_by_a_dropped_symbol_are_read_one_by_one() -> None:
    from presenters.voice import speakable

    assert speakable("0000[1. 步") == "零零零零幺。步"  # found by the property test
    assert speakable("共 00001元") == "共 00001元"  # an amount keeps its digits
