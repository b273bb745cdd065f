"""The documentation: a short front page, one task-first page per job, links and file paths that
resolve, numbers that agree with mpconfig, figures that carry their date, commit, machine and
command, and no development log."""
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

import mpconfig as C
from grader import cli

README = C.ROOT / "README.md"
DOCS = C.ROOT / "docs"
# One page per job; each starts with the command or the steps for its job.
JOB_PAGES = ("deploying.md", "regrading.md", "grading.md", "changing.md", "student-bundle.md", "figures.md")
FRONT_PAGE_MAX_LINES = 150
COMMANDS_WITHIN = 30
TWO_COMMANDS = ("python3 dev.py grade", "python3 dev.py test")
# Words of a development log: a numbered phase or session of the work, the machine of another
# time, who else ran what on the machine.
DEV_LOG = [r"\bsession \d", r"\bthis session\b", r"\bphase \d", r"\bstage \d of the work",
           r"\ba helper\b(?!'s| function)", r"\bhelper's\b", r"\bhelpers'", r"\b(slower|faster|earlier|previous) machine\b",
           r"\bwhile (a|another) \w+('s)? \w+ (ran|shared)", r"\bbefore this (session|change)\b"]
# Outputs a command writes, and names that stand for the reader's own: not files of the repository.
OUTPUT_PREFIXES = ("dist/", "build/", ".venv/", "grades", "/")
OUTPUT_NAMES = {"results.json", "graded_tests.json", "deploy.json", "rehearsal.json", "submission_metadata.yml",
                "prepared_knowledge.pt", "grades.csv", "outcome.json", "control.json"}
PROJECT_MODULES = {"grader", "reference", "mpconfig", "models", "dev", "tests", "devtests"}
PATH_SUFFIXES = (".py", ".md", ".txt", ".json", ".csv", ".sh", ".pt", ".ipynb", ".toml", ".yml")
FIGURE_COLUMNS = ("figure", "value", "date", "commit", "machine", "command", "conditions")


def git(*args):
    return subprocess.run(["git", *args], cwd=C.ROOT, capture_output=True, text=True, check=True).stdout


def documents():
    """Every Markdown document of the repository: tracked, or new and not ignored."""
    names = git("ls-files", "--cached", "--others", "--exclude-standard", "*.md").split()
    return [C.ROOT / n for n in sorted(set(names)) if (C.ROOT / n).is_file()]


def tracked_names():
    names = set(git("ls-files", "--cached", "--others", "--exclude-standard").split())
    return names | {p.as_posix() for n in names for p in PurePosixPath(n).parents if p.as_posix() != "."}


def without_code(text):
    """The text with fenced and indented code blocks and inline code spans blanked out."""
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    text = re.sub(r"(?m)^(    |\t).*$", "", text)
    return re.sub(r"`[^`\n]*`", "``", text)


def code_tokens(text):
    """Words of inline code spans and of code blocks: where a document names files and commands."""
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"(?ms)^```.*?^```", "", text))
    blocks = re.findall(r"(?ms)^```.*?^```", text) + re.findall(r"(?m)^(?:    |\t)(.*)$", text)
    words = []
    for chunk in spans + blocks:
        words += [w.strip("\"'(),;:[]") for w in chunk.split()]
    return [w for w in words if w]


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    return {slug(h) for h in re.findall(r"(?m)^#+\s+(.*)$", path.read_text())}


# --- the front page and the pages ---------------------------------------------------------

def test_front_page_is_short_with_the_two_commands_first():
    lines = README.read_text().splitlines()
    assert len(lines) <= FRONT_PAGE_MAX_LINES, f"README.md has {len(lines)} lines"
    head = "\n".join(lines[:COMMANDS_WITHIN])
    for command in TWO_COMMANDS:
        assert command in head, f"{command!r} not in README.md's first {COMMANDS_WITHIN} lines"


