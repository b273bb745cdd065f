"""grader/regrade.py: the CSV, metadata, resuming, histogram, with a cheap grade function injected;
and one real grade end to end (slow)."""
import csv
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from grader import regrade as R

TESTS = (("1.1", "CIFAR10 length", 4), ("7.3", "hidden accuracy", 40))


def fake_results(points):
    tests = [{"name": name, "number": num, "score": min(points, mx), "max_score": mx,
              "status": "passed" if points >= mx else "failed", "visibility": "visible", "output": ""}
             for num, name, mx in TESTS]
    return {"score": sum(t["score"] for t in tests), "execution_time": 1.0, "output": "",
            "stdout_visibility": "hidden", "tests": tests,
            "leaderboard": [{"name": "accuracy", "value": points / 100}]}


def fake_grade(folder, results_path):
    """Grades by a number written in submitted.py; 'BROKEN' makes the grader fail."""
    text = (Path(folder) / "submitted.py").read_text()
    if "BROKEN" in text:
        raise RuntimeError("the grader wrote no results.json\n(second line)")
    return fake_results(int(text.split("=")[1]))


@pytest.fixture
def export(tmp_path):
    """Three submissions: one good, one broken, one with its file in a sub-folder; metadata for two."""
    root = tmp_path / "export"
    (root / "submission_101").mkdir(parents=True)
    (root / "submission_101" / "submitted.py").write_text("POINTS=44")
    (root / "submission_102").mkdir()
    (root / "submission_102" / "submitted.py").write_text("BROKEN")
    (root / "submission_103" / "mp09").mkdir(parents=True)
    (root / "submission_103" / "mp09" / "submitted.py").write_text("POINTS=10")
    # Gradescope's layout: Ruby-symbol keys, one mapping per submission folder.
    meta = {"submission_101": {":submitters": [{":name": "Ada Lovelace", ":email": "ada@example.edu",
                                                ":sid": "1"}], ":score": 0.0},
            "submission_103": {":submitters": [{":name": "Alan Turing", ":email": "alan@example.edu"},
                                               {":name": "Kurt Gödel", ":email": "kurt@example.edu"}]}}
    (root / "submission_metadata.yml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    return root


def read_rows(path):
    with open(path, newline="") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


def test_rows_metadata_and_histogram(export, tmp_path):
    out = tmp_path / "grades.csv"
    rows = R.regrade(export, out, grade_fn=fake_grade, progress=False)
    assert len(rows) == 3
    got = read_rows(out)
    assert set(got) == {"submission_101", "submission_102", "submission_103"}
    ada = got["submission_101"]
    assert (ada["name"], ada["email"], ada["submission_id"]) == ("Ada Lovelace", "ada@example.edu", "101")
    assert (ada["status"], ada["total"], ada["max_total"], ada["accuracy"]) == ("graded", "44", "44", "0.44")
    assert ada["test 1.1 CIFAR10 length"] == "4" and ada["test 7.3 hidden accuracy"] == "40"
    assert float(ada["seconds"]) >= 0
    broken = got["submission_102"]
    assert broken["status"] == "error" and broken["total"] == ""
    assert "no results.json | (second line)" in broken["error"]    # one physical line per row
    pair = got["submission_103"]                                   # found in its sub-folder
    assert pair["name"] == "Alan Turing; Kurt Gödel" and pair["total"] == "14"
    png = R.histogram_path(out)
    assert png == tmp_path / "grades_histogram.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    with Image.open(png) as im:
        im.verify()


def test_resume_after_interruption(export, tmp_path):
    out = tmp_path / "grades.csv"
    graded = []

    def interrupted(folder, results_path):
        if len(graded) == 1:
            raise KeyboardInterrupt  # Ctrl-C while the second submission is graded
        graded.append(Path(folder).name)
        return fake_grade(folder, results_path)

    with pytest.raises(KeyboardInterrupt):
        R.regrade(export, out, grade_fn=interrupted, progress=False)
    first = out.read_text()
    assert len(read_rows(out)) == 1
    # A row cut short by a crash mid-write is dropped and regraded, not kept half-written.
    with open(out, "a") as f:
        f.write("submission_102,,")
    again = []

    def counting(folder, results_path):
        again.append(folder)
        return fake_grade(folder, results_path)

    rows = R.regrade(export, out, grade_fn=counting, progress=False)
    assert len(rows) == 3 and len(again) == 2           # the finished row was not regraded
    assert out.read_text().startswith(first)            # ... nor rewritten
    assert set(read_rows(out)) == {"submission_101", "submission_102", "submission_103"}
    assert R.regrade(export, out, grade_fn=counting, progress=False) and len(again) == 2


def test_header_widens_when_first_row_has_no_tests(export, tmp_path):
    """The broken submission graded first still leaves room for the test columns that follow."""
    out = tmp_path / "grades.csv"
    order = iter([R.grade_one("submission_102", export / "submission_102", {}, fake_grade),
                  R.grade_one("submission_101", export / "submission_101", {}, fake_grade)])
    sink = R.CsvSink(out)
    for row in order:
        sink.add(row)
    header, rows = R.read_csv(out)
    assert "test 7.3 hidden accuracy" in header
    assert [r["status"] for r in rows] == ["error", "graded"]


def test_parallel_jobs_give_the_same_rows(export, tmp_path):
    one = R.regrade(export, tmp_path / "one.csv", grade_fn=fake_grade, progress=False)
    two = R.regrade(export, tmp_path / "two.csv", grade_fn=fake_grade, progress=False, jobs=2)
    strip = lambda rows: sorted((r["submission"], r["total"], r["status"]) for r in rows)  # noqa: E731
    assert strip(one) == strip(two)


def test_bad_input_is_named(tmp_path):
    with pytest.raises(R.RegradeError, match="does not exist"):
        R.regrade(tmp_path / "nope", tmp_path / "g.csv", grade_fn=fake_grade, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(R.RegradeError, match="no submission folders"):
        R.regrade(tmp_path / "empty", tmp_path / "g.csv", grade_fn=fake_grade, progress=False)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty" / "s1").mkdir()
    with pytest.raises(R.RegradeError, match="not a regrade CSV"):
        R.regrade(tmp_path / "empty", tmp_path / "other.csv", grade_fn=fake_grade, progress=False)
    with pytest.raises(R.RegradeError, match="--jobs"):
        R.regrade(tmp_path / "empty", tmp_path / "g.csv", grade_fn=fake_grade, progress=False, jobs=0)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_survives_the_csv_on_one_line(text):
    """Names and error messages with commas, quotes or newlines: one line, same text back."""
    header = list(R.META_COLUMNS)
    body = R._format(header, [{"submission": "s", "name": text, "error": text}])
    assert body.count("\n") == 1 and body.endswith("\n")
    row = next(csv.DictReader([R._header_line(header), body]))
    assert row["name"] == R._one_line(text)
    assert "\n" not in row["name"] and "\r" not in row["name"]


@pytest.mark.slow
def test_real_grade_end_to_end(tmp_path):
    """The real grader through the worker process: a submission that cannot be imported is
    cheap to grade (every test fails at the import check) and must still give a full row."""
    root = tmp_path / "export" / "submission_7"
    root.mkdir(parents=True)
    (root / "submitted.py").write_text("def run_model(:\n")
    out = tmp_path / "grades.csv"
    rows = R.regrade(root.parent, out, progress=False)
    assert [r["status"] for r in rows] == ["graded"], rows[0].get("error")
    assert rows[0]["total"] == "0" and float(rows[0]["max_total"]) == 100
    tests = [k for k in rows[0] if k.startswith(R.TEST_PREFIX)]
    import mpconfig as C
    assert len(tests) == len(C.TESTS)
    assert R.histogram_path(out).is_file()
