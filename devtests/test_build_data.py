"""reference/build_data.py: sources, output format, determinism, bad input, atomic writes.

Small synthetic sources are written by the tests; the real data already built in
cifar10_batches/ and hidden_data/ is checked in place (one full real build is marked slow).
"""
import io
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import mpconfig as C
from grader.probes.cifar_batch import read_batch, rows_and_labels, unpickle
from reference import build_data as B

PER_CLASS_TEST = 2  # public test images per class in the synthetic builds (the 3rd is hidden)


# --- helpers ---------------------------------------------------------------------------------
def png_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def write_tree(root, seed=0, n_train=4, n_test=3, classes=C.CIFAR10_CLASSES):
    """An image-folder source: train/<class>/<i>.png and test/<class>/<i>.png, random pixels."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for cls in classes:
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                (folder / f"{i:04d}.png").write_bytes(png_bytes(arr))
    return root


def tar_tree(root, dest, reverse=False):
    """A .tar.gz of the tree under a top folder, members added in sorted or reversed order."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    with tarfile.open(dest, "w:gz") as tf:
        for p in reversed(files) if reverse else files:
            tf.add(p, arcname=f"images/{p.relative_to(root).as_posix()}")
    return dest


def add_bytes(tf, name, raw):
    info = tarfile.TarInfo(name)
    info.size = len(raw)
    tf.addfile(info, io.BytesIO(raw))


def fake_official(dest, seed=0, per_class=3):
    """An archive in the official cifar-10-python layout (but not the official bytes)."""
    rng = np.random.default_rng(seed)

    def batch(n):
        labels = [c for c in range(10) for _ in range(n)]
        return {b"batch_label": b"fake", b"labels": labels,
                b"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8),
                b"filenames": [f"img{i}.png".encode() for i in range(len(labels))]}
    batches = {name: batch(per_class) for name in C.TRAIN_FILES + (C.TEST_FILE,)}
    with tarfile.open(dest, "w:gz") as tf:
        info = tarfile.TarInfo(B.OFFICIAL_DIR)
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
        for name, obj in batches.items():
            add_bytes(tf, f"{B.OFFICIAL_DIR}/{name}", pickle.dumps(obj))
        add_bytes(tf, f"{B.OFFICIAL_DIR}/batches.meta",
                  pickle.dumps({b"label_names": [c.encode() for c in C.CIFAR10_CLASSES]}))
    return batches


def folder_bytes(*folders):
    return {(f.name, p.name): p.read_bytes() for f in folders for p in sorted(f.iterdir())}


def synth_build(src, tmp, **kw):
    out, hid = tmp / "cifar10_batches", tmp / "hidden_data"
    record = B.build(src, out, hid, manifest=tmp / "manifest.json",
                     public_test_per_class=PER_CLASS_TEST, **kw)
    return out, hid, record


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("src") / "images")


# --- synthetic builds ----------------------------------------------------------------------------
def test_two_builds_from_same_source_are_byte_identical(tree, tmp_path):
    out1, hid1, rec1 = synth_build(tree, tmp_path / "a", write_manifest=True)
    out2, hid2, rec2 = synth_build(tree, tmp_path / "b")
    assert rec1 == rec2
    assert folder_bytes(out1, hid1) == folder_bytes(out2, hid2)
    assert sorted(p.name for p in out1.iterdir()) == sorted(C.TRAIN_FILES + (C.TEST_FILE, C.META_FILE))
    # Its own manifest verifies it; a changed byte is reported by file.
    manifest = tmp_path / "a" / "manifest.json"
    assert B.verify(out1, hid1, manifest) == []
    victim = out2 / "data_batch_3"
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 1
    victim.write_bytes(bytes(raw))
    assert B.verify(out2, hid2, manifest) == [f"{victim}: SHA-256 differs from {manifest}"]
    (hid2 / C.HIDDEN_FILE).unlink()
    assert f"{hid2 / C.HIDDEN_FILE}: missing" in B.verify(out2, hid2, manifest)


