"""Build the MP's data: 8-class CIFAR-10 batches in the CIFAR-10 python pickle format.

    python -m reference.build_data [--source PATH] [--out DIR] [--hidden-out DIR] [--check]
                                   [--manifest FILE] [--write-manifest]

Source, in order: --source, $MP09_CIFAR_SOURCE, the shared image-folder archive, a local official
``cifar-10-python.tar.gz``, a download of it: an image-folder tree (``train/<class>/*.jpg|png``,
``test/<class>/...``), a .tar.gz of one, or the official archive (its MD5 checked). Both output
folders are staged and swapped in only when complete and (unless --write-manifest) matching
reference/data_manifest.json (SHA-256 of every output and the source). Errors: exit 1, one line.
"""
import argparse
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mpconfig as C  # noqa: E402
from grader.atomic_write import write_text  # noqa: E402
from grader.probes.cifar_batch import make_batch, rows_and_labels, unpickle  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PICKLE_PROTOCOL = 4  # compact for numpy arrays; loads with pickle.load(f, encoding="bytes")
OFFICIAL_DIR = "cifar-10-batches-py"


class DataError(Exception):
    """A source or output problem, with the file and what is wrong in the message."""


def _digest_file(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path):
    return _digest_file(path, "sha256")


def md5_file(path):
    return _digest_file(path, "md5")


