"""The tag vocabulary: defaults merged with the user's file, digests, and safe edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixseek.index.catalog.vocabulary import (
    DEFAULT_FILE,
    VocabularyError,
    add_category,
    default_names,
    load_vocabulary,
    remove_category,
    set_threshold,
)


def test_defaults_load_with_their_templates_and_threshold(tmp_path: Path) -> None:
    vocabulary = load_vocabulary(tmp_path / "missing.json")
    assert len(vocabulary.categories) >= 50 and "beach" in vocabulary.names
    beach = vocabulary.get("beach")
    assert beach.texts() == [
        "a photo of a beach.",
        "a picture of a beach.",
        "a photo of the seaside.",
        "a picture of the seaside.",
    ]
    assert vocabulary.background and beach.threshold == json.loads(DEFAULT_FILE.read_text())["threshold"]


def test_user_file_adds_overrides_and_removes(tmp_path: Path) -> None:
    user = tmp_path / "tags.json"
    user.write_text(
        json.dumps(
            {
                "categories": [
                    {"name": "sailing", "prompts": ["a sailing boat"], "threshold": 0.3},
                    {"name": "beach", "threshold": 0.25},
                ],
                "removed": ["receipt"],
            }
        )
    )
    vocabulary = load_vocabulary(user)
    assert vocabulary.get("sailing").texts() == ["a photo of a sailing boat.", "a picture of a sailing boat."]
    beach = vocabulary.get("beach")
    assert beach.threshold == 0.25 and beach.prompts == ("a beach", "the seaside")  # fields merge
    assert "receipt" not in vocabulary.names
    with pytest.raises(VocabularyError, match="no tag category"):
        vocabulary.get("receipt")


def test_without_defaults_only_the_users_categories(tmp_path: Path) -> None:
    user = tmp_path / "tags.json"
    user.write_text(
        json.dumps({"include_defaults": False, "categories": [{"name": "red"}], "threshold": 0.5})
    )
    vocabulary = load_vocabulary(user)
    assert vocabulary.names == ["red"] and vocabulary.background == ()
    assert vocabulary.get("red").texts() == ["a photo of red."] and vocabulary.get("red").threshold == 0.5


def test_digests_follow_prompts_thresholds_and_model(tmp_path: Path) -> None:
    user = tmp_path / "tags.json"
    before = load_vocabulary(user)
    set_threshold(user, "beach", 0.5, before)
    after = load_vocabulary(user)
    # A threshold changes the tags, not the text embeddings.
    assert after.prompt_digest("m/p") == before.prompt_digest("m/p")
    assert after.digest("m/p") != before.digest("m/p")
    assert before.digest("m/p") != before.digest("other/p")
    add_category(user, "beach", ["a sandy beach"])
    assert load_vocabulary(user).prompt_digest("m/p") != before.prompt_digest("m/p")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ("{", "is not JSON"),
        ('{"categories": [{"name": "Big Dog"}]}', "tag name"),
        ('{"categories": [{"name": "x", "threshold": 2}]}', "threshold must be"),
        ('{"templates": ["no placeholder"]}', "exactly one"),
        ('{"include_defaults": false}', "has no category"),
    ],
)
def test_invalid_files_are_refused_with_a_message(tmp_path: Path, content: str, message: str) -> None:
    user = tmp_path / "tags.json"
    user.write_text(content)
    with pytest.raises(VocabularyError, match=message):
        load_vocabulary(user)


def test_edits_keep_a_good_file_when_the_result_is_invalid(tmp_path: Path) -> None:
    user = tmp_path / "tags.json"
    add_category(user, "sailing", ["a sailing boat"], 0.2)
    good = user.read_text()
    with pytest.raises(VocabularyError):
        add_category(user, "Not A Tag")
    with pytest.raises(VocabularyError):
        remove_category(user, "unknown", is_default=False)
    assert user.read_text() == good


def test_removing_a_default_lists_it_and_adding_it_back_restores_it(tmp_path: Path) -> None:
    user = tmp_path / "tags.json"
    assert "dog" in default_names()
    assert "dog" not in remove_category(user, "dog", is_default=True).names
    assert json.loads(user.read_text())["removed"] == ["dog"]
    assert "dog" in add_category(user, "dog").names
