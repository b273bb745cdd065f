"""grader/similarity.py: near-copies of a course come first, stub-only submissions are not listed,
bad input is compared or skipped (never a crash), and `grader similarity` and the regrade report
give the same pairs. Small synthetic exports (grader/similarity_bench.py's generator)."""
import random
import re

import pytest

import mpconfig as C
from grader import cli, regrade, regrade_report, similarity as S
from grader.similarity_bench import reordered, renamed, synthetic
from grader.similarity_cli import export_submissions

REFERENCE = C.REFERENCE_SOLUTION.read_text(encoding="utf-8")


def write(export, name, data):
    folder = export / name
    folder.mkdir(parents=True)
    path = folder / "submitted.py"
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """original and its disguised copy (renamed names, shuffled definitions); two independent
    submissions (every region their own code); two that only touched the stub."""
    export = tmp_path_factory.mktemp("course") / "export"
    original = synthetic(REFERENCE, random.Random(1), keep=0.7)
    write(export, "submission_1_original", original)
    write(export, "submission_2_copy", reordered(renamed(original, random.Random(2)), random.Random(3)))
    write(export, "submission_3_own", synthetic(REFERENCE, random.Random(4), keep=0.0))
    write(export, "submission_4_own", synthetic(REFERENCE, random.Random(5), keep=0.0))
    stub = S.stub_text()
    write(export, "submission_5_stub", stub)
    write(export, "submission_6_stub_renamed", reordered(renamed(stub, random.Random(6)), random.Random(7)))
    return export


@pytest.fixture(scope="module")
def result(course):
    return S.check(export_submissions(course))


def names(pair):
    return {pair.a.name, pair.b.name}


def test_the_disguised_copy_comes_first_above_the_threshold(result, course):
    copy = (course / "submission_2_copy" / "submitted.py").read_text()
    assert "def run_model" in copy and copy != (course / "submission_1_original" / "submitted.py").read_text()
    top = result.pairs[0]
    assert names(top) == {"submission_1_original", "submission_2_copy"}
    assert top.mean >= C.SIMILARITY_THRESHOLD and top.shared >= C.SIMILARITY_MIN_SHARED
    assert [names(p) for p in result.listed] == [names(top)]


def test_stub_text_is_shared_by_no_one(result):
    stubs = {"submission_5_stub", "submission_6_stub_renamed"}
    assert not any(names(p) & stubs for p in result.listed)
    by_name = {e.name: e for e in result.entries}
    assert by_name["submission_5_stub"].fp.token_coverage == 0
    # Reordered, the stub has a few new fingerprints where two definitions now meet: too few to list.
    assert 0 < by_name["submission_6_stub_renamed"].fp.token_coverage < C.SIMILARITY_MIN_SHARED
    text = "\n".join(result.section())
    assert "1 submission(s) hold no code of their own beyond the stub: submission_5_stub" in text


def test_independent_submissions_are_not_listed(result):
    own = {"submission_3_own", "submission_4_own"}
    pair = next(p for p in result.pairs if names(p) == own) if any(names(p) == own for p in result.pairs) else None
    assert pair is None or pair.mean < C.SIMILARITY_THRESHOLD


def test_the_prefilter_drops_no_listed_pair(course, result, monkeypatch):
    monkeypatch.setattr(C, "SIMILARITY_PREFILTER", 0.0)     # every pair compared exactly
    every = S.check(export_submissions(course))
    assert [names(p) for p in every.listed] == [names(p) for p in result.listed]
    assert every.exact_pairs == every.compared_pairs > result.exact_pairs


def test_shared_regions_are_line_ranges_of_each_file(result):
    (_, a, b, _, _, _, _, lines_a, lines_b), = S.pair_rows(result)
    assert 1 <= len(lines_a) <= C.SIMILARITY_REGIONS and 1 <= len(lines_b) <= C.SIMILARITY_REGIONS
    top = result.listed[0]
    for text, ranges in ((top.a.text, lines_a), (top.b.text, lines_b)):
        n = len(text.splitlines())
        for r in ranges:
            first, _, last = r.partition("-")
            assert 1 <= int(first) <= int(last or first) <= n
    # The copy's longest region spans a good part of a function, not a line or two.
    spans = [int(r.split("-")[1]) - int(r.split("-")[0]) for r in lines_a if "-" in r]
    assert max(spans) >= 5


