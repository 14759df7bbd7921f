from __future__ import annotations

from indexer.render import render, to_html, to_plain


def test_markdown_renders_three_ways() -> None:
    md = "# 办理\n请按以下步骤：\n1. 登录**网上营业厅**\n2. 点击[改号](https://example.cn/gh)"
    out = render(md, markdown=True)
    assert out.markdown == md
    assert (
        out.plain == "办理\n请按以下步骤：\n1. 登录网上营业厅\n2. 点击改号（https://example.cn/gh）"
    )
    assert out.html == (
        "<h1>办理</h1>\n<p>请按以下步骤：</p>\n<ol><li>登录<strong>网上营业厅</strong></li>"
        '<li>点击<a href="https://example.cn/gh" rel="noopener">改号</a></li></ol>'
    )


def test_html_escapes_and_drops_unsafe_links() -> None:
    assert (
        to_html("<script>x</script> [a](javascript:void)")
        == "<p>&lt;script&gt;x&lt;/script&gt; a</p>"
    )


def test_plain_text_fields_are_not_interpreted() -> None:
    out = render("价格 **不变** <b>", markdown=False)
    assert out.plain == "价格 **不变** <b>" and out.html == "<p>价格 **不变** &lt;b&gt;</p>"


def test_steps_render_numbered() -> None:
    out = render(["登录APP", "选择套餐"], markdown=False, numbered=True)
    assert out.markdown == "1. 登录APP\n2. 选择套餐"
    assert out.html == "<ol><li>登录APP</li><li>选择套餐</li></ol>"


def test_sms_length_cuts_at_a_sentence() -> None:
    assert to_plain("第一句话说完。第二句话也很长很长。", max_chars=12) == "第一句话说完。…"
