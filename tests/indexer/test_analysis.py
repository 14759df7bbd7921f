from __future__ import annotations

from indexer.analysis import Analyzer, Dictionary, analyzer_hash, normalize_char
from kb.dictionary import check_synonyms
from kb.text import encoder_form, normalize, to_simplified


def test_normalize_folds_width_script_and_case() -> None:
    assert normalize("５Ｇ套餐 ＰａｙＰａｌ 改號後") == "5g套餐 paypal 改号后"


def test_the_encoder_reads_taiwan_words_as_the_mainland_s_and_simplified_text_as_written() -> None:
    assert (
        encoder_form("軟體下載後網路連不上，請用簡訊驗證碼")
        == "软件下载后网络连不上,请用短信验证码"
    )
    assert encoder_form("ＡＰＰ軟體") == "APP软件"
    simplified = "软体下载后网路连不上"  # written in Simplified: its words are left as they are
    assert encoder_form(simplified) == simplified == to_simplified(simplified)
    # the lexical side converts the characters only (a KB's synonyms pair the words there)
    assert normalize("軟體") == "软体"


def test_product_codes_and_english_stay_whole_tokens() -> None:
    tokens = Analyzer().tokens("5G套餐用PayPal付ETC费用10000元")
    for word in ("w:5g", "w:paypal", "w:etc", "w:10000"):
        assert word in tokens


def test_traditional_and_simplified_analyze_the_same() -> None:
    analyzer = Analyzer()
    assert analyzer.tokens("改號後舊號碼還扣費嗎") == analyzer.tokens("改号后旧号码还扣费吗")


def test_stopwords_leave_the_word_channel_but_not_the_characters() -> None:
    tokens = Analyzer().tokens("请问我的话费怎么查")
    words = [t for t in tokens if t.startswith("w:")]
    assert "w:请问" not in words and "w:怎么" not in words and "w:话费" in words
    assert "c:请" in tokens


def test_synonyms_map_to_one_word() -> None:
    analyzer = Analyzer(Dictionary(synonyms=(("改号", "换号", "更换号码"),)))
    assert "w:改号" in analyzer.tokens("我想换号")
    assert "w:改号" in analyzer.tokens("更换号码要多久")


def test_domain_terms_stay_whole() -> None:
    assert "w:携号转网" in Analyzer(Dictionary(terms=("携号转网",))).tokens("怎么办理携号转网")


def test_pinyin_matches_homophone_typos() -> None:
    analyzer = Analyzer()
    typo = {t for t in analyzer.tokens("微利贷") if t.startswith("p:")}
    right = {t for t in analyzer.tokens("微粒贷") if t.startswith("p:")}
    assert typo == right == {"p:wei", "p:li", "p:dai", "p:wei_li", "p:li_dai"}


def test_analyzer_hash_follows_the_dictionary() -> None:
    plain = Dictionary()
    with_terms = Dictionary(terms=("携号转网",))
    assert plain.hash == Dictionary().hash
    assert plain.hash != with_terms.hash
    assert Analyzer(with_terms).hash == with_terms.hash


def test_a_run_analyzed_before_a_word_was_taught_is_analyzed_again() -> None:
    analyzer = Analyzer()
    assert "微粒贷" not in analyzer.words("微粒贷怎么开通")
    analyzer.add_words(["微粒贷"])
    # Another text (its words are not cached) with the same Han run (its words were).
    assert "微粒贷" in analyzer.words("微粒贷怎么开通？")


def test_shared_runs_analyze_as_in_a_fresh_analyzer() -> None:
    texts = ["北京个人客户：微粒贷怎么开通", "上海个人客户：微粒贷怎么开通", "北京个人客户：改号"]
    warm = Analyzer()
    for text in texts:
        assert warm.tokens(text) == Analyzer().tokens(text)


def test_the_analyzer_hash_is_known_without_making_an_analyzer() -> None:
    dictionary = Dictionary(synonyms=(("改号", "换号"),), terms=("携号转网",))
    for channels in (("w", "c", "b", "p"), ("w", "b"), ("p", "w")):
        assert analyzer_hash(dictionary, channels) == Analyzer(dictionary, channels=channels).hash
    assert analyzer_hash(dictionary, ("w",)) != analyzer_hash(dictionary)


def test_one_character_normalizes_to_one_character() -> None:
    # highlighting marks offsets of the original text in its normalized twin
    assert [normalize_char(ch) for ch in "ß İ ﬁ Ａ 號"] == list("ß İ ﬁ a 号")


