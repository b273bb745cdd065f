"""Code similarity across a course's submissions: the pairs that share far more than the stub.

    python -m grader similarity EXPORT_DIR --out DIR     # grader/similarity_cli.py

`grader regrade` runs the same check after the grades (its report's last section; --no-similarity
turns it off). Both hand it the submissions found by regrade's export walker. Fingerprints are copydetect's (winnowing on pygments tokens, so renamed variables
and reordered functions still match); the stub, generated from the reference, is boilerplate.
A pair's two scores: the share of each file's own code (beyond the stub) found in the other;
pairs are ranked by their mean. What is listed, and why the threshold: docs/similarity.md.
"""
import ast
import bisect
import io
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import mpconfig as C
from grader.atomic_write import write_text

SUBMITTED = "submitted.py"
HTML_NAME = "similarity.html"
MD_NAME = "similarity.md"
BLOCK = 4096        # hashes per block when counting shared fingerprints of all pairs at once


@dataclass
class Entry:
    """One submission: its text and fingerprint, or why it was skipped."""
    name: str
    student: str
    text: str = None
    notes: list = field(default_factory=list)   # compared, but read with a caveat
    skipped: str = ""                           # not compared, and why
    fp: object = None


@dataclass
class Pair:
    a: Entry
    b: Entry
    score_a: float          # share of a's own code found in b
    score_b: float
    shared: int             # tokenized characters of a found in b
    slices_a: object = None
    slices_b: object = None

    @property
    def mean(self):
        return (self.score_a + self.score_b) / 2


@dataclass
class Result:
    entries: list
    pairs: list             # every pair scored exactly, best first
    listed: list            # those at or above the threshold, at most SIMILARITY_MAX_LISTED
    above: int              # how many reached the threshold in all
    compared_pairs: int     # pairs of compared submissions with code beyond the stub
    exact_pairs: int = 0    # of them, those past the prefilter (scored by compare_files)

    def section(self, html_name=None, html_error=None):
        return section(self, html_name, html_error)


def stub_text():
    """The stub as handed out, from the generator (one source of truth; never a committed copy)."""
    from reference.make_stubs import make_stubs
    return make_stubs(C.REFERENCE_SOLUTION.read_text(encoding="utf-8"))


def read_entry(name, folder, student):
    """`folder`: where the student's submitted.py should be (regrade.submission_root)."""
    entry = Entry(name=name, student=student.get("name", ""))
    path = folder / SUBMITTED
    if not path.is_file():
        found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.name != "submission_metadata.yml")
        entry.skipped = (f"no {SUBMITTED} (found: {', '.join(found[:5])}{', ...' if len(found) > 5 else ''})"
                         if found else "no files")
        return entry
    try:
        size = path.stat().st_size
        if size > C.SIMILARITY_MAX_BYTES:
            entry.skipped = f"{SUBMITTED} is {size:,} bytes, more than {C.SIMILARITY_MAX_BYTES:,}"
            return entry
        data = path.read_bytes()
    except OSError as exc:
        entry.skipped = f"unreadable: {exc}"
        return entry
    if not data.strip():
        entry.skipped = f"{SUBMITTED} is empty"
        return entry
    if b"\0" in data:
        entry.skipped = f"{SUBMITTED} is not text (it holds NUL bytes: a binary file)"
        return entry
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        entry.notes.append(f"not UTF-8 (byte {exc.start}): read with the undecodable bytes replaced")
    try:
        ast.parse(text)
    except SyntaxError as exc:
        entry.notes.append(f"not valid Python (line {exc.lineno}: {exc.msg}): tokenized anyway")
    except ValueError as exc:      # e.g. a NUL in the source (not reached: NULs are skipped above)
        entry.notes.append(f"not valid Python ({exc}): tokenized anyway")
    entry.text = text
    return entry


def _fingerprint(label, text, boilerplate=None):
    from copydetect import CodeFingerprint
    # The label names the language (pygments picks its lexer by the file name).
    fp = CodeFingerprint(label, C.SIMILARITY_K, 1, boilerplate=boilerplate, fp=io.StringIO(text))
    # Plain ints hash faster than numpy scalars in compare_files' set intersection; same values.
    fp.hashes = {int(h) for h in fp.hashes}
    return fp


def boilerplate_hashes():
    return np.unique(np.array(sorted(_fingerprint(SUBMITTED, stub_text()).hashes), dtype=np.int64))


def fingerprint_all(entries):
    boiler = boilerplate_hashes()
    for e in entries:
        if e.text is None:
            continue
        try:
            e.fp = _fingerprint(f"{e.name}/{SUBMITTED}", e.text, boiler)
        except Exception as exc:   # the tokenizer choking on something: skip it, keep the report
            e.skipped = f"could not be tokenized ({type(exc).__name__}: {exc})"
            e.text = None