def test_front_page_names_the_classes_and_links_every_job_page():
    text = README.read_text()
    classes = ", ".join(f"{name} {i}" for i, name in enumerate(C.CLASSES))
    assert classes in " ".join(text.split()), f"README.md should list the classes as {classes}"
    for page in JOB_PAGES:
        assert f"(docs/{page})" in text, f"README.md does not link docs/{page}"


@pytest.mark.parametrize("page", JOB_PAGES)
def test_each_job_page_starts_with_its_command_or_steps(page):
    lines = (DOCS / page).read_text().splitlines()
    assert lines[0].startswith("# "), f"docs/{page} starts with its title"
    first = next(line for line in lines[1:] if line.strip())
    assert first.startswith("    ") or re.match(r"\d+\. ", first), \
        f"docs/{page}: the first thing after the title is {first!r}, not a command or a step"


# --- links and paths ----------------------------------------------------------------------

def broken_links(path):
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", without_code(path.read_text())):
        if re.match(r"[a-z]+:", target):
            continue                                    # a web address
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            found.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            found.append(target)
    return found


def test_every_relative_link_resolves():
    broken = {str(p.relative_to(C.ROOT)): b for p in documents() if (b := broken_links(p))}
    assert not broken, f"links to nothing: {broken}"


def named_paths(path):
    """(token, kind) for every token of the document's code that names a file of the repository:
    a path ("grader/probes/common.py", "docs/"), a file name ("setup.sh"), or a module run with -m."""
    tokens = code_tokens(path.read_text())
    for i, token in enumerate(tokens):
        if i and tokens[i - 1] == "-m":
            yield token, "module"
        elif re.fullmatch(r"[\w.\-/*]+", token) and not re.search(r"[A-Z]{2,}|\*\*", token) \
                and not token.startswith(OUTPUT_PREFIXES) and token not in OUTPUT_NAMES:
            if "/" in token and not token.startswith(("http", "tcp")):
                yield token.removeprefix("./"), "path"
            elif token.endswith(PATH_SUFFIXES) and not token.startswith("."):
                yield token, "name"


def missing_paths(path, repo, names):
    found = []
    for token, kind in named_paths(path):
        if kind == "module":
            if token.split(".")[0] not in PROJECT_MODULES:
                continue                                # pip, dask...: not the repository's
            module = token.replace(".", "/")
            ok = f"{module}.py" in repo or f"{module}/__init__.py" in repo or "." not in token and (
                f"{module}/__main__.py" in repo)
        elif kind == "path":
            clean = token.rstrip("/")
            ok = (clean in repo or (path.parent / clean).exists()
                  or any(PurePosixPath(r).match(clean) for r in repo if "*" in clean))
        else:
            ok = token in names
        if not ok:
            found.append(token)
    return found


def repository_paths():
    """Tracked paths, their folders, and the data folders set-up builds (git-ignored)."""
    return tracked_names() | {C.DATA_DIR.name, C.HIDDEN_DIR.name, "submitted.py"}


def test_every_file_path_named_in_the_documents_exists():
    repo = repository_paths()
    names = {PurePosixPath(r).name for r in repo}
    student_readme = C.ROOT / "reference" / "student_README.md"   # names the bundle's files: test_bundle.py
    missing = {str(p.relative_to(C.ROOT)): m for p in documents() if p != student_readme
               and (m := missing_paths(p, repo, names))}
    assert not missing, f"documents name files that do not exist: {missing}"


