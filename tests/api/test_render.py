"""Field values rendered per channel through the product's one renderer: plain, Markdown, HTML."""

from __future__ import annotations

from api.render import Format, render_value

ANSWER = "改号**完成**后：\n\n1. 登录 App\n2. 查看`已办业务`\n\n- 注意一\n- 注意二"


def test_markdown_field_in_three_formats() -> None:
    assert render_value(ANSWER, "markdown", Format.PLAIN) == (
        "改号完成后：\n\n1. 登录 App\n2. 查看已办业务\n\n· 注意一\n· 注意二"
    )
    assert render_value(ANSWER, "markdown", Format.MARKDOWN) == ANSWER
    assert render_value(ANSWER, "markdown", Format.HTML) == (
        "<p>改号<strong>完成</strong>后：</p>\n"
        "<ol><li>登录 App</li><li>查看<code>已办业务</code></li></ol>\n"
        "<ul><li>注意一</li><li>注意二</li></ul>"
    )


def test_html_escapes_raw_markup_and_refuses_script_links() -> None:
    rendered = render_value("第一行\n第二行 <script>alert(1)</script>", "markdown", Format.HTML)
    assert rendered == "<p>第一行<br>第二行 &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert "href" not in render_value("[点我](javascript:void(0))", "markdown", Format.HTML)


def test_steps_and_lists_in_each_format() -> None:
    steps = ["登录", "查询"]
    assert render_value(steps, "steps", Format.PLAIN) == "1. 登录\n2. 查询"
    assert render_value(steps, "steps", Format.HTML) == "<ol><li>登录</li><li>查询</li></ol>"
    assert render_value(steps, "list", Format.MARKDOWN) == "- 登录\n- 查询"
    assert render_value(steps, "list", Format.PLAIN) == "· 登录\n· 查询"
    assert render_value(["<b>"], "list", Format.HTML) == "<ul><li>&lt;b&gt;</li></ul>"


def test_text_fields_are_escaped_not_interpreted() -> None:
    assert render_value(" 一行\n两行 ", "text", Format.PLAIN) == "一行\n两行"
    assert render_value("a<b **c**\nd", "text", Format.HTML) == "<p>a&lt;b **c**<br>d</p>"
