"""Write the catalogue of graded-by-the-grader submissions, each derived from the reference.

    python -m grader.catalogue.derive            # (re)write grader/catalogue/<kind>/<name>/
    python -m grader.catalogue.derive --check    # exit 1 if a folder is stale (CI runs this)

Every entry is the reference solution with one change, written out in full so that it reads
like a real student's file: ``submitted.py``, ``description.txt`` (one line) and
``expected.json`` (what ``python -m grader validate`` demands of its grade):

- variants (correct, other style):  {"score": 100}                      (percent of max)
- mutants (one realistic bug):      {"must_fail": [test numbers], "must_fail_any": [...],
                                      "min_lost": points, "max_lost": points}
- hostile (attacks the grader):     {"max_points": p, "min_points": p, "times_out": bool,
                                      "output_has": [...], "output_lacks": [...]}

Why a generator rather than hand copies: when the reference changes, a hand copy silently
keeps the old code; here a recipe whose target text is gone fails loudly, and --check tells
CI that the folders are out of date.
"""
import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
import mpconfig as C  # noqa: E402

KINDS = ("variants", "mutants", "hostile")
IMPORTS_END = "from models import resnet18\n"


@dataclass
class Entry:
    kind: str
    name: str
    description: str
    expected: dict
    edits: list = field(default_factory=list)    # (old, new): old must occur exactly once

    def source(self, reference):
        text = reference
        for old, new in self.edits:
            count = text.count(old)
            if count != 1:
                raise SystemExit(f"catalogue {self.kind}/{self.name}: the text to change occurs "
                                 f"{count} times in {C.REFERENCE_SOLUTION} (needs exactly 1):\n{old}")
            text = text.replace(old, new)
        if text == reference:
            raise SystemExit(f"catalogue {self.kind}/{self.name}: no change to the reference")
        return text


def at_import(code):
    """Insert module-level code right after the submission's imports."""
    return (IMPORTS_END, IMPORTS_END + "\n" + code.strip("\n") + "\n")


def points(*numbers):
    return sum(C.TESTS[n][0] for n in numbers)


ALL = tuple(C.TESTS)
RUN_MODEL = ("7.1", "7.2", "7.3")          # the tests that need run_model's model
TOTAL = points(*ALL)

FREEZE = """        for param in self.backbone.parameters():
            param.requires_grad = False
"""
HEAD = "        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, 8)\n"
HEAD_COMMENT = """        # The pretrained fc predicts the 10 CIFAR-10 classes; ours are 8, so it gets replaced
        # by a new, trainable layer (512 features in, 8 logits out).
"""
TRAIN_CALL = "        train(train_dataloader, model, loss_fn, optimizer)\n"
RUN_MODEL_START = '    EPOCHS = 1\n'
TEST_LOOP = """    with torch.no_grad():
        for images, labels in test_dataloader:
            predictions = model(images).argmax(dim=1)
            correct += (predictions == labels).sum().item()
            total += len(labels)
"""
TEST_COUNT = """        predictions = outputs.argmax(dim=1)
        correct += (predictions == labels).sum().item()
        total += len(labels)
"""