def test_tar_gz_of_the_tree_builds_the_same_data_whatever_the_member_order(tree, tmp_path):
    _, _, rec_dir = synth_build(tree, tmp_path / "dir")
    for reverse in (False, True):
        archive = tar_tree(tree, tmp_path / f"src{reverse}.tar.gz", reverse=reverse)
        _, _, rec_tar = synth_build(archive, tmp_path / f"tar{reverse}")
        assert (rec_tar["public"], rec_tar["hidden"]) == (rec_dir["public"], rec_dir["hidden"])
        assert rec_tar["source_sha256"] == B.sha256_file(archive) != rec_dir["source_sha256"]


def test_synthetic_build_content_and_layout(tree, tmp_path):
    out, hid, _ = synth_build(tree, tmp_path)
    train = [unpickle(out / n) for n in C.TRAIN_FILES]
    test, hidden = unpickle(out / C.TEST_FILE), unpickle(hid / C.HIDDEN_FILE)
    # Every image equals its PNG, stored R plane, then G, then B; cat and dog are gone.
    for split, batches in (("train", train), ("test", [test, hidden])):
        for b in batches:
            for row, label, fname in zip(b[b"data"], b[b"labels"], b[b"filenames"]):
                cls, name = fname.decode().split("_", 1)
                assert C.CLASSES[label] == cls
                arr = np.asarray(Image.open(tree / split / cls / name))
                assert np.array_equal(row[:1024].reshape(32, 32), arr[:, :, 0])
                assert np.array_equal(row[1024:2048].reshape(32, 32), arr[:, :, 1])
                assert np.array_equal(row[2048:].reshape(32, 32), arr[:, :, 2])
    assert sum(len(b[b"labels"]) for b in train) == 4 * C.NUM_CLASSES
    assert np.bincount(test[b"labels"]).tolist() == [PER_CLASS_TEST] * C.NUM_CLASSES
    assert np.bincount(hidden[b"labels"]).tolist() == [1] * C.NUM_CLASSES
    assert not set(test[b"filenames"]) & set(hidden[b"filenames"])
    assert (hid.stat().st_mode & 0o777, (hid / C.HIDDEN_FILE).stat().st_mode & 0o777) == (0o700, 0o600)
    assert (out / C.TEST_FILE).stat().st_mode & 0o777 == 0o644


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.uint8, (32, 32, 3)))
def test_decode_stores_r_then_g_then_b_planes(arr):
    row = B._decode(png_bytes(arr), "x.png")
    assert row.dtype == np.uint8 and row.shape == (3072,)
    assert np.array_equal(row.reshape(3, 32, 32), arr.transpose(2, 0, 1))


@given(st.lists(st.integers(0, 9), max_size=50))
def test_to_eight_classes_drops_cat_and_dog_and_keeps_names(labels10):
    labels10 = np.array(labels10, dtype=np.int64)
    data = np.arange(len(labels10))[:, None]
    files = [f"f{i}" for i in range(len(labels10))]
    d, labels, f = B.to_eight_classes(data, labels10, files)
    kept = [i for i, y in enumerate(labels10) if C.CIFAR10_CLASSES[y] in C.CLASSES]
    assert d[:, 0].tolist() == kept and f == [files[i] for i in kept]
    assert [C.CLASSES[y] for y in labels] == [C.CIFAR10_CLASSES[labels10[i]] for i in kept]