def sha256_tree(root):
    """SHA-256 over the sorted relative paths and contents of an image-folder tree."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(sha256_file(p).encode())
    return h.hexdigest()


def source_digest(path):
    path = Path(path)
    return sha256_tree(path) if path.is_dir() else sha256_file(path)


def _decode(raw, name):
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            if im.size != (32, 32):
                raise DataError(f"{name}: image is {im.size[0]}x{im.size[1]}, expected 32x32")
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from exc
    # CIFAR row layout: the whole R plane, then G, then B, each row-major.
    return arr.transpose(2, 0, 1).reshape(-1)


def _collect(entries, origin):
    """entries: iterable of (relative posix path, bytes-reader). Returns {split: arrays}."""
    found = {"train": [], "test": []}
    for rel, read in entries:
        parts = rel.split("/")
        # Accept an optional top folder (cifar10-images/train/cls/x.jpg).
        for i, part in enumerate(parts[:-2]):
            if part in found:
                split, cls, fname = part, parts[i + 1], "/".join(parts[i + 2:])
                break
        else:
            continue
        if not fname.lower().endswith(IMAGE_SUFFIXES):
            continue
        if cls not in C.CIFAR10_CLASSES:
            raise DataError(f"{origin}: unknown class folder '{cls}' at {rel} "
                            f"(expected one of {', '.join(C.CIFAR10_CLASSES)})")
        found[split].append((C.CIFAR10_CLASSES.index(cls), f"{cls}_{Path(fname).name}", rel, read))
    out = {}
    for split, items in found.items():
        if not items:
            raise DataError(f"{origin}: not a CIFAR-10 source: no {split}/<class>/ images "
                            f"and no {OFFICIAL_DIR}/ batches")
        # Sorted so that the result does not depend on archive or directory listing order.
        items.sort(key=lambda t: (t[0], t[2]))
        data = np.stack([_decode(read(), f"{origin}:{rel}") for _, _, rel, read in items])
        out[split] = (data, np.array([t[0] for t in items], dtype=np.int64), [t[1] for t in items])
    return out


def _read_official(tf, origin):
    def load(name):
        member = f"{OFFICIAL_DIR}/{name}"
        try:
            batch = unpickle(tf.extractfile(member).read())
            data, labels = rows_and_labels(batch, f"{origin}:{member}")
            files = [f.decode() for f in batch[b"filenames"]]
        except KeyError as exc:
            raise DataError(f"{origin}: official archive lacks {member} or its key {exc}") from exc
        except ValueError as exc:
            raise DataError(str(exc)) from exc
        return data, labels, files
    out = {}
    for split, names in (("train", C.TRAIN_FILES), ("test", (C.TEST_FILE,))):
        batches = [load(n) for n in names]
        out[split] = (np.concatenate([b[0] for b in batches]),
                      np.concatenate([b[1] for b in batches]),
                      [f for b in batches for f in b[2]])
    return out


def read_source(path, md5=C.OFFICIAL_ARCHIVE_MD5):
    """A source as {'train'|'test': (rows, labels 0..9, filenames)}; `md5`: the official archive's."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: source not found")
    if path.is_dir():
        files = [p for p in sorted(path.rglob("*")) if p.is_file()]
        return _collect(((p.relative_to(path).as_posix(), p.read_bytes) for p in files), str(path))
    try:
        with tarfile.open(path, "r:*") as tf:
            # One sequential pass: random access into a .tar.gz re-decompresses from the start.
            entries, official = [], False
            for m in tf:
                if m.name.split("/")[0] == OFFICIAL_DIR:
                    official = True
                    break
                if m.isfile() and m.name.lower().endswith(IMAGE_SUFFIXES):
                    entries.append((m.name, (lambda raw=tf.extractfile(m).read(): raw)))
            if official:
                digest = md5_file(path)
                if digest != md5:
                    raise DataError(f"{path}: MD5 {digest} does not match the official CIFAR-10 "
                                    f"archive's {md5}; refusing it")
                return _read_official(tf, str(path))
        return _collect(entries, str(path))
    except (tarfile.TarError, EOFError, OSError, zlib.error, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: damaged or not a tar.gz archive ({exc})") from exc


def download_official(dest, url=C.OFFICIAL_ARCHIVE_URL, md5=C.OFFICIAL_ARCHIVE_MD5,
                      opener=urllib.request.urlopen):
    """Fetch the official archive to dest, keeping it only if its MD5 is the published one."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    print(f"downloading {url} -> {dest}", file=sys.stderr)
    try:
        try:
            with opener(url, timeout=60) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
        except (OSError, ValueError) as exc:
            raise DataError(f"no local CIFAR-10 source and downloading {url} failed: {exc}") from exc
        digest = md5_file(tmp)
        if digest != md5:
            raise DataError(f"{url}: downloaded file has MD5 {digest}, not the published {md5}; "
                            f"refusing it")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)  # no partial download survives, whatever happened
    return dest


def find_source(explicit=None, url=C.OFFICIAL_ARCHIVE_URL, md5=C.OFFICIAL_ARCHIVE_MD5):
    """The source path to build from, in the documented order of preference."""
    if explicit:
        return Path(explicit)
    if os.environ.get(C.SOURCE_ENV):
        return Path(os.environ[C.SOURCE_ENV])
    for candidate in C.DEFAULT_SOURCES:
        if candidate.exists():
            return candidate
    return download_official(C.DEFAULT_SOURCES[-1], url=url, md5=md5)


def to_eight_classes(data, labels10, files):
    """Drop cat and dog; relabel to the MP's 0..7 order."""
    remap = np.full(len(C.CIFAR10_CLASSES), -1)
    for new, name in enumerate(C.CLASSES):
        remap[C.CIFAR10_CLASSES.index(name)] = new
    labels = remap[labels10]
    keep = np.flatnonzero(labels >= 0)
    return data[keep], labels[keep], [files[i] for i in keep]


def _check_counts(labels, split, need, origin):
    counts = np.bincount(labels, minlength=C.NUM_CLASSES)
    short = [f"{C.CLASSES[c]} ({counts[c]})" for c in range(C.NUM_CLASSES) if counts[c] < need]
    if short:
        raise DataError(f"{origin}: {split} split has too few images of {', '.join(short)}; "
                        f"each class needs at least {need}")


def make_batches(src, public_test_per_class=C.PUBLIC_TEST_PER_CLASS, origin="source"):
    """{output name: batch dict} for the public folder and for the hidden folder."""
    rng = np.random.default_rng(C.SPLIT_SEED)
    data, labels, files = to_eight_classes(*src["train"])
    _check_counts(labels, "train", 1, origin)
    order = rng.permutation(len(labels))
    chunks = np.array_split(order, len(C.TRAIN_FILES))
    public = {}
    for i, (name, idx) in enumerate(zip(C.TRAIN_FILES, chunks), 1):
        public[name] = make_batch(data[idx], labels[idx], [files[j] for j in idx],
                              f"training batch {i} of {len(C.TRAIN_FILES)}")
    tdata, tlabels, tfiles = to_eight_classes(*src["test"])
    _check_counts(tlabels, "test", public_test_per_class + 1, origin)  # the hidden set gets the rest
    pub_idx, hid_idx = [], []
    for c in range(C.NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(tlabels == c))
        pub_idx += list(members[:public_test_per_class])
        hid_idx += list(members[public_test_per_class:])
    pub_idx, hid_idx = rng.permutation(pub_idx), rng.permutation(hid_idx)
    public[C.TEST_FILE] = make_batch(tdata[pub_idx], tlabels[pub_idx], [tfiles[j] for j in pub_idx],
                                 "testing batch 1 of 1")
    public[C.META_FILE] = {b"label_names": [n.encode() for n in C.CLASSES],
                           b"num_cases_per_batch": len(chunks[0]), b"num_vis": 3072}
    hidden = {C.HIDDEN_FILE: make_batch(tdata[hid_idx], tlabels[hid_idx], [tfiles[j] for j in hid_idx],
                                    "hidden evaluation batch")}
    return public, hidden


def _write_batch(path, obj):
    """The one place that writes an output file (tests make it fail to simulate an interruption)."""
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)


