"""course_lib.corpora (built-in, downloaded, a user's file) and course_lib.artefacts'
course_file.

Downloads are tested against local files through file:// URLs and a patched opener:
no test touches the network."""

import hashlib
import platform
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch

from course_lib import corpora
from course_lib.corpora import REMOTE_CORPORA, RemoteCorpus, load_corpus

# sha256 of the UTF-8 text that CPython 3.11.7's pydoc_data.topics gives, joined in
# sorted key order. Written here by hand, not read from the library's constant, so a
# changed shipped file or a changed constant both fail.
PYDOCS_TEXT_SHA256 = "2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4"


def test_builtin_corpus_is_the_frozen_python_documentation():
    corpus = load_corpus()
    assert corpus.name == "pydocs"
    assert len(corpus.text) == 465_048
    digest = hashlib.sha256(corpus.text.encode("utf-8")).hexdigest()
    assert digest == PYDOCS_TEXT_SHA256
    assert "pydoc_data.topics of CPython 3.11.7" in corpus.source
    assert "PSF" in corpus.licence
    assert 'The "for" statement' in corpus.text
    assert "characters" in repr(corpus) and len(repr(corpus)) < 200


def test_builtin_corpus_never_reads_the_running_pythons_pydoc_data():
    code = (
        "import sys; from course_lib.corpora import load_corpus; load_corpus(); "
        "print('pydoc_data.topics' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_builtin_corpus_equals_cpython_3_11_7s_topics_when_run_there():
    if platform.python_version() != "3.11.7":
        pytest.skip("the frozen text is CPython 3.11.7's; other versions differ")
    from pydoc_data.topics import topics

    assert load_corpus().text == "\n".join(topics[k] for k in sorted(topics))


def test_damaged_shipped_corpus_is_refused(tmp_path, monkeypatch):
    import gzip

    bad = tmp_path / "pydocs.txt.gz"
    bad.write_bytes(gzip.compress(b"not the corpus"))
    monkeypatch.setattr(corpora, "course_file", lambda name: bad)
    with pytest.raises(ValueError, match="damaged"):
        load_corpus()


def test_unknown_corpus_lists_the_valid_names():
    with pytest.raises(ValueError, match="'pydocs', 'zh', 'tinyshakespeare'"):
        load_corpus("shakespear")


def test_user_file_is_read_as_utf8(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("天气很好 🙂\n", encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.text == "天气很好 🙂\n"
    assert corpus.name == "mine.txt"
    assert load_corpus(str(path)).text == corpus.text


@pytest.fixture
def fake_remote(tmp_path, monkeypatch):
    """A 'remote' corpus served from a local file, cached under tmp_path/cache."""
    source = tmp_path / "served.txt"
    source.write_text("To be, or not to be\n" * 50, encoding="utf-8")
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    remote = RemoteCorpus(source.as_uri(), sha, "fake.txt", "public domain")
    monkeypatch.setitem(REMOTE_CORPORA, "fake", remote)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "cache"))
    return source, remote


def test_download_verifies_and_caches(fake_remote, tmp_path):
    source, remote = fake_remote
    corpus = load_corpus("fake")
    assert corpus.text == source.read_text(encoding="utf-8")
    assert corpus.source == remote.url
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["fake.txt"]
    source.unlink()  # the second call reads the cache, no download
    assert load_corpus("fake").text == corpus.text


def test_corrupted_cache_is_downloaded_again(fake_remote, tmp_path):
    source, _ = fake_remote
    load_corpus("fake")
    (tmp_path / "cache" / "fake.txt").write_text("garbage", encoding="utf-8")
    assert load_corpus("fake").text == source.read_text(encoding="utf-8")


def test_checksum_mismatch_deletes_the_file_and_says_so(fake_remote, monkeypatch):
    source, remote = fake_remote
    bad = RemoteCorpus(remote.url, "0" * 64, remote.filename, remote.licence)
    monkeypatch.setitem(REMOTE_CORPORA, "fake", bad)
    with pytest.raises(ValueError, match="sha256.*partial file was deleted"):
        load_corpus("fake")
    assert list(corpora.cache_dir().iterdir()) == []  # no partial or temporary file


def test_offline_error_names_url_and_manual_path(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "urlopen", offline)  # download_url_to_file's
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    url = REMOTE_CORPORA["tinyshakespeare"].url
    with pytest.raises(ConnectionError) as info:
        load_corpus("tinyshakespeare")
    message = str(info.value)
    assert url in message
    assert str(tmp_path / "tinyshakespeare.txt") in message
    assert list(tmp_path.iterdir()) == []


def test_missing_remote_file_is_a_connection_error(fake_remote):
    source, _ = fake_remote
    source.unlink()
    with pytest.raises(ConnectionError, match="could not download file://"):
        load_corpus("fake")


def test_course_file_finds_shipped_artefacts_and_names_a_missing_one():
    from course_lib.artefacts import course_file

    assert course_file("README.md").name == "README.md"
    with pytest.raises(FileNotFoundError, match="no_such_file.json is missing"):
        course_file("no_such_file.json")


def test_shipped_artefacts_are_packaged_for_pip_installs():
    """Colab installs course_lib with pip from git: every artefact a chapter loads
    with course_file must be package data of course_lib.shipped (= data/)."""
    import fnmatch
    import tomllib

    from course_lib.artefacts import course_file

    root = Path(__file__).resolve().parent.parent
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "course_lib.shipped" in setup["packages"]
    assert setup["package-dir"]["course_lib.shipped"] == "data"
    patterns = setup["package-data"]["course_lib.shipped"]
    for name in [
        "gpt_pydocs.json",
        "gpt_pydocs.safetensors",
        "gpt_pydocs.tokenizer.json",
        "gpt_zh.json",
        "gpt_zh.safetensors",
        "gpt_zh.tokenizer.json",
        "sentiment_zh.json",
        "sentiment_zh.safetensors",
        "sentiment_zh_results.json",
        "baselines.json",
        "sentiment_results.json",
    ]:
        assert course_file(name).exists()
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
