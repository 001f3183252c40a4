"""Self-check quizzes store only salted hashes and explain after a wrong try."""

import json
from importlib import resources

import pytest

from genlab import quiz


def test_hash_is_salted_and_normalized():
    assert quiz.answer_hash("s1", "B") == quiz.answer_hash("s1", " b ")
    assert quiz.answer_hash("s1", "b") != quiz.answer_hash("s2", "b")


def test_make_entry_never_contains_the_answer():
    entry = quiz.make_entry("c", "Because.")
    assert set(entry) == {"salt", "sha256", "explanation"}
    assert entry["sha256"] == quiz.answer_hash(entry["salt"], "c")


def test_check_explains_after_a_wrong_try(capsys):
    bank = quiz.load_bank("00_welcome")
    right = next(o for o in quiz.OPTIONS if quiz.is_correct("00_welcome", "q1", o))
    wrong = next(o for o in quiz.OPTIONS if o != right)
    assert quiz.check("00_welcome", "q1", right) is True
    assert "correct" in capsys.readouterr().out
    assert quiz.check("00_welcome", "q1", wrong) is False
    assert bank["q1"]["explanation"] in capsys.readouterr().out
    assert quiz.check("00_welcome", "q1", None) is False
    assert "not answered" in capsys.readouterr().out


def test_check_rejects_bad_input():
    with pytest.raises(ValueError, match="answer for q1"):
        quiz.check("00_welcome", "q1", "e")
    with pytest.raises(TypeError, match="answer must be a string"):
        quiz.check("00_welcome", "q1", 3)
    with pytest.raises(ValueError, match="no question"):
        quiz.is_correct("00_welcome", "q99", "a")
    with pytest.raises(ValueError, match="no quiz bank"):
        quiz.load_bank("99_nothing")


def test_every_bank_has_exactly_one_right_option_per_question():
    for path in resources.files("genlab.quiz_bank").iterdir():
        if not path.name.endswith(".json"):
            continue
        chapter = path.name[:-5]
        bank = json.loads(path.read_text())
        for qid, entry in bank.items():
            assert entry["explanation"].strip(), f"{chapter}/{qid} has no explanation"
            right = [o for o in quiz.OPTIONS if quiz.is_correct(chapter, qid, o)]
            assert len(right) == 1, f"{chapter}/{qid}: {len(right)} options match"


def test_check_all_reports_every_question_and_counts_the_right_ones(capsys):
    right = {q: next(o for o in quiz.OPTIONS if quiz.is_correct("00_welcome", q, o))
             for q in ("q1", "q2")}
    wrong = next(o for o in quiz.OPTIONS if o != right["q2"])
    assert quiz.check_all("00_welcome", q1=right["q1"], q2=wrong) == 1
    out = capsys.readouterr().out
    assert "q1: correct" in out and "q2: not quite" in out


def test_assert_letters_names_the_bad_variable():
    quiz.assert_letters(answer_q1="a", answer_q2="d")
    with pytest.raises(AssertionError, match="answer_q2 must be 'a', 'b', 'c' or 'd', got None"):
        quiz.assert_letters(answer_q1="a", answer_q2=None)
    with pytest.raises(AssertionError, match="answer_q1"):
        quiz.assert_letters(answer_q1="B")  # the graded variable must be exactly a letter


# --- class releases: options shuffled per class from the instructor's secret -----------

def test_class_permutation_is_per_class_and_always_moves_the_right_option():
    from genlab.grading.classrelease import permutation

    for q in range(1, 20):
        mapping = permutation("class-A", "01_gan_losses", q, "c")
        assert sorted(mapping) == sorted(mapping.values()) == list("abcd")
        assert mapping["c"] != "c", "the public hash of the right letter must match nothing"
        assert mapping == permutation("class-A", "01_gan_losses", q, "c")  # reproducible
    assert any(permutation("class-A", "01_gan_losses", q, "c") != permutation("class-B", "01_gan_losses", q, "c")
               for q in range(1, 20))


def test_class_release_shuffles_the_text_and_the_judge_maps_letters_back():
    from genlab.grading.classrelease import judge_key, permutation, shuffle_markdown

    text = ("**Q1.** Which?\n\n- a) first\n- b) second, which runs\n  over two lines\n"
            "- c) third\n- d) fourth\n\n**Q2.** Other?\n\n- a) x\n- b) y\n- c) z\n- d) w")
    shuffled = shuffle_markdown(text, "00_welcome", "s3cret", {1: "b", 2: "d"})
    mapping = permutation("s3cret", "00_welcome", 1, "b")
    shown_right = mapping["b"]
    assert f"- {shown_right}) second, which runs\n  over two lines" in shuffled
    assert sorted(shuffled.splitlines()) != sorted(text.splitlines()) or shuffled != text
    assert "**Q2.**" in shuffled and shuffled.count("- a) ") == 2
    import os
    os.environ["GENLAB_CLASS_SECRET"] = "s3cret"
    try:
        canonical = judge_key("00_welcome")
        assert canonical("answer_q1", shown_right, "b") == "b"
        assert canonical("answer_q1", "b", "b") != "b"  # the self-study letter is wrong here
        assert canonical("preset_a", "gan", "gan") == "gan"  # not a lettered question
    finally:
        del os.environ["GENLAB_CLASS_SECRET"]
    # with the real key of 00_welcome Q1 ("c"): the public hash rejects the class's right letter
    class_right = permutation("s3cret", "00_welcome", 1, "c")["c"]
    assert not quiz.is_correct("00_welcome", "q1", class_right)


def test_graded_by_instructor_says_so(capsys):
    quiz.graded_by_instructor("00_welcome")
    assert "graded by your instructor" in capsys.readouterr().out


@pytest.mark.parametrize("chapter", ["../registry", "00_welcome/../00_welcome", "", 3, "00_Welcome"])
def test_load_bank_takes_a_chapter_id_not_a_path(chapter):
    with pytest.raises(ValueError, match="chapter must be a chapter id"):
        quiz.load_bank(chapter)