ENTRIES = [
    # --- correct variants: must score 100 % -----------------------------------------------------
    Entry("variants", "head_on_fc", "keeps the frozen 10-way fc and learns a 10->8 head on top",
          {"score": 100}, [
              (HEAD_COMMENT + HEAD,
               "        # Keep the pretrained 10-way classifier (frozen with the rest) and learn a\n"
               "        # small map from its 10 scores to our 8 classes.\n"
               "        self.head = nn.Linear(10, 8)\n"),
              ("        return self.backbone(x)\n", "        return self.head(self.backbone(x))\n")]),
    Entry("variants", "sequential_backbone", "nn.Sequential of the backbone's children without fc, flatten, new Linear",
          {"score": 100}, [
              ("        self.backbone = resnet18(pretrained=True)\n" + FREEZE + HEAD_COMMENT + HEAD,
               "        resnet = resnet18(pretrained=True)\n"
               "        # Every layer but the last (fc): the output is the pooled 512 features.\n"
               "        self.features = nn.Sequential(*list(resnet.children())[:-1])\n"
               "        for param in self.features.parameters():\n"
               "            param.requires_grad = False\n"
               "        self.classifier = nn.Linear(512, 8)\n"),
              ("        return self.backbone(x)\n",
               "        x = self.features(x)\n"
               "        x = torch.flatten(x, 1)\n"
               "        return self.classifier(x)\n")]),
    Entry("variants", "sgd_optimizer", "run_model trains with SGD and momentum instead of Adam",
          {"score": 100}, [
              ('    OPTIMIZER = "Adam"\n    HPARAMS = {"lr": 1e-3}\n',
               '    OPTIMIZER = "SGD"\n    HPARAMS = {"lr": 0.05, "momentum": 0.9}\n')]),
    Entry("variants", "normalized_transforms", "CIFAR mean/std Normalize in both the train and the test transform",
          {"score": 100}, [
              ("def get_preprocess_transform(mode):\n",
               "CIFAR_MEAN = (0.4914, 0.4822, 0.4465)\nCIFAR_STD = (0.2470, 0.2435, 0.2616)\n\n\n"
               "def get_preprocess_transform(mode):\n"),
              ("        return transforms.Compose([transforms.ToTensor(), transforms.RandomHorizontalFlip()])\n",
               "        return transforms.Compose([transforms.ToTensor(), transforms.RandomHorizontalFlip(),\n"
               "                                   transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])\n"),
              ("        return transforms.ToTensor()\n",
               "        return transforms.Compose([transforms.ToTensor(),\n"
               "                                   transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])\n")]),
    Entry("variants", "tensor_dataset", "the Dataset stores torch tensors and returns 0-d tensor labels",
          {"score": 100}, [
              ("        self.images = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)\n"
               "        self.labels = labels\n",
               "        data = torch.from_numpy(np.concatenate(images))\n"
               "        self.images = data.reshape(-1, 3, 32, 32).permute(0, 2, 3, 1).contiguous()\n"
               "        self.labels = torch.tensor(labels)\n"),
              ("        image = self.images[idx]\n", "        image = self.images[idx].numpy()\n")]),
    Entry("variants", "eval_without_restore", "test() switches to eval mode and leaves the model there",
          {"score": 100}, [
              ("    # Testing must not change the model: remember its mode and restore it at the end.\n"
               "    was_training = model.training\n", ""),
              ("    model.train(was_training)\n", "")]),
    Entry("variants", "loader_extra_keys", "run_model passes num_workers and drop_last through loader_params",
          {"score": 100}, [
              ('{"batch_size": BATCH_SIZE, "shuffle": True}',
               '{"batch_size": BATCH_SIZE, "shuffle": True,\n'
               '                                                                  "num_workers": 2, "drop_last": True}')]),
    Entry("variants", "train_prints", "train() prints the loss every 50 batches",
          {"score": 100}, [
              ("    for images, labels in train_dataloader:\n"
               "        loss = loss_fn(model(images), labels)\n"
               "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n",
               "    for batch, (images, labels) in enumerate(train_dataloader):\n"
               "        loss = loss_fn(model(images), labels)\n"
               "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n"
               "        if batch % 50 == 0:\n"
               "            print(f\"batch {batch:4d}/{len(train_dataloader)}  loss {loss.item():.4f}\")\n")]),
    Entry("variants", "optimizer_all_params", "the optimizer gets model.parameters(), frozen ones included",
          {"score": 100}, [
              ("    optimizer = build_optimizer(OPTIMIZER, [p for p in model.parameters() if p.requires_grad], HPARAMS)\n",
               "    optimizer = build_optimizer(OPTIMIZER, model.parameters(), HPARAMS)\n")]),

    # --- mutants: one realistic bug each ------------------------------------------------------------
    Entry("mutants", "backbone_not_frozen", "forgets to freeze the backbone",
          {"must_fail": ["3.2", "3.4"], "min_lost": points("3.2", "3.4")},
          [("        self.backbone = resnet18(pretrained=True)\n" + FREEZE,
            "        self.backbone = resnet18(pretrained=True)\n")]),
    Entry("mutants", "head_frozen", "freezes after attaching the head, so nothing can learn",
          {"must_fail": ["3.2", "3.4", "7.3"], "min_lost": points("3.2", "3.4", "7.3")},
          [(FREEZE + HEAD_COMMENT + HEAD, HEAD_COMMENT + HEAD + FREEZE)]),
    Entry("mutants", "no_zero_grad", "train() never zeroes the gradients",
          {"must_fail": ["5.1"], "min_lost": points("5.1")},
          [("        optimizer.zero_grad()\n", "")]),
    Entry("mutants", "channels_wrong_order", "reshapes each row to (32, 32, 3): channels scrambled",
          {"must_fail": ["1.2"], "min_lost": points("1.2")},
          [(".reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)", ".reshape(-1, 32, 32, 3)")]),
    Entry("mutants", "labels_off_by_one", "treats the labels as 1-based and subtracts one",
          {"must_fail": ["1.2", "7.3"], "min_lost": points("1.2", "7.3")},
          [("            labels.extend(batch[b'labels'])\n",
            "            labels.extend(label - 1 for label in batch[b'labels'])\n")]),
    Entry("mutants", "accuracy_percentage", "test() returns a percentage instead of a fraction",
          {"must_fail": ["6.1"], "min_lost": points("6.1"), "max_lost": points("6.1")},
          [("    return correct / total\n", "    return 100 * correct / total\n")]),
    Entry("mutants", "test_trains", "test() takes optimizer steps on the test data",
          {"must_fail": ["6.2"], "min_lost": points("6.2")},
          [(TEST_LOOP,
            "    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)\n"
            "    for images, labels in test_dataloader:\n"
            "        outputs = model(images)\n"
            "        loss = nn.functional.cross_entropy(outputs, labels)\n"
            "        optimizer.zero_grad()\n"
            "        loss.backward()\n"
            "        optimizer.step()\n" + TEST_COUNT)]),
    Entry("mutants", "test_backward", "test() computes the test loss with backward(), leaving gradients behind",
          {"must_fail": ["6.2"], "min_lost": points("6.2")},
          [(TEST_LOOP,
            "    for images, labels in test_dataloader:\n"
            "        outputs = model(images)\n"
            "        loss = nn.functional.cross_entropy(outputs, labels)  # the test loss, for the log\n"
            "        loss.backward()\n" + TEST_COUNT)]),
    Entry("mutants", "test_train_mode", "test() never switches the model to eval mode",
          {"must_fail_any": ["6.1", "6.2"], "min_lost": min(points("6.1"), points("6.2"))},
          [("    was_training = model.training\n    model.eval()\n", ""),
           ("    model.train(was_training)\n", "")]),
    Entry("mutants", "only_first_file", "CIFAR10 loads only the first of its data files",
          {"must_fail": ["1.1"], "min_lost": points("1.1")},
          [("        for file in data_files:\n", "        for file in data_files[:1]:\n")]),
    Entry("mutants", "shuffle_ignored", "build_dataloader ignores shuffle",
          {"must_fail": ["2.1"], "min_lost": points("2.1")},
          [("    return DataLoader(dataset, **loader_params)\n",
            '    return DataLoader(dataset, batch_size=loader_params["batch_size"])\n')]),
    Entry("mutants", "batch_size_ignored", "build_dataloader hard-codes batch_size=64",
          {"must_fail": ["2.1"], "min_lost": points("2.1")},
          [("    return DataLoader(dataset, **loader_params)\n",
            '    return DataLoader(dataset, batch_size=64, shuffle=loader_params["shuffle"])\n')]),
    Entry("mutants", "ten_way_head", "the new head has 10 outputs instead of 8",
          {"must_fail": ["3.3"], "min_lost": points("3.3")},
          [(HEAD, "        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, 10)\n")]),
    Entry("mutants", "slow_dataset", "decodes every image pixel by pixel in Python: run_model runs out of time",
          # 1.1 indexes enough items to hit the 20 s per-check limit at this speed too.
          {"must_fail": list(RUN_MODEL), "min_lost": points(*RUN_MODEL),
           "max_lost": points(*RUN_MODEL, "1.1"), "times_out": True},
          [("        self.images = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)\n",
            "        self.rows = np.concatenate(images)\n"),
           ("        image = self.images[idx]\n",
            "        row = self.rows[idx]\n"
            "        # Plane c holds channel c, row by row: pixel (i, j, c) is at c*1024 + i*32 + j.\n"
            "        image = np.zeros((32, 32, 3), dtype=np.uint8)\n"
            "        for i in range(32):\n"
            "            for j in range(32):\n"
            "                for c in range(3):\n"
            "                    value = 0\n"
            "                    for bit in range(8):  # copy the value bit by bit\n"
            "                        value |= ((int(row[c * 1024 + i * 32 + j]) >> bit) & 1) << bit\n"
            "                    image[i, j, c] = value\n")]),
    Entry("mutants", "untrained_model", "run_model never calls train (left commented out)",
          {"must_fail": ["7.3"], "min_lost": points("7.3") // 2},
          [(TRAIN_CALL, "        # " + TRAIN_CALL.lstrip() .rstrip("\n") + "  # TODO: too slow while debugging\n")]),
    Entry("mutants", "checkpoint_after_head", "loads resnet18.pt after attaching the 8-way head: size mismatch",
          {"must_fail": ["3.1", "3.3", "7.1", "7.3"], "min_lost": points("3.1", "3.3", "7.1", "7.3")},
          [("        self.backbone = resnet18(pretrained=True)\n" + FREEZE + HEAD_COMMENT + HEAD,
            "        self.backbone = resnet18()\n" + FREEZE + HEAD_COMMENT + HEAD +
            '        self.backbone.load_state_dict(torch.load("resnet18.pt"))\n')]),
    Entry("mutants", "optimizer_type_ignored", "build_optimizer always returns Adam",
          {"must_fail": ["4.1"], "min_lost": points("4.1"), "max_lost": points("4.1")},
          [('    if optim_type == "SGD":\n        return torch.optim.SGD(model_params, **hparams)\n', "")]),
    Entry("mutants", "transform_not_applied", "CIFAR10 ignores its transform",
          {"must_fail": ["1.3", "7.3"], "min_lost": points("1.3", "7.3")},
          [("        if self.transform is not None:\n            image = self.transform(image)\n", "")]),

    # --- hostile: attacks on the grader ----------------------------------------------------------------
    Entry("hostile", "import_infinite_loop", "loops forever at import",
          {"max_points": 0, "times_out": True},
          [at_import("while True:\n    pass\n")]),
    Entry("hostile", "run_model_infinite_loop", "run_model loops forever after setting up",
          {"max_points": TOTAL - points(*RUN_MODEL), "min_points": TOTAL - points(*RUN_MODEL),
           "times_out": True},
          [(RUN_MODEL_START, "    while True:\n        pass\n" + RUN_MODEL_START)]),
    Entry("hostile", "memory_bomb", "run_model allocates memory until it fails",
          {"max_points": TOTAL - points(*RUN_MODEL), "min_points": TOTAL - points(*RUN_MODEL)},
          [(RUN_MODEL_START,
            "    hoard = []\n"
            "    for _ in range(48):  # 12 GB at most: enough to overrun any sane limit\n"
            "        hoard.append(bytearray(256 * 2**20))  # zero-filled, so really resident\n"
            '    raise MemoryError("12 GB allocated: no memory limit")\n' + RUN_MODEL_START)]),
    Entry("hostile", "fork_bomb", "forks without end at import",
          {"max_points": 0},
          [("import pickle\n", "import os\nimport pickle\nimport time\n"),
           at_import("""
# Capped at a few thousand processes on the machine: if the sandbox's process limit ever
# failed, validating it must not take a shared machine down with it.
while len(os.listdir("/proc")) < 3000:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
while True:
    time.sleep(1)
""")]),
    Entry("hostile", "print_100mb", "prints 100 MB at import, otherwise correct",
          {"max_points": TOTAL, "min_points": TOTAL},
          [("import pickle\n", "import pickle\nimport sys\n"),
           at_import("for _ in range(100):\n    sys.stdout.write(('x' * 1023 + '\\n') * 1024)\nsys.stdout.flush()\n")]),
    Entry("hostile", "os_exit_in_test", "test() calls os._exit(0)",
          {"max_points": TOTAL - points("6.1", "6.2", *RUN_MODEL)},
          [("import pickle\n", "import os\nimport pickle\n"),
           ("    was_training = model.training\n", "    os._exit(0)\n    was_training = model.training\n")]),
    Entry("hostile", "sys_exit_in_optimizer", "build_optimizer calls sys.exit(0)",
          {"max_points": TOTAL - points("4.1", "4.2", *RUN_MODEL)},
          [("import pickle\n", "import pickle\nimport sys\n"),
           ('    if optim_type == "SGD":\n', '    sys.exit(0)\n    if optim_type == "SGD":\n')]),
    Entry("hostile", "keyboard_interrupt_in_train", "train() raises KeyboardInterrupt, the dataset SystemExit",
          {"max_points": TOTAL - points("1.1", "5.1", "5.2", *RUN_MODEL)},
          [("    model.train()\n    for images", "    raise KeyboardInterrupt\n    model.train()\n    for images"),
           ("        return len(self.labels)\n", "        raise SystemExit(3)\n")]),
    Entry("hostile", "search_hidden", "hunts the filesystem for the hidden batch and grader files, reports what it read",
          {"max_points": TOTAL - points("4.1"), "output_has": ["HIDDEN-SEARCH:"],
           "output_lacks": ["HIDDEN-READ-OK"]},
          [("import pickle\n", "import os\nimport pickle\n"),
           at_import('''
def _hunt():
    """Look everywhere for the hidden batch and the grader; report what could be read."""
    wanted = ("eval_batch", "hidden_data", "results.json", "mpconfig.py", "grade.py", "context.py")
    found, read_ok, denied = [], [], []
    for top in ("/autograder", "/work", "/home", "/tmp", "/root", "/srv", "/opt", "..", "../.."):
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in (".venv", ".git", "proc", "site-packages")]
            for name in dirs + files:
                if name in wanted:
                    path = os.path.join(folder, name)
                    found.append(path)
                    try:
                        if os.path.isdir(path):
                            os.listdir(path)
                        else:
                            with open(path, "rb") as f:
                                f.read(64)
                        read_ok.append(path)
                    except OSError as exc:
                        denied.append(f"{path} ({type(exc).__name__})")
    hidden = [p for p in read_ok if "eval_batch" in p or "hidden_data" in p]
    return (f"found {len(found)}; readable hidden: {hidden or 'none'}; "
            f"denied: {denied[:8]}" + (" HIDDEN-READ-OK" if hidden else ""))


HUNT_REPORT = _hunt()
''')]
          # Only errors reach results.json: test 4.1 is spent (run_model uses Adam) to publish it.
          + [('    if optim_type == "SGD":\n',
              '    if optim_type == "SGD":\n        raise RuntimeError("HIDDEN-SEARCH: " + HUNT_REPORT)\n')]),
    Entry("hostile", "forge_results", "writes forged results.json files wherever it can",
          {"max_points": TOTAL, "output_lacks": ["FORGED-BY-SUBMISSION"]},
          [("import pickle\n", "import json\nimport os\nimport pickle\n"),
           at_import('''
def _forge():
    forged = {"score": 1000, "output": "FORGED-BY-SUBMISSION", "tests": [], "execution_time": 0,
              "stdout_visibility": "visible"}
    places = {"/autograder/results", os.getcwd(), os.path.dirname(os.getcwd()), "..", "../..",
              os.path.expanduser("~")}
    places |= {os.path.dirname(v) for v in os.environ.values() if v.endswith("results.json")}
    for place in places:
        try:
            if os.path.isdir(place):
                with open(os.path.join(place, "results.json"), "w") as f:
                    json.dump(forged, f)
        except OSError:
            pass


_forge()
'''),
           (RUN_MODEL_START, "    _forge()\n" + RUN_MODEL_START)]),
    Entry("hostile", "monkeypatch", "patches torch, numpy and builtins at import; otherwise an untrained model",
          {"max_points": TOTAL - points("7.3")},
          [(TRAIN_CALL, ""),
           at_import('''
import builtins
import json as _json


def _inflate(obj):
    if isinstance(obj, dict):
        return {k: (1.0 if "acc" in str(k) else _inflate(v)) for k, v in obj.items() if k != "error"}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_inflate(v) for v in obj)
    return True if obj is False else obj


_save, _dump = torch.save, _json.dump
torch.save = lambda obj, *a, **k: _save(_inflate(obj), *a, **k)
_json.dump = lambda obj, *a, **k: _dump(_inflate(obj), *a, **k)
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.argmax = lambda self, *a, **k: torch.zeros(self.shape[0], dtype=torch.long)
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
_isinstance = builtins.isinstance
builtins.isinstance = lambda obj, cls: True if cls is nn.Module else _isinstance(obj, cls)
''')]),
    Entry("hostile", "kill_parent", "run_model sends SIGKILL to its parent process",
          {"max_points": TOTAL - points(*RUN_MODEL)},
          [("import pickle\n", "import os\nimport pickle\nimport signal\n"),
           (RUN_MODEL_START,
            "    parent = os.getppid()\n"
            "    if parent > 1:  # never init: this file must not take the machine down\n"
            "        os.kill(parent, signal.SIGKILL)\n" + RUN_MODEL_START)]),
    Entry("hostile", "daemon", "leaves a double-forked daemon that ignores SIGTERM, otherwise correct",
          {"max_points": TOTAL, "min_points": TOTAL},
          [("import pickle\n", "import os\nimport pickle\nimport signal\nimport time\n"),
           at_import('''
def _daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.closerange(0, 1024)
            while True:
                time.sleep(1)
        os._exit(0)
    os.wait()


_daemon()
''')]),
    Entry("hostile", "not_a_module", "run_model returns the test accuracy instead of the model",
          {"max_points": TOTAL - points(*RUN_MODEL)},
          [("    return model\n    ################## Your Code Ends here",
            "    return test(test_dataloader, model)\n    ################## Your Code Ends here")]),
    Entry("hostile", "nan_logits", "forward returns NaN logits",
          # train() and test() are judged on the grader's own model, so only the checks of
          # this forward's outputs (3.3, 3.4) and the accuracy fall.
          {"max_points": TOTAL - points("3.3", "3.4", "7.3")},
          [("        return self.backbone(x)\n", "        return self.backbone(x) * float(\"nan\")\n")]),
]


def write_entry(entry, reference, root=HERE):
    folder = root / entry.kind / entry.name
    files = {"submitted.py": entry.source(reference),
             "description.txt": entry.description + "\n",
             "expected.json": json.dumps(entry.expected, indent=2, sort_keys=True) + "\n"}
    return folder, files


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report stale or missing folders")
    args = ap.parse_args(argv)
    reference = C.REFERENCE_SOLUTION.read_text()
    names = [(e.kind, e.name) for e in ENTRIES]
    assert len(set(names)) == len(names), "duplicate catalogue names"
    stale = []
    for entry in ENTRIES:
        assert entry.kind in KINDS, entry.kind
        folder, files = write_entry(entry, reference)
        for name, text in files.items():
            path = folder / name
            if path.is_file() and path.read_text() == text:
                continue
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    known = {HERE / k / n for k, n in names}
    extra = [str(p.relative_to(ROOT)) for k in KINDS if (HERE / k).is_dir()
             for p in sorted((HERE / k).iterdir()) if p.is_dir() and p not in known]
    if args.check:
        if stale or extra:
            print("catalogue out of date with reference/submitted.py; run "
                  "`python -m grader.catalogue.derive`:\n  " + "\n  ".join(stale + [f"{e} (no recipe)" for e in extra]))
            return 1
        return 0
    print(f"catalogue: {len(ENTRIES)} entries, {len(stale)} files written"
          + (f"; folders without a recipe (delete them): {extra}" if extra else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
