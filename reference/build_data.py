"""Build the MP's data: 8-class CIFAR-10 batches in the CIFAR-10 python pickle format.

    python -m reference.build_data [--source PATH] [--out DIR] [--hidden-out DIR] [--check]

Source, in this order: --source, $MP09_CIFAR_SOURCE, the shared image-folder archive, a local
official ``cifar-10-python.tar.gz``, and last a download of the official archive. A source is
an image-folder tree (``train/<class>/*.jpg|png``, ``test/<class>/...``), a .tar.gz of one, or
the official python archive (checked against its published MD5).

Outputs are written to a temporary folder and renamed into place only when complete; the
manifest (reference/data_manifest.json) records the SHA-256 of every output and of the source.
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
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mpconfig as C  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PICKLE_PROTOCOL = 4  # compact for numpy arrays; loads with pickle.load(f, encoding="bytes")


class DataError(Exception):
    """A source or output problem, with the file and what is wrong in the message."""


# --- hashing -----------------------------------------------------------------------------
def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(root):
    """SHA-256 over the sorted relative paths and contents of an image-folder tree."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(sha256_file(p).encode())
    return h.hexdigest()


# --- reading sources (10-class, CIFAR-10 label order) --------------------------------------
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
            raise DataError(f"{origin}: no {split}/<class>/ images found")
        items.sort(key=lambda t: (t[0], t[2]))
        data = np.stack([_decode(read(), f"{origin}:{rel}") for _, _, rel, read in items])
        out[split] = (data, np.array([t[0] for t in items], dtype=np.int64), [t[1] for t in items])
    return out


def _read_official(tf, origin):
    def load(name):
        member = f"cifar-10-batches-py/{name}"
        try:
            return pickle.load(tf.extractfile(member), encoding="bytes")
        except KeyError as exc:
            raise DataError(f"{origin}: official archive lacks {member}") from exc
    out = {}
    for split, names in (("train", C.TRAIN_FILES), ("test", (C.TEST_FILE,))):
        batches = [load(n) for n in names]
        data = np.concatenate([b[b"data"] for b in batches]).astype(np.uint8)
        labels = np.concatenate([np.asarray(b[b"labels"]) for b in batches]).astype(np.int64)
        files = [f.decode() for b in batches for f in b[b"filenames"]]
        out[split] = (data, labels, files)
    return out


def read_source(path):
    """Read a source into {'train'|'test': (uint8 (N, 3072), int64 labels 0..9, filenames)}."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: source not found")
    if path.is_dir():
        files = [p for p in sorted(path.rglob("*")) if p.is_file()]
        return _collect(((p.relative_to(path).as_posix(), p.read_bytes) for p in files), str(path))
    try:
        with tarfile.open(path, "r:*") as tf:
            names = tf.getnames()
            if "cifar-10-batches-py/data_batch_1" in names:
                digest = md5_file(path)
                if digest != C.OFFICIAL_ARCHIVE_MD5:
                    raise DataError(f"{path}: MD5 {digest} does not match the official CIFAR-10 "
                                    f"archive's {C.OFFICIAL_ARCHIVE_MD5}; refusing it")
                return _read_official(tf, str(path))
            members = [m for m in tf.getmembers() if m.isfile()]
            entries = []
            for m in members:
                entries.append((m.name, (lambda m=m: tf.extractfile(m).read())))
            return _collect(entries, str(path))
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: damaged or not a tar.gz archive ({exc})") from exc


def download_official(dest):
    """Fetch the official archive (verified by MD5 in read_source). Network permitting."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    print(f"downloading {C.OFFICIAL_ARCHIVE_URL} -> {dest}", file=sys.stderr)
    try:
        with urllib.request.urlopen(C.OFFICIAL_ARCHIVE_URL, timeout=60) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"no local CIFAR-10 source and the download failed: {exc}") from exc
    if md5_file(tmp) != C.OFFICIAL_ARCHIVE_MD5:
        tmp.unlink()
        raise DataError(f"downloaded {C.OFFICIAL_ARCHIVE_URL} has the wrong MD5; refusing it")
    tmp.replace(dest)
    return dest


def find_source(explicit=None):
    """The source path to build from, in the documented order of preference."""
    if explicit:
        return Path(explicit)
    if os.environ.get(C.SOURCE_ENV):
        return Path(os.environ[C.SOURCE_ENV])
    for candidate in C.DEFAULT_SOURCES:
        if candidate.exists():
            return candidate
    return download_official(C.DEFAULT_SOURCES[-1])


def source_digest(path):
    path = Path(path)
    return sha256_tree(path) if path.is_dir() else sha256_file(path)