# --- bad input --------------------------------------------------------------------------------
def _truncated(tmp, tree):
    raw = tar_tree(tree, tmp / "full.tar.gz").read_bytes()
    (tmp / "cut.tar.gz").write_bytes(raw[: len(raw) // 2])
    return tmp / "cut.tar.gz", "cut.tar.gz: damaged or not a tar.gz archive"


def _random_bytes(tmp, tree):
    (tmp / "noise.tar.gz").write_bytes(np.random.default_rng(0).bytes(5000))
    return tmp / "noise.tar.gz", "noise.tar.gz: damaged or not a tar.gz archive"


def _wrong_archive(tmp, tree):
    with tarfile.open(tmp / "other.tar.gz", "w:gz") as tf:
        add_bytes(tf, "project/README.txt", b"hello")
        add_bytes(tf, "project/logo.png", png_bytes(np.zeros((32, 32, 3), np.uint8)))
    return tmp / "other.tar.gz", "other.tar.gz: not a CIFAR-10 source: no train/<class>/ images"


def _wrong_md5(tmp, tree):
    fake_official(tmp / "cifar-10-python.tar.gz")
    return tmp / "cifar-10-python.tar.gz", (f"does not match the official CIFAR-10 archive's "
                                            f"{C.OFFICIAL_ARCHIVE_MD5}; refusing it")


def _missing(tmp, tree):
    return tmp / "nowhere", "nowhere: source not found"


def _copy_tree_plus(tmp, tree, rel, raw):
    src = tmp / "src"
    for p in tree.rglob("*.png"):
        dest = src / p.relative_to(tree)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    (src / rel).parent.mkdir(parents=True, exist_ok=True)
    (src / rel).write_bytes(raw)
    return src


def _unknown_class(tmp, tree):
    src = _copy_tree_plus(tmp, tree, "train/zebra/0000.png", png_bytes(np.zeros((32, 32, 3), np.uint8)))
    return src, "unknown class folder 'zebra' at train/zebra/0000.png"


def _wrong_size(tmp, tree):
    src = _copy_tree_plus(tmp, tree, "test/ship/big.png", png_bytes(np.zeros((40, 32, 3), np.uint8)))
    return src, "test/ship/big.png: image is 32x40, expected 32x32"


def _unreadable(tmp, tree):
    src = _copy_tree_plus(tmp, tree, "train/frog/bad.jpg", b"\xff\xd8 this is not a JPEG")
    return src, "train/frog/bad.jpg: not a readable image"


def _too_few_test(tmp, tree):
    src = tmp / "src"
    write_tree(src, n_test=PER_CLASS_TEST)  # nothing left over for the hidden set
    return src, "test split has too few images of airplane (2), automobile (2)"


BAD_SOURCES = [_missing, _truncated, _random_bytes, _wrong_archive, _wrong_md5,
               _unknown_class, _wrong_size, _unreadable, _too_few_test]


@pytest.mark.parametrize("make", BAD_SOURCES, ids=lambda f: f.__name__.strip("_"))
def test_bad_source_is_refused_with_a_clear_error_and_nothing_written(make, tree, tmp_path):
    (tmp_path / "in").mkdir()
    src, expected = make(tmp_path / "in", tree)
    with pytest.raises(B.DataError) as err:
        synth_build(src, tmp_path / "out")
    assert str(err.value).startswith(str(src)) and expected in str(err.value)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("make", [_missing, _truncated, _unknown_class], ids=lambda f: f.__name__.strip("_"))
def test_cli_reports_bad_source_in_one_line_and_exits_1(make, tree, tmp_path):
    (tmp_path / "in").mkdir()
    src, expected = make(tmp_path / "in", tree)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "reference.build_data", "--source", str(src),
                           "--out", str(out / "pub"), "--hidden-out", str(out / "hid")],
                          cwd=C.ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("build_data: error: "), proc.stderr
    assert expected in lines[0] and not out.exists()


def test_cli_refuses_a_build_that_differs_from_the_manifest(tree, tmp_path):
    """A valid source whose outputs are not the graded data: exit 1, old outputs untouched."""
    src = tmp_path / "src"
    write_tree(src, n_test=C.PUBLIC_TEST_PER_CLASS + 1, n_train=1, classes=C.CLASSES)
    pub, hid = tmp_path / "pub", tmp_path / "hid"
    pub.mkdir()
    (pub / "keep").write_text("previous")
    proc = subprocess.run([sys.executable, "-m", "reference.build_data", "--source", str(src),
                           "--out", str(pub), "--hidden-out", str(hid)],
                          cwd=C.ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "built data differs from" in proc.stderr and "source differs" in proc.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name not in {"src", "pub"}] == []
    assert [p.name for p in pub.iterdir()] == ["keep"]


# --- interrupted builds ----------------------------------------------------------------------------
@pytest.mark.parametrize("fail_after", [1, len(C.TRAIN_FILES) + 2], ids=["public", "hidden"])
def test_interrupted_build_keeps_previous_outputs_and_leaves_no_temp(fail_after, tree, tmp_path,
                                                                     monkeypatch):
    out, hid, _ = synth_build(tree, tmp_path)
    before = folder_bytes(out, hid)
    other = write_tree(tmp_path.parent / f"{tmp_path.name}_other", seed=1)
    real, calls = B._write_batch, []

    def flaky(path, obj):
        if len(calls) == fail_after:
            raise OSError(28, "No space left on device")
        calls.append(path)
        real(path, obj)
    monkeypatch.setattr(B, "_write_batch", flaky)
    with pytest.raises(OSError, match="No space left"):
        synth_build(other, tmp_path)
    assert folder_bytes(out, hid) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10_batches", "hidden_data"]


def test_failed_swap_puts_both_previous_folders_back(tree, tmp_path, monkeypatch):
    out, hid, _ = synth_build(tree, tmp_path)
    before = folder_bytes(out, hid)
    other = write_tree(tmp_path.parent / f"{tmp_path.name}_other", seed=1)
    real, calls = type(out).rename, []

    def rename(self, target):
        calls.append(self)
        if len(calls) == 4:  # out->backup, staged->out, hid->backup, then staged->hid fails
            raise OSError("simulated crash while swapping")
        return real(self, target)
    monkeypatch.setattr(type(out), "rename", rename)
    with pytest.raises(OSError, match="simulated crash"):
        synth_build(other, tmp_path)
    monkeypatch.undo()
    assert folder_bytes(out, hid) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10_batches", "hidden_data"]


def test_strict_build_refuses_outputs_that_differ_from_the_manifest(tree, tmp_path):
    out, hid, _ = synth_build(tree, tmp_path, write_manifest=True)
    before = folder_bytes(out, hid)
    other = write_tree(tmp_path.parent / f"{tmp_path.name}_other", seed=1)
    with pytest.raises(B.DataError, match=r"differs from .*manifest.json in public/data_batch_1, "
                                          r".*hidden/eval_batch \(the source differs"):
        synth_build(other, tmp_path, strict=True)
    assert folder_bytes(out, hid) == before


# --- official archive and its download ---------------------------------------------------------
def test_official_archive_is_read_when_its_md5_is_the_expected_one(tmp_path):
    batches = fake_official(tmp_path / "cifar-10-python.tar.gz")
    src = B.read_source(tmp_path / "cifar-10-python.tar.gz", md5=B.md5_file(tmp_path / "cifar-10-python.tar.gz"))
    train = [batches[n] for n in C.TRAIN_FILES]
    assert np.array_equal(src["train"][0], np.concatenate([b[b"data"] for b in train]))
    assert src["train"][1].tolist() == [y for b in train for y in b[b"labels"]]
    assert np.array_equal(src["test"][0], batches[C.TEST_FILE][b"data"])
    public, hidden = B.make_batches(src, public_test_per_class=PER_CLASS_TEST)
    assert len(hidden[C.HIDDEN_FILE][b"labels"]) == C.NUM_CLASSES


def test_download_through_file_url_with_injected_md5(tmp_path, monkeypatch):
    fake = tmp_path / "served.tar.gz"
    fake_official(fake)
    md5 = B.md5_file(fake)
    dest = tmp_path / "downloads" / "cifar-10-python.tar.gz"
    monkeypatch.delenv(C.SOURCE_ENV, raising=False)
    monkeypatch.setattr(C, "DEFAULT_SOURCES", (tmp_path / "no-shared.tar.gz", dest))
    # Nothing local: find_source downloads to the last default, keeping only the verified file.
    assert B.find_source(url=fake.as_uri(), md5=md5) == dest
    assert dest.read_bytes() == fake.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]
    # Found locally now: no second download.
    assert B.find_source(url=(tmp_path / "gone").as_uri(), md5=md5) == dest