def shared_counts(fps):
    """n x n matrix of fingerprints shared by each pair (and each file's count on the diagonal)."""
    n = len(fps)
    counts = np.zeros((n, n), dtype=np.int64)
    arrays = [np.fromiter(fp.hashes, dtype=np.int64, count=len(fp.hashes)) for fp in fps]
    if not any(len(a) for a in arrays):
        return counts
    owner = np.concatenate([np.full(len(a), i) for i, a in enumerate(arrays)])
    _, inverse, freq = np.unique(np.concatenate(arrays), return_inverse=True, return_counts=True)
    keep = freq[inverse] > 1          # a fingerprint of one file only is shared by no pair
    cols = np.unique(inverse[keep], return_inverse=True)[1]
    rows = owner[keep]
    for start in range(0, int(cols.max(initial=-1)) + 1, BLOCK):
        sel = (cols >= start) & (cols < start + BLOCK)
        block = np.zeros((n, BLOCK), dtype=np.float32)
        block[rows[sel], cols[sel] - start] = 1
        counts += (block @ block.T).astype(np.int64)
    counts[np.arange(n), np.arange(n)] = [len(a) for a in arrays]
    return counts


def candidates(fps):
    """Index pairs (i < j) worth an exact comparison: their shared-fingerprint share is high enough."""
    counts = shared_counts(fps)
    own = np.maximum(np.diag(counts), 1).astype(float)
    share = (counts / own[:, None] + counts / own[None, :]) / 2
    i, j = np.nonzero(np.triu(share >= C.SIMILARITY_PREFILTER, k=1))
    return list(zip(i.tolist(), j.tolist()))


def score_pairs(entries):
    """Every candidate pair scored by copydetect's compare_files, best first."""
    from copydetect import compare_files
    live = [e for e in entries if e.fp is not None and e.fp.token_coverage > 0]
    pairs, todo = [], candidates([e.fp for e in live])
    for i, j in todo:
        a, b = live[i], live[j]
        shared, (sa, sb), (slices_a, slices_b) = compare_files(a.fp, b.fp)
        if shared:
            pairs.append(Pair(a, b, float(sa), float(sb), int(shared), slices_a, slices_b))
    pairs.sort(key=lambda p: (-p.mean, -p.shared, p.a.name, p.b.name))
    return pairs, len(live) * (len(live) - 1) // 2, len(todo)


def read_all(submissions):
    """An Entry per (name, folder holding submitted.py, student dict), fingerprinted."""
    entries = [read_entry(name, folder, student) for name, folder, student in submissions]
    fingerprint_all(entries)
    return entries


def result_of(entries):
    pairs, compared, exact = score_pairs(entries)
    above = [p for p in pairs if p.mean >= C.SIMILARITY_THRESHOLD and p.shared >= C.SIMILARITY_MIN_SHARED]
    return Result(entries, pairs, above[:C.SIMILARITY_MAX_LISTED], len(above), compared, exact)


def check(submissions):
    """Read, fingerprint and compare every submission: [(name, folder holding submitted.py, student)]."""
    return result_of(read_all(submissions))


def line_ranges(text, slices, count=C.SIMILARITY_REGIONS):
    """The `count` longest regions of `slices` (character offsets) as 'first-last' line ranges."""
    if slices is None or len(slices) == 0 or slices.shape[-1] == 0:
        return []
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    spans = sorted(zip(slices[0].tolist(), slices[1].tolist()), key=lambda s: s[0] - s[1])[:count]
    out = []
    for s, e in sorted(spans):
        first = bisect.bisect_right(starts, s)
        last = bisect.bisect_right(starts, max(s, e - 1))
        out.append(f"{first}-{last}" if last > first else f"{first}")
    return out


def _md(text, limit=60):
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("|", "\\|").replace("`", "'")


def pair_rows(result):
    """(rank, a, b, mean, score a, score b, shared, regions a, regions b) of the listed pairs:
    what the Markdown table shows, and what the tests compare between regrade and `similarity`."""
    return [(n, p.a.name, p.b.name, round(p.mean, 3), round(p.score_a, 3), round(p.score_b, 3), p.shared,
             tuple(line_ranges(p.a.text, p.slices_a)), tuple(line_ranges(p.b.text, p.slices_b)))
            for n, p in enumerate(result.listed, 1)]


