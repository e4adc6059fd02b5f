"""Corpus parsing, deterministic non-IID splits, and users' data files with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loraswarm.node.training import DataError, deal_topics, list_topics, load_texts, load_topics, peer_data
from loraswarm.node.training.corpus import parse_fortunes, split_held_out


def test_fortune_records_split_on_percent_lines() -> None:
    text = "one\n  -- A\n%\n%\ntwo\nlines\n%\n"
    assert parse_fortunes(text) == ["one\n  -- A", "two\nlines"]


def _topic_dir(tmp_path: Path) -> Path:
    (tmp_path / "alpha").write_text("a1\n%\nshared\n%\na2\n")
    (tmp_path / "beta").write_text("shared\n%\nb1\n%\nb1\n")
    (tmp_path / "alpha.dat").write_bytes(b"\0")
    (tmp_path / "alpha.u8").symlink_to(tmp_path / "alpha")
    return tmp_path


def test_topics_exclude_indexes_and_links_and_dedupe_across_topics(tmp_path: Path) -> None:
    data_dir = _topic_dir(tmp_path)
    assert list_topics(data_dir) == ["alpha", "beta"]
    assert load_topics(["beta", "alpha"], data_dir) == {"alpha": ["a1", "shared", "a2"], "beta": ["b1"]}
    with pytest.raises(DataError, match="unknown fortunes topics"):
        load_topics(["gamma"], data_dir)


def test_held_out_split_is_stable_and_disjoint() -> None:
    records = [f"quote {i}" for i in range(400)]
    train, held = split_held_out(records, 0.25, seed=7)
    assert set(train).isdisjoint(held) and len(train) + len(held) == 400
    assert 60 < len(held) < 140
    # Independent of order and of the other records: a record's side never moves.
    _, held_rev = split_held_out(records[::-1][:100], 0.25, seed=7)
    assert set(held_rev) == set(held) & set(records[300:])


def test_a_small_file_still_holds_one_record_out() -> None:
    """Coins that hold out nothing (here: the records a 10% split trains on) leave the node no
    text to evaluate on; the record whose coin came lowest is held out instead."""
    trained, _ = split_held_out([f"line {i}" for i in range(40)], 0.1, seed=0)
    small = trained[:5]
    train, held = split_held_out(small, 0.1, seed=0)
    assert len(held) == 1 and sorted(train + held) == sorted(small)
    assert split_held_out(small, 0.1, seed=0) == (train, held)  # deterministic
    assert split_held_out(small[:1], 0.1, seed=0) == (small[:1], [])  # one record: it is trained on


def test_topics_are_dealt_disjoint_and_deterministic() -> None:
    topics = [f"t{i}" for i in range(10)]
    dealt = deal_topics(topics, peers=3, per_peer=3, seed=1)
    assert dealt == deal_topics(list(reversed(topics)), 3, 3, 1)
    assert len({t for share in dealt for t in share}) == 9
    with pytest.raises(DataError, match="need 12 topics"):
        deal_topics(topics, 4, 3)


def test_debian_fortunes_give_many_topics_and_held_out_records() -> None:
    topics = list_topics()
    assert {"computers", "cookie", "science"} <= set(topics) and len(topics) >= 20
    data = peer_data(["science"], held_out_fraction=0.1)
    assert len(data.train["science"]) > 400 and len(data.held_out["science"]) > 30
    assert set(data.train["science"]).isdisjoint(data.held_out["science"])


def test_jsonl_text_and_instruction_records(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "hello"}) + "\n\n" + json.dumps({"instruction": "q", "response": "a"}) + "\n")
    assert load_texts(path, chat_format=lambda q, a: f"<{q}|{a}>") == ["hello", "<q|a>"]
    with pytest.raises(DataError, match=r"d\.jsonl:3: instruction/response records need a chat template"):
        load_texts(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\n{"text": 3}\n', r"bad\.jsonl:2: expected"),
        ('{"text": "ok"}\n{nope\n', r"bad\.jsonl:2: invalid JSON"),
        ('["text"]\n', r"bad\.jsonl:1: expected"),
        ('{"text": "a", "extra": 1}\n', r"bad\.jsonl:1: expected"),
        ("\n\n", r"bad\.jsonl: no text records"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_texts(path)


def test_plain_text_paragraphs_and_encoding_errors(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("first line\nsame para\n\n\nsecond\n")
    assert load_texts(path) == ["first line\nsame para", "second"]
    path.write_bytes(b"fine\nstill fine\n\xff broken\n")
    with pytest.raises(DataError, match=r"notes\.txt:3: not UTF-8"):
        load_texts(path)
    with pytest.raises(DataError, match="cannot read"):
        load_texts(tmp_path / "missing.txt")