def test_download_with_wrong_md5_is_refused_and_leaves_nothing(tmp_path):
    fake = tmp_path / "served.tar.gz"
    fake_official(fake)
    dest = tmp_path / "downloads" / "cifar-10-python.tar.gz"
    with pytest.raises(B.DataError) as err:
        B.download_official(dest, url=fake.as_uri())  # the published MD5 is expected
    assert f"{fake.as_uri()}: downloaded file has MD5 {B.md5_file(fake)}, not the published " \
           f"{C.OFFICIAL_ARCHIVE_MD5}; refusing it" == str(err.value)
    assert list(dest.parent.iterdir()) == []


def test_failed_download_is_a_clear_error_and_leaves_nothing(tmp_path):
    dest = tmp_path / "downloads" / "cifar-10-python.tar.gz"

    def opener(url, timeout):
        class Broken(io.BytesIO):
            def read(self, *a):
                raise ConnectionResetError("connection reset by peer")
        return Broken()
    with pytest.raises(B.DataError, match="downloading https://example.invalid/x.tar.gz failed: "
                                          "connection reset"):
        B.download_official(dest, url="https://example.invalid/x.tar.gz", opener=opener)
    assert list(dest.parent.iterdir()) == []


def test_source_order_is_explicit_then_env_then_defaults(tmp_path, monkeypatch):
    shared, official = tmp_path / "shared.tar.gz", tmp_path / "official.tar.gz"
    monkeypatch.setattr(C, "DEFAULT_SOURCES", (shared, official))
    monkeypatch.setenv(C.SOURCE_ENV, str(tmp_path / "env"))
    assert B.find_source(tmp_path / "explicit") == tmp_path / "explicit"
    assert B.find_source() == tmp_path / "env"
    monkeypatch.delenv(C.SOURCE_ENV)
    official.write_bytes(b"x")
    assert B.find_source() == official
    shared.write_bytes(b"x")
    assert B.find_source() == shared


