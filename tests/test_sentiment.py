"""course_lib.sentiment: the course's fine-tuned Chinese sentiment classifier."""

import json

import pytest
import torch

from course_lib.artefacts import course_file
from course_lib.chinese import chinese_reviews, encode_texts
from course_lib.classification import accuracy
from course_lib.sentiment import load_sentiment_zh, sentiment_zh

LIKE = "我非常喜欢这部电影"  # "I really like this film"
AWFUL = "质量太差了，用了两天就坏了，不推荐"  # "awful quality, broke in two days"


def test_an_empty_list_gives_an_empty_list_and_no_model_is_needed_for_it():
    assert sentiment_zh([]) == []


def test_the_articles_example_is_positive_and_a_complaint_negative():
    like, awful = sentiment_zh([LIKE, AWFUL])
    assert isinstance(like, float) and 0.0 <= awful <= like <= 1.0
    assert like > 0.5 > awful


def test_a_text_scores_the_same_alone_and_in_a_batch_padding_changes_nothing():
    texts = [LIKE, AWFUL, "还行", "房间很干净，服务也很好，下次还会再来。"]
    together = sentiment_zh(texts)
    alone = [sentiment_zh([t])[0] for t in texts]
    assert together == pytest.approx(alone, abs=1e-5)


def test_it_is_the_shipped_model_of_the_results_file_on_the_test_split():
    """The test accuracy the results file records is what the shipped weights give:
    a re-trained or mis-saved checkpoint would not reproduce it."""
    results = json.loads(course_file("sentiment_zh_results.json").read_text())
    recorded = results["results"]["fine-tuned"]["test_accuracy"]
    model, tokenizer, extra = load_sentiment_zh()
    texts, labels = chinese_reviews()["test"]
    ids = encode_texts(tokenizer, texts, extra["max_len"], extra["pad"])
    measured = accuracy(model, ids, torch.tensor(labels), batch_size=256)
    assert measured == pytest.approx(recorded, abs=1e-4)
    # and sentiment_zh agrees with the model it wraps
    probs = sentiment_zh(texts[:64])
    logits, _ = model(ids[:64])
    assert probs == pytest.approx(torch.softmax(logits, -1)[:, 1].tolist(), abs=1e-5)
