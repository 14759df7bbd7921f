"""How a table's text is cut: chunks, windows of chunks, and the body documents BM25 reads."""

from __future__ import annotations

from indexer.documents import (
    WINDOW_CHUNKS,
    DocField,
    IndexDocument,
    body_windows,
    chunk_text,
    sentence_chunks,
    windows,
)
from tests.indexer.long_answer import TOPICS


def _doc(answer: str, note: str = "") -> IndexDocument:
    fields = [DocField("answer", "答复", "text", "public", True, 1.0, answer)]
    if note:
        fields.append(DocField("note", "备注", "text", "internal", True, 0.5, note))
    return IndexDocument(1, "C1", "业务办理须知", [], [], "类", "包", 1, "public", 1, 1, fields)


def test_windows_run_two_chunks_at_a_time_the_last_ending_at_the_end() -> None:
    assert WINDOW_CHUNKS == 2
    assert windows(0) == [range(0)] and windows(1) == [range(1)] and windows(2) == [range(2)]
    assert windows(3) == [range(0, 2), range(1, 3)]
    assert windows(4) == [range(0, 2), range(2, 4)]
    assert windows(5) == [range(0, 2), range(2, 4), range(3, 5)]


def test_sentence_chunks_are_the_chunks_sentence_by_sentence() -> None:
    text = "\n".join(TOPICS) + "。" + "长" * 400
    chunks = sentence_chunks(text)
    assert ["".join(c) for c in chunks] == chunk_text(text)
    assert [s for c in chunks for s in c][: len(TOPICS)] == TOPICS
    assert all(len("".join(c)) <= 160 for c in chunks)


def test_a_short_body_is_one_document_of_its_fields_whole() -> None:
    doc = _doc("改号完成后原号码停止计费。\n原号码的余额转入新号码。", note="工单编号规则 KX9")
    assert body_windows(doc) == [[("改号完成后原号码停止计费。\n原号码的余额转入新号码。", 1.0)]]
    assert body_windows(doc, internal=True) == [[("工单编号规则 KX9", 0.5)]]


def test_a_long_body_is_a_document_a_window_of_two_chunks_covering_every_sentence() -> None:
    doc = _doc("".join(TOPICS), note="内部口径：" + "".join(TOPICS[:2]))
    chunks = chunk_text("".join(TOPICS))
    assert len(chunks) == 3
    public = body_windows(doc)
    assert len(public) == 2 and all(len(w) == 2 for w in public)
    assert [text.replace("\n", "") for text, _ in public[0]] == chunks[:2]
    assert [text.replace("\n", "") for text, _ in public[1]] == chunks[1:]
    # sentences of a chunk are joined by line breaks, so no word is made across two of them
    assert public[0][0][0] == "\n".join(sentence_chunks("".join(TOPICS))[0])
    # the internal view of one chunk stays whole, at its field's weight
    assert body_windows(doc, internal=True) == [[(doc.fields[1].text, 0.5)]]


def test_the_chunks_of_several_fields_share_the_windows_each_at_its_weight() -> None:
    doc = _doc("".join(TOPICS[:6]))
    doc.fields.append(DocField("extra", "补充", "text", "public", True, 0.3, TOPICS[7]))
    public = body_windows(doc)
    assert len(chunk_text("".join(TOPICS[:6]))) == 2
    assert [[weight for _, weight in w] for w in public] == [[1.0, 1.0], [1.0, 0.3]]
    assert public[1][1][0] == TOPICS[7]
