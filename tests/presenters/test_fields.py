"""Field values in the page formats (plain, Markdown, safe HTML), and the Markdown subset read."""

from __future__ import annotations

from kb.markup import plain_text
from presenters.fields import Format, render_value
from presenters.html import highlight, to_html

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


def test_markdown_for_a_page_carries_no_raw_html_or_unsafe_link() -> None:
    """The customer FAQ API's format=markdown served them verbatim to anonymous clients."""
    hostile = "[这里](javascript:alert(1)) [数据](data:text/html,x) <img src=x onerror=alert(1)>"
    assert render_value(hostile, "markdown", Format.MARKDOWN) == (
        "这里) 数据 &lt;img src=x onerror=alert(1)&gt;"  # the first ")" ends the target
    )


def test_a_backslash_path_is_no_site_relative_link() -> None:
    """Browsers read "/\\evil.example" as "//evil.example": off site."""
    assert to_html("[别处](/\\evil.example/x) [也是](/faq\\..\\x) [站内](/faq)") == (
        '<p>别处 也是 <a href="/faq" rel="noopener">站内</a></p>'
    )


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


def test_markdown_renders_three_ways() -> None:
    md = "# 办理\n请按以下步骤：\n1. 登录**网上营业厅**\n2. 点击[改号](https://example.cn/gh)"
    assert render_value(md, "markdown", Format.MARKDOWN) == md
    assert render_value(md, "markdown", Format.PLAIN) == (
        "办理\n请按以下步骤：\n1. 登录网上营业厅\n2. 点击改号（https://example.cn/gh）"
    )
    assert render_value(md, "markdown", Format.HTML) == (
        "<h1>办理</h1>\n<p>请按以下步骤：</p>\n<ol><li>登录<strong>网上营业厅</strong></li>"
        '<li>点击<a href="https://example.cn/gh" rel="noopener">改号</a></li></ol>'
    )


def test_html_keeps_only_safe_link_targets() -> None:
    assert to_html("<script>x</script> [a](javascript:void)") == (
        "<p>&lt;script&gt;x&lt;/script&gt; a</p>"
    )
    assert to_html("[站内](/faq/tables/X) [别处](//evil.example/x)") == (
        '<p><a href="/faq/tables/X" rel="noopener">站内</a> 别处</p>'
    )


def test_plain_text_is_what_the_index_snippets_read() -> None:
    assert plain_text("**原号码**停止计费，详见`营业厅`") == "原号码停止计费，详见营业厅"
    assert plain_text(["登录", "查询"], "steps") == "1. 登录\n2. 查询"


def test_highlight_escapes_and_marks_the_spans() -> None:
    assert highlight("a<b>改号c", [(3, 5)]) == "a&lt;b<mark>&gt;改</mark>号c"


def test_a_link_target_is_never_read_as_emphasis() -> None:
    assert to_html("见 [*费率*](https://example.cn/a*b*c) 与 `x` **y**") == (
        '<p>见 <a href="https://example.cn/a*b*c" rel="noopener"><em>费率</em></a>'
        " 与 <code>x</code> <strong>y</strong></p>"
    )
    assert to_html("[下载](https://example.cn/`v`/app)") == (
        '<p><a href="https://example.cn/`v`/app" rel="noopener">下载</a></p>'
    )