# --- the real data, as built in the repo ------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    batches = {n: unpickle(C.DATA_DIR / n) for n in C.TRAIN_FILES + (C.TEST_FILE, C.META_FILE)}
    batches[C.HIDDEN_FILE] = unpickle(C.HIDDEN_DIR / C.HIDDEN_FILE)
    return batches


def real_source():
    """The image-folder archive the manifest was built from, or skip (CI always has it)."""
    src = Path(os.environ.get(C.SOURCE_ENV) or C.DEFAULT_SOURCES[0])
    if not src.is_file() or B.sha256_file(src) != B.read_manifest()["source_sha256"]:
        pytest.skip(f"{src}: not the source archive recorded in {C.DATA_MANIFEST}")
    return src


def test_real_build_matches_the_checked_in_manifest():
    assert B.verify() == []


def test_load_batch_checks_the_manifest(tmp_path):
    assert len(B.load_batch(C.DATA_DIR / C.TEST_FILE)[b"labels"]) == 4000
    copy = tmp_path / C.TEST_FILE
    raw = bytearray((C.DATA_DIR / C.TEST_FILE).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(B.DataError, match=f"{copy}: SHA-256 differs from"):
        B.load_batch(copy)
    with pytest.raises(B.DataError, match="is not an output listed in"):
        B.load_batch(tmp_path / "data_batch_9")


def test_real_batches_have_the_cifar_format(real):
    for name in C.TRAIN_FILES + (C.TEST_FILE, C.HIDDEN_FILE):
        b = real[name]
        assert set(b) == {b"batch_label", b"labels", b"data", b"filenames"}
        assert isinstance(b[b"batch_label"], bytes)
        # The original MP's layout: a list of N uint8 rows of 3072 values, a list of N ints.
        assert type(b[b"data"]) is list and type(b[b"labels"]) is list
        assert len(b[b"data"]) == len(b[b"labels"]) == len(b[b"filenames"])
        assert all(type(r) is np.ndarray and r.dtype == np.uint8 and r.shape == (3072,)
                   for r in b[b"data"])
        assert np.array(b[b"data"]).shape == (len(b[b"labels"]), 3072)
        assert all(type(y) is int and 0 <= y < C.NUM_CLASSES for y in b[b"labels"])
        assert all(isinstance(f, bytes) for f in b[b"filenames"])
        # The label is the class the file came from.
        assert all(f.decode().split("_")[0] == C.CLASSES[y] for f, y in zip(b[b"filenames"], b[b"labels"]))
    assert real[C.META_FILE] == {b"label_names": [c.encode() for c in C.CLASSES],
                                 b"num_cases_per_batch": 8000, b"num_vis": 3072}


def test_real_batches_work_with_the_usual_idioms_of_list_and_array_code(real):
    """Real submissions extend a list with each batch's b'data' (self.data += ...), which fails
    on an ndarray (numpy's reflected add); code written for an array keeps working through
    np.array, np.concatenate or np.vstack."""
    first, second = real[C.TRAIN_FILES[0]], real[C.TRAIN_FILES[1]]
    data, labels = [], []
    data += first[b"data"]
    data += second[b"data"]
    labels += first[b"labels"]
    labels += second[b"labels"]
    assert len(data) == len(labels) == 16000
    stacked = np.concatenate([first[b"data"], second[b"data"]])
    assert stacked.shape == (16000, 3072) and stacked.dtype == np.uint8
    assert np.array_equal(np.vstack([first[b"data"], second[b"data"]]), stacked)
    assert np.array_equal(np.array(data), stacked)
    assert np.array_equal(data[8000].reshape(3, 32, 32).transpose(1, 2, 0),
                          stacked[8000].reshape(3, 32, 32).transpose(1, 2, 0))
    rows, ys = read_batch(C.DATA_DIR / C.TRAIN_FILES[1])
    assert np.array_equal(rows, stacked[8000:]) and ys.tolist() == labels[8000:]


def test_rows_and_labels_names_a_batch_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"bad: b'data' stacks to \(2, 3071\) with \(2,\) labels"):
        rows_and_labels({b"data": [np.zeros(3071, np.uint8)] * 2, b"labels": [0, 1]}, "bad")
    with pytest.raises(ValueError, match=r"bad: .* with \(3,\) labels"):
        rows_and_labels({b"data": [np.zeros(3072, np.uint8)] * 2, b"labels": [0, 1, 2]}, "bad")