def test_cli_and_regrade_report_give_the_same_pairs(course, tmp_path):
    out = tmp_path / "sim"
    assert cli.main(["similarity", str(course), "--out", str(out)]) == 0
    md = (out / S.MD_NAME).read_text()
    html = (out / S.HTML_NAME).read_text()
    assert "submission_1_original" in html and "submission_2_copy" in html
    csv = tmp_path / "grades.csv"
    section = regrade.similarity_section(course, csv)
    assert regrade.similarity_html_path(csv).is_file()

    def table(text):
        return [ln for ln in text.splitlines() if re.match(r"\| \d+ \|", ln)]
    assert table("\n".join(section)) == table(md) and len(table(md)) == 1
    assert "submission_1_original" in table(md)[0] and "submission_2_copy" in table(md)[0]
    # The report regrade writes ends with that section.
    report = regrade_report.write_report(tmp_path / "grades_report.md", [], tmp_path / "none",
                                         extra=section)
    assert table(report.read_text()) == table(md)


def test_regrade_has_a_no_similarity_switch(tmp_path):
    parser = cli.build_parser()
    assert parser.parse_args(["regrade", str(tmp_path)]).similarity is True
    assert parser.parse_args(["regrade", str(tmp_path), "--no-similarity"]).similarity is False


def test_bad_input_is_compared_or_skipped_never_a_crash(tmp_path):
    export = tmp_path / "export"
    good = synthetic(REFERENCE, random.Random(8), keep=1.0)
    write(export, "s1_good", good)
    write(export, "s2_empty", "  \n\n")
    write(export, "s3_latin1", ("# café: ç\n" + good).encode("latin-1"))
    write(export, "s4_not_python", "These are my notes, not code: I ran out of time (sorry).\n" * 30)
    write(export, "s5_binary", b"PK\x03\x04\x00\x00binary zip bytes\x00" * 50)
    (export / "s6_notebook_only").mkdir()
    (export / "s6_notebook_only" / "mp09.ipynb").write_text("{}")
    write(export, "s7_syntax_error", good.replace("def run_model():", "def run_model(:", 1))
    out = tmp_path / "out"
    assert cli.main(["similarity", str(export), "--out", str(out)]) == 0
    md = (out / S.MD_NAME).read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (s\d_\w+) \|[^|]*\| (.+) \|$", md, re.M)}
    assert rows["s2_empty"].startswith("skipped: submitted.py is empty")
    assert rows["s3_latin1"].startswith("compared: not UTF-8 (byte 5)")
    assert rows["s4_not_python"].startswith("compared: not valid Python (line 1")
    assert rows["s5_binary"].startswith("skipped: submitted.py is not text")
    assert rows["s6_notebook_only"] == "skipped: no submitted.py (found: mp09.ipynb)"
    assert rows["s7_syntax_error"].startswith("compared: not valid Python (line")
    assert "s1_good" not in rows
    # The Latin-1 file and the one with a syntax error are the good one's copies: still found.
    result = S.check(export_submissions(export))
    listed = {frozenset(names(p)) for p in result.listed}
    assert {frozenset({"s1_good", "s3_latin1"}), frozenset({"s1_good", "s7_syntax_error"})} <= listed


def test_a_broken_check_leaves_the_regrade_report_standing(tmp_path, monkeypatch):
    def boom(_):
        raise RuntimeError("tokenizer exploded")
    monkeypatch.setattr(S, "check", boom)
    export = tmp_path / "export"
    write(export, "s1", "x = 1\n")
    section = regrade.similarity_section(export, tmp_path / "grades.csv")
    assert section[0] == "## Code similarity" and "RuntimeError: tokenizer exploded" in section[2]