def _stage(batches, final_dir, mode):
    """Write every batch into a new temporary sibling of final_dir; return that folder."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", dir=final_dir.parent))
    try:
        for name, obj in batches.items():
            _write_batch(tmp / name, obj)
            os.chmod(tmp / name, mode & 0o666)
        os.chmod(tmp, mode)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _swap_in(pairs):
    """Rename each staged folder onto its final name; on any failure put the old ones back."""
    done = []  # (final, backup or None) of the folders already replaced
    try:
        for tmp, final in pairs:
            backup = final.with_name(f".{final.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            if final.exists():
                final.rename(backup)
                done.append((final, backup))
            else:
                done.append((final, None))
            tmp.rename(final)
    except BaseException:
        for final, backup in reversed(done):
            if backup is not None and backup.exists():
                shutil.rmtree(final, ignore_errors=True)
                backup.rename(final)
            elif backup is None:
                shutil.rmtree(final, ignore_errors=True)
        raise
    for _, backup in done:
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)


def read_manifest(manifest=C.DATA_MANIFEST):
    try:
        doc = json.loads(Path(manifest).read_text())
        if not all(isinstance(doc.get(k), dict) for k in ("public", "hidden")):
            raise ValueError("no 'public'/'hidden' digests")
        return doc
    except FileNotFoundError as exc:
        raise DataError(f"{manifest}: manifest not found") from exc
    except ValueError as exc:
        raise DataError(f"{manifest}: not a data manifest ({exc})") from exc


def _mismatches(record, expected, manifest):
    problems = []
    for group in ("public", "hidden"):
        for name in sorted(set(record[group]) | set(expected[group])):
            if record[group].get(name) != expected[group].get(name):
                problems.append(f"{group}/{name}")
    if not problems:
        return None
    why = ("the source differs from the one the manifest was made from"
           if record["source_sha256"] != expected.get("source_sha256") else "same source")
    return f"built data differs from {manifest} in {', '.join(problems)} ({why}); outputs left unchanged"


def build(source=None, out_dir=C.DATA_DIR, hidden_dir=C.HIDDEN_DIR, manifest=C.DATA_MANIFEST,
          write_manifest=False, strict=False, public_test_per_class=C.PUBLIC_TEST_PER_CLASS):
    """Build both folders from the source; returns the manifest record. Nothing is replaced unless
    both were written completely and, with strict, every SHA-256 matches the manifest's."""
    out_dir, hidden_dir = Path(out_dir), Path(hidden_dir)
    source = find_source(source)
    public, hidden = make_batches(read_source(source), public_test_per_class, str(source))
    expected = read_manifest(manifest) if strict else None
    staged = []
    try:
        staged.append((_stage(public, out_dir, 0o755), out_dir))
        staged.append((_stage(hidden, hidden_dir, 0o700), hidden_dir))  # root-only: probes can't read
        record = {"source_sha256": source_digest(source),
                  "public": {n: sha256_file(staged[0][0] / n) for n in public},
                  "hidden": {n: sha256_file(staged[1][0] / n) for n in hidden}}
        if strict:
            problem = _mismatches(record, expected, manifest)
            if problem:
                raise DataError(problem)
        _swap_in(staged)
    finally:
        for tmp, _ in staged:
            shutil.rmtree(tmp, ignore_errors=True)
    if write_manifest:
        write_text(manifest, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def verify(out_dir=C.DATA_DIR, hidden_dir=C.HIDDEN_DIR, manifest=C.DATA_MANIFEST, hidden=True):
    """List of problems (empty when every output matches the checked-in manifest)."""
    expected = read_manifest(manifest)
    problems = []
    groups = [("public", Path(out_dir))] + ([("hidden", Path(hidden_dir))] if hidden else [])
    for group, folder in groups:
        for name, digest in expected[group].items():
            path = folder / name
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif sha256_file(path) != digest:
                problems.append(f"{path}: SHA-256 differs from {manifest}")
    return problems


def load_batch(path, manifest=C.DATA_MANIFEST):
    """One output file's dict, refused unless its SHA-256 is the manifest's (no stale or edited file)."""
    path = Path(path)
    expected = read_manifest(manifest)
    digest = expected["public"].get(path.name) or expected["hidden"].get(path.name)
    if digest is None:
        raise DataError(f"{path}: {path.name} is not an output listed in {manifest}")
    if not path.is_file():
        raise DataError(f"{path}: missing (run python3 dev.py setup)")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != digest:
        raise DataError(f"{path}: SHA-256 differs from {manifest}; rebuild with "
                        f"python -m reference.build_data")
    return unpickle(raw)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="build_data", description=__doc__.splitlines()[0])
    ap.add_argument("--source", help=f"image folder, its .tar.gz, or the official archive "
                                     f"(default: ${C.SOURCE_ENV}, then {C.DEFAULT_SOURCES[0]})")
    ap.add_argument("--out", default=C.DATA_DIR, type=Path)
    ap.add_argument("--hidden-out", default=C.HIDDEN_DIR, type=Path)
    ap.add_argument("--manifest", default=C.DATA_MANIFEST, type=Path)
    ap.add_argument("--check", action="store_true",
                    help="only verify the outputs against the manifest; build when they differ")
    ap.add_argument("--write-manifest", action="store_true",
                    help="record this build's digests as the truth (instructors only)")
    args = ap.parse_args(argv)
    try:
        if args.check and not verify(args.out, args.hidden_out, args.manifest):
            print(f"data up to date in {args.out} and {args.hidden_out}")
            return 0
        record = build(args.source, args.out, args.hidden_out, args.manifest,
                       write_manifest=args.write_manifest, strict=not args.write_manifest)
    except (DataError, OSError) as exc:
        # One line, whatever the underlying library put in its message.
        print(f"build_data: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(f"built {len(record['public'])} public files in {args.out}, hidden batch in {args.hidden_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