def section(result, html_name=None, html_error=None):
    """The Markdown section (a list of lines): the same in the regrade report and in similarity.md."""
    from copydetect import __version__
    entries = result.entries
    compared = [e for e in entries if e.fp is not None]
    bare = [e for e in compared if e.fp.token_coverage == 0]
    out = ["## Code similarity", "",
           f"{len(compared)} of {len(entries)} submissions compared ({result.compared_pairs:,} pairs; "
           f"copydetect {__version__}, winnowing on tokens: renamed names and reordered functions still "
           f"match; the stub's text counts as shared by no one). A pair's scores: the share of each "
           f"file's own code found in the other; ranked by their mean. Listed: mean at least "
           f"{C.SIMILARITY_THRESHOLD:.2f} (mpconfig.SIMILARITY_THRESHOLD, from the spread among "
           f"independent solutions: docs/similarity.md) and at least {C.SIMILARITY_MIN_SHARED} shared "
           f"tokenized characters. Lines: the longest shared regions of each file.", ""]
    if bare:
        out += [f"{len(bare)} submission(s) hold no code of their own beyond the stub: "
                + ", ".join(_md(e.name, 40) for e in bare[:20]) + (", ..." if len(bare) > 20 else ""), ""]
    if not result.listed:
        best = result.pairs[0] if result.pairs else None
        out += ["No pair reaches the threshold."
                + (f" The most similar: {_md(best.a.name)} and {_md(best.b.name)}, mean {best.mean:.2f}."
                   if best else ""), ""]
    else:
        if html_name:
            out += [f"Side by side, shared code highlighted: [{html_name}]({html_name}).", ""]
        elif html_error:
            out += [f"The side-by-side view was not written: {_md(html_error, 200)}", ""]
        more = result.above - len(result.listed)
        out += [f"{result.above} pair(s) reach the threshold"
                + (f"; the first {len(result.listed)} are listed (mpconfig.SIMILARITY_MAX_LISTED)"
                   if more else "") + ".", "",
                "| # | submission A | student A | submission B | student B | mean | A in B | B in A "
                "| shared | lines in A | lines in B |",
                "|---:|---|---|---|---|---:|---:|---:|---:|---|---|"]
        for (n, a, b, mean, sa, sb, shared, ra, rb), p in zip(pair_rows(result), result.listed):
            out.append(f"| {n} | {_md(a, 40)} | {_md(p.a.student, 30)} | {_md(b, 40)} | "
                       f"{_md(p.b.student, 30)} | {mean:.2f} | {sa:.2f} | {sb:.2f} | {shared} | "
                       f"{', '.join(ra)} | {', '.join(rb)} |")
        out.append("")
    noted = [e for e in compared if e.notes]
    skipped = [e for e in entries if e.fp is None]
    if noted or skipped:
        out += ["Read with a caveat, or skipped:", "", "| submission | student | what |", "|---|---|---|"]
        for e in noted:
            out.append(f"| {_md(e.name, 40)} | {_md(e.student, 30)} | compared: {_md('; '.join(e.notes), 200)} |")
        for e in skipped:
            out.append(f"| {_md(e.name, 40)} | {_md(e.student, 30)} | skipped: {_md(e.skipped, 200)} |")
        out.append("")
    return out


def write_html(result, path):
    """copydetect's own side-by-side report, of the listed pairs only."""
    from copydetect import CopyDetector
    from grader.regrade_report import _pyplot
    _pyplot()                            # its plots: the Agg backend, no display needed
    files = sorted({e.fp.filename: e for p in result.listed for e in (p.a, p.b)}.items())
    index = {name: i for i, (name, _) in enumerate(files)}
    det = CopyDetector(extensions=["py"], display_t=C.SIMILARITY_THRESHOLD - 1e-9, autoopen=False,
                       silent=True, out_file=str(path), truncate=True)
    # Fill the detector as its own run() would for these files (copydetect 0.5.0's attributes),
    # from the comparisons already made, rather than comparing every pair of them again.
    det.test_files = det.ref_files = [name for name, _ in files]
    det.file_data = {name: e.fp for name, e in files}
    n = len(files)
    det.similarity_matrix = np.full((n, n, 2), -1.0)
    det.token_overlap_matrix = np.full((n, n), -1)
    det.slice_matrix = {}
    for p in result.listed:
        i, j = index[p.a.fp.filename], index[p.b.fp.filename]
        det.similarity_matrix[i, j] = (p.score_a, p.score_b)
        det.similarity_matrix[j, i] = (p.score_b, p.score_a)
        det.token_overlap_matrix[i, j] = det.token_overlap_matrix[j, i] = p.shared
        det.slice_matrix[(p.a.fp.filename, p.b.fp.filename)] = [p.slices_a, p.slices_b]
    with warnings.catch_warnings():  # copydetect 0.5.0 reads its template with a deprecated call
        warnings.simplefilter("ignore", DeprecationWarning)
        html = det.generate_html_report(output_mode="return")
    write_text(path, html)
    return path


def write_outputs(result, md_path, html_path, title):
    """The Markdown (a title, then the section) and, when pairs are listed, the HTML beside it."""
    html_name, html_error = None, None
    if result.listed:
        try:
            html_name = write_html(result, html_path).name
        except Exception as exc:       # the view is extra: never lose the Markdown for it
            html_error = f"{type(exc).__name__}: {exc}"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"Written {when}.", ""] + section(result, html_name, html_error)
    write_text(md_path, "\n".join(lines).rstrip() + "\n")
    return md_path