def test_the_path_check_finds_what_is_missing(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text("Run `python -m grader.nowhere` and read `grader/probes/missing.py`, `gone.sh` or\n"
                   "[this](nowhere.md) and [that](page.md#no-such-heading).\n\n"
                   "    .venv/bin/python -m reference.build_bundle --out dist/x   # fine\n"
                   "Fine: `grader/probes/*.py`, `docs/`, `grades.csv`, `mpconfig.TESTS`, `setup.sh`.\n")
    repo = repository_paths()
    names = {PurePosixPath(r).name for r in repo}
    assert missing_paths(doc, repo, names) == ["grader.nowhere", "grader/probes/missing.py", "gone.sh"]
    assert broken_links(doc) == ["nowhere.md", "page.md#no-such-heading"]


def test_every_grader_subcommand_named_exists():
    known = set(cli.build_parser()._subparsers._group_actions[0].choices)
    named = set()
    for path in documents():
        named |= set(re.findall(r"-m grader ([a-z][\w-]*)", path.read_text()))
    assert named <= known, f"no such `python -m grader` command: {sorted(named - known)}"


# --- numbers that belong to mpconfig ------------------------------------------------------

def test_numbers_quoted_from_mpconfig_agree():
    """Wherever a document writes `mpconfig.NAME` = VALUE, VALUE is mpconfig's."""
    quoted = []
    for path in documents():
        for name, value in re.findall(r"`mpconfig\.([A-Z_]+)` = ([\d.,]+\d)", path.read_text()):
            quoted.append((path.name, name, value))
            assert float(value.replace(",", "")) == getattr(C, name), (path.name, name, value)
    assert len(quoted) >= 5


def test_grading_table_is_mpconfigs_tests_and_points():
    rows = re.findall(r"(?m)^\| (\d+\.\d+) \|.*\| ([\d.]+) \|$", (DOCS / "grading.md").read_text())
    assert [n for n, _ in rows] == list(C.TESTS), "docs/grading.md's table lists every test once, in order"
    for number, points in rows:
        assert float(points) == C.TESTS[number][0], f"test {number}: {points} points, mpconfig says {C.TESTS[number][0]}"


def test_torch_pins_quoted_are_the_requirements():
    pins = dict(re.findall(r"(?m)^(torch|torchvision)==(\S+)", (C.ROOT / "requirements.txt").read_text()))
    quoted = 0
    for path in documents():
        for name, version in re.findall(r"\b(torch|torchvision)==(\d[\w.]*?)(?:\+cpu)?[\s\"`]", path.read_text()):
            quoted += 1
            assert version == pins[name], f"{path.name}: {name}=={version}, requirements.txt pins {pins[name]}"
    assert quoted >= 2


# --- figures ------------------------------------------------------------------------------

def figure_rows():
    """The rows of docs/figures.md's tables whose columns are FIGURE_COLUMNS."""
    rows, columns = [], None
    for line in (DOCS / "figures.md").read_text().splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            columns = tuple(c.lower() for c in cells)
        elif not set("".join(cells)) <= set("-: ") and columns == FIGURE_COLUMNS:
            rows.append(dict(zip(columns, cells)))
    return rows


def test_every_figure_names_its_date_commit_machine_and_command():
    rows = figure_rows()
    assert len(rows) >= 3
    history = set(git("rev-list", "--all", "--abbrev-commit", "--abbrev=7").split())
    for row in rows:
        where = row["figure"]
        assert re.fullmatch(r"20\d\d-\d\d-\d\d", row["date"]), (where, row["date"])
        commit = row["commit"].strip("`").removesuffix("+changes")
        assert re.fullmatch(r"[0-9a-f]{7,40}", commit), (where, row["commit"])
        assert any(h.startswith(commit) or commit.startswith(h) for h in history), \
            f"{where}: commit {commit} is not in this repository's history"
        assert re.search(r"\d+ cores?\b", row["machine"]), (where, row["machine"])
        assert "`" in row["command"], (where, row["command"])
        assert row["conditions"], where


# --- no development log -------------------------------------------------------------------

def dev_log_phrases(text):
    return [m.group(0) for pattern in DEV_LOG for m in re.finditer(pattern, text, re.I)]


def test_no_document_reads_as_a_development_log():
    found = {str(p.relative_to(C.ROOT)): f for p in documents() if (f := dev_log_phrases(p.read_text()))}
    assert not found, f"words of a development log (history is git's): {found}"


def test_the_dev_log_check_finds_its_phrases():
    text = ("Measured in session 6 on the slower machine, while a helper's validation shared the "
            "machine; phase 2 had it faster. Fine: a helper function, the session's cookie, 2 cores.")
    assert sorted(dev_log_phrases(text), key=text.find) == [
        "session 6", "slower machine", "while a helper's validation shared", "helper's", "phase 2"]