def test_latin_synonyms_map_to_their_group() -> None:
    """Latin words skipped the synonym groups: Wi-Fi never met WiFi or 无线网."""
    analyzer = Analyzer(Dictionary(synonyms=(("WiFi", "Wi-Fi", "无线网"),)))
    assert analyzer.words("Wi-Fi") == analyzer.words("WIFI") == ["wifi"]
    assert "wifi" in analyzer.words("无线网密码")


def test_mixed_script_synonyms_match_whole_through_their_group() -> None:
    """U盾 was cut into u and 盾 before any lookup: {网银盾, U盾} never met, nor 银行App 手机银行."""
    analyzer = Analyzer(Dictionary(synonyms=(("网银盾", "U盾"), ("手机银行", "银行App"))))
    assert "网银盾" in analyzer.words("U盾丢了")
    assert "网银盾" in analyzer.words("Ｕ盾丟了")  # full width, Traditional
    assert "手机银行" in analyzer.words("银行APP闪退")
    assert "手机银行" in analyzer.words("銀行App閃退")
    assert "w:网银盾" in analyzer.tokens("我的u盾丢了")


def test_mixed_script_domain_terms_stay_whole_beside_their_parts() -> None:
    """A query for 5G still finds a text about 5G网络: the parts stay, the whole term is added."""
    analyzer = Analyzer(Dictionary(terms=("5G网络", "II类账户", "QQ钱包")))
    assert analyzer.words("5G网络信号差") == [*Analyzer().words("5G网络信号差"), "5g网络"]
    assert "ii类账户" in analyzer.words("怎么开通II类账户")
    assert "qq钱包" in analyzer.words("QQ钱包提现")


def test_a_mixed_term_starts_and_ends_where_a_latin_word_does() -> None:
    """The Latin side of a term matches whole Latin words only, as the split reads them."""
    analyzer = Analyzer(Dictionary(terms=("5G网络", "I类账户", "II类账户", "银行App")))
    assert "5g网络" not in analyzer.words("15G网络")
    assert "5g网络" not in analyzer.words("v-5G网络")
    assert "银行app" not in analyzer.words("银行Apple")
    assert "银行app" not in analyzer.words("银行App-v2")
    assert "银行app" in analyzer.words("手机银行App。")
    words = analyzer.words("II类账户")
    assert "ii类账户" in words and "i类账户" not in words
    assert "i类账户" in analyzer.words("I类账户和II类账户")


def test_taught_mixed_words_match_whole_too() -> None:
    """Tags and short titles are taught as words; a mixed one (5G套餐) is one word as well."""
    analyzer = Analyzer()
    assert "5g套餐" not in analyzer.words("5G套餐怎么办理")
    analyzer.add_words(["5G套餐", "花呗,怎么还"])
    assert "5g套餐" in analyzer.words("5G套餐怎么办理")
    # Runs with other characters between them are no mixed term: a short title is often a
    # question, and its words are already there.
    assert analyzer.words("花呗,怎么还") == Analyzer().words("花呗,怎么还")


def test_synonym_phrases_with_a_space_match_whole() -> None:
    """Apple Pay was cut into apple and pay: {苹果支付, Apple Pay} never met."""
    analyzer = Analyzer(
        Dictionary(synonyms=(("苹果支付", "Apple Pay"), ("手机银行", "Mobile Bank")))
    )
    assert "苹果支付" in analyzer.words("Apple Pay怎么绑卡")
    assert "苹果支付" in analyzer.words("ＡＰＰＬＥ　ＰＡＹ 綁卡")  # full width, Traditional
    assert "苹果支付" in analyzer.words("apple   pay")
    assert {"apple", "pay"} <= set(analyzer.words("Apple Pay"))  # the parts stay
    assert "苹果支付" not in analyzer.words("apple payment")
    assert "苹果支付" not in analyzer.words("pineapple pay")
    assert "手机银行" in analyzer.words("用mobile bank转账")
    assert analyzer.words("apple和pay") == Analyzer().words("apple和pay")


def test_a_phrase_and_its_spacing_are_one_synonym_term() -> None:
    _, problems = check_synonyms([["Apple Pay", "苹果支付"], ["apple  pay", "ApplePay"]])
    assert [(p.field, p.value) for p in problems] == [("synonyms[1]", "apple  pay")]


def test_text_without_a_mixed_term_analyzes_as_without_the_dictionary() -> None:
    mixed = Dictionary(synonyms=(("网银盾", "U盾"),), terms=("5G网络", "QQ钱包"))
    texts = ["5G套餐用PayPal付ETC费用10000元", "盾构机 u 盾", "网络5g", "qq 钱包", "改号后"]
    for text in texts:
        assert Analyzer(mixed).tokens(text) == Analyzer().tokens(text)