# --- building -----------------------------------------------------------------------------
def to_eight_classes(data, labels10, files):
    """Drop cat and dog; relabel to the MP's 0..7 order."""
    remap = np.full(len(C.CIFAR10_CLASSES), -1)
    for new, name in enumerate(C.CLASSES):
        remap[C.CIFAR10_CLASSES.index(name)] = new
    labels = remap[labels10]
    keep = np.flatnonzero(labels >= 0)
    return data[keep], labels[keep], [files[i] for i in keep]


def _batch(data, labels, files, label):
    return {b"batch_label": label.encode(), b"labels": [int(x) for x in labels],
            b"data": np.ascontiguousarray(data, dtype=np.uint8),
            b"filenames": [f.encode() for f in files]}


def make_batches(src):
    """{relative output name: batch dict} for the public folder and the hidden folder."""
    rng = np.random.default_rng(C.SPLIT_SEED)
    data, labels, files = to_eight_classes(*src["train"])
    order = rng.permutation(len(labels))
    chunks = np.array_split(order, len(C.TRAIN_FILES))
    public = {}
    for i, (name, idx) in enumerate(zip(C.TRAIN_FILES, chunks), 1):
        public[name] = _batch(data[idx], labels[idx], [files[j] for j in idx],
                              f"training batch {i} of {len(C.TRAIN_FILES)}")
    tdata, tlabels, tfiles = to_eight_classes(*src["test"])
    pub_idx, hid_idx = [], []
    for c in range(C.NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(tlabels == c))
        pub_idx += list(members[:C.PUBLIC_TEST_PER_CLASS])
        hid_idx += list(members[C.PUBLIC_TEST_PER_CLASS:])
    pub_idx, hid_idx = rng.permutation(pub_idx), rng.permutation(hid_idx)
    public[C.TEST_FILE] = _batch(tdata[pub_idx], tlabels[pub_idx], [tfiles[j] for j in pub_idx],
                                 "testing batch 1 of 1")
    public[C.META_FILE] = {b"label_names": [n.encode() for n in C.CLASSES],
                           b"num_cases_per_batch": len(chunks[0]), b"num_vis": 3072}
    hidden = {C.HIDDEN_FILE: _batch(tdata[hid_idx], tlabels[hid_idx], [tfiles[j] for j in hid_idx],
                                    "hidden evaluation batch")}
    return public, hidden


def _write_dir(batches, final_dir, mode):
    """Write every batch into a temporary sibling folder, then swap it in whole."""
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", dir=final_dir.parent))
    try:
        for name, obj in batches.items():
            with open(tmp / name, "wb") as f:
                pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)
            os.chmod(tmp / name, mode & 0o666)
        os.chmod(tmp, mode)
        old = final_dir.with_name(f".{final_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if final_dir.exists():
            final_dir.rename(old)
        tmp.rename(final_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: sha256_file(final_dir / name) for name in batches}


def build(source=None, out_dir=C.DATA_DIR, hidden_dir=C.HIDDEN_DIR, manifest=C.DATA_MANIFEST,
          write_manifest=False):
    """Build both folders from the source. Returns the manifest dict."""
    source = find_source(source)
    batches, hidden = make_batches(read_source(source))
    record = {"source_sha256": source_digest(source),
              "public": _write_dir(batches, out_dir, 0o755),
              "hidden": _write_dir(hidden, hidden_dir, 0o700)}  # root-only: probes cannot read it
    if write_manifest:
        Path(manifest).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def verify(out_dir=C.DATA_DIR, hidden_dir=C.HIDDEN_DIR, manifest=C.DATA_MANIFEST, hidden=True):
    """List of problems (empty when every output matches the checked-in manifest)."""
    expected = json.loads(Path(manifest).read_text())
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", help=f"image folder, its .tar.gz, or the official archive "
                                     f"(default: ${C.SOURCE_ENV}, then {C.DEFAULT_SOURCES[0]})")
    ap.add_argument("--out", default=C.DATA_DIR, type=Path)
    ap.add_argument("--hidden-out", default=C.HIDDEN_DIR, type=Path)
    ap.add_argument("--check", action="store_true",
                    help="only verify the outputs against the manifest; build when they differ")
    ap.add_argument("--write-manifest", action="store_true",
                    help="record this build's digests as the truth (instructors only)")
    args = ap.parse_args(argv)
    try:
        if args.check and not verify(args.out, args.hidden_out):
            print(f"data up to date in {args.out} and {args.hidden_out}")
            return 0
        record = build(args.source, args.out, args.hidden_out, write_manifest=args.write_manifest)
        if not args.write_manifest:
            problems = verify(args.out, args.hidden_out)
            if problems:
                raise DataError("built data does not match the manifest:\n  " + "\n  ".join(problems))
    except DataError as exc:
        print(f"build_data: error: {exc}", file=sys.stderr)
        return 1
    print(f"built {len(record['public'])} public files in {args.out}, hidden batch in {args.hidden_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