def test_real_split_sizes_and_class_mix(real):
    per_batch = [np.bincount(real[n][b"labels"], minlength=8) for n in C.TRAIN_FILES]
    assert [c.sum() for c in per_batch] == [8000] * 5
    assert (sum(per_batch) == 5000).all()
    assert all(((c > 850) & (c < 1150)).all() for c in per_batch)  # shuffled, not grouped by class
    assert len({f for n in C.TRAIN_FILES for f in real[n][b"filenames"]}) == 40000
    for name in (C.TEST_FILE, C.HIDDEN_FILE):
        assert np.bincount(real[name][b"labels"]).tolist() == [C.PUBLIC_TEST_PER_CLASS] * 8
        assert np.bincount(real[name][b"labels"][:400], minlength=8).min() > 20  # mixed order


def test_real_test_sets_are_disjoint_halves_of_the_source_test_split_with_its_pixels(real):
    src = real_source()
    wanted = {}  # source member -> (batch name, row)
    for name in (C.TRAIN_FILES[0], C.TEST_FILE, C.HIDDEN_FILE):
        for row in (0, 1, 4321 % len(real[name][b"labels"])):
            cls, fname = real[name][b"filenames"][row].decode().split("_", 1)
            split = "train" if name in C.TRAIN_FILES else "test"
            wanted[f"{split}/{cls}/{fname}"] = (name, row)
    listing, found = {"train": set(), "test": set()}, {}
    with tarfile.open(src) as tf:
        for m in tf:
            parts = m.name.split("/")
            if m.isfile() and len(parts) >= 3 and parts[-3] in listing and parts[-2] in C.CLASSES:
                listing[parts[-3]].add(f"{parts[-2]}_{parts[-1]}".encode())
                key = "/".join(parts[-3:])
                if key in wanted:
                    found[key] = np.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB"))
    public, hidden = set(real[C.TEST_FILE][b"filenames"]), set(real[C.HIDDEN_FILE][b"filenames"])
    assert not public & hidden
    assert public | hidden == listing["test"]
    assert {f for n in C.TRAIN_FILES for f in real[n][b"filenames"]} == listing["train"]
    assert found.keys() == wanted.keys()
    for key, arr in found.items():
        name, row = wanted[key]
        data = real[name][b"data"][row]
        r, c = 7, 19  # one pixel, read by hand from the R, G and B planes
        assert [data[0 * 1024 + r * 32 + c], data[1 * 1024 + r * 32 + c],
                data[2 * 1024 + r * 32 + c]] == arr[r, c].tolist()
        assert np.array_equal(data.reshape(3, 32, 32).transpose(1, 2, 0), arr)


def test_hidden_folder_is_private():
    assert C.HIDDEN_DIR.stat().st_mode & 0o777 == 0o700
    assert (C.HIDDEN_DIR / C.HIDDEN_FILE).stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_full_real_build_reproduces_the_manifest(tmp_path):
    src = real_source()
    proc = subprocess.run([sys.executable, "-m", "reference.build_data", "--source", str(src),
                           "--out", str(tmp_path / "pub"), "--hidden-out", str(tmp_path / "hid")],
                          cwd=C.ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert B.verify(tmp_path / "pub", tmp_path / "hid") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hid", "pub"]
