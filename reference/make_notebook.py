"""Generate the student walk-through notebook mp09_notebook.ipynb (stored without outputs).

    python -m reference.make_notebook            # write the notebook
    python -m reference.make_notebook --check    # exit 1 if the committed notebook is stale

Only relative paths, so it runs unchanged in the student bundle; fixed cell ids, so the output is
reproducible. Shell cells run `"{sys.executable}"`, the kernel's own Python; training prints one
line per epoch (no progress bar: headless, each refresh is an output).
"""
import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mpconfig as C  # noqa: E402
from grader.atomic_write import write_text  # noqa: E402

ACCURACY_LINE = "test accuracy: "   # the devtests read the accuracy from this printed line

CELLS = [
    ("md", """# MP09: CNN Image Classifier — walk-through

You will fine-tune a ResNet-18, pretrained on CIFAR-10, to tell apart 8 classes: its
convolutional backbone stays frozen and only a new linear head is trained.

This notebook calls the functions of your `submitted.py` step by step, so you can see each part
work before you submit. Complete a function, then run the cells below it (the `autoreload`
extension picks up your edits without restarting the kernel). A cell that stops with
`NotImplementedError: You need to write this part!` calls a part you have not written yet."""),
    ("code", """%load_ext autoreload
%autoreload 2

import sys
import time

import numpy as np
import torch
import matplotlib.pyplot as plt

import submitted

torch.manual_seed(0)  # the same shuffles and initial head on every run"""),
    ("md", """## 1. The data

The images are stored in the CIFAR-10 python format: each batch file holds a dict with the
pixels (`b'data'`, one row of 3072 values per image: red plane, green plane, blue plane) and the
labels (`b'labels'`). `batches.meta` holds the class names."""),
    ("code", """meta = submitted.unpickle("cifar10_batches/batches.meta")
class_names = [name.decode() for name in meta[b"label_names"]]
train_files = ["cifar10_batches/data_batch_1", "cifar10_batches/data_batch_2", "cifar10_batches/data_batch_3",
               "cifar10_batches/data_batch_4", "cifar10_batches/data_batch_5"]
test_files = ["cifar10_batches/test_batch"]
print(len(class_names), "classes:", ", ".join(class_names))"""),
    ("md", """Your `CIFAR10` dataset, built without a transform, returns each image as stored: a
(32, 32, 3) array of bytes, ready for `plt.imshow`."""),
    ("code", """raw = submitted.build_dataset(test_files)
print("images in the test batch:", len(raw))

fig, axes = plt.subplots(3, 8, figsize=(12, 5))
for ax, idx in zip(axes.flat, range(24)):
    image, label = raw[idx]
    ax.imshow(image)
    ax.set_title(class_names[label], fontsize=9)
    ax.axis("off")
plt.tight_layout()
plt.show()"""),
    ("md", """## 2. Transforms and data loaders

With the transforms of `get_preprocess_transform`, every image becomes a float tensor of shape
(3, 32, 32); a `DataLoader` stacks them into batches."""),
    ("code", """train_set = submitted.build_dataset(train_files, transform=submitted.get_preprocess_transform("train"))
test_set = submitted.build_dataset(test_files, transform=submitted.get_preprocess_transform("test"))
train_loader = submitted.build_dataloader(train_set, {"batch_size": 128, "shuffle": True})
test_loader = submitted.build_dataloader(test_set, {"batch_size": 256, "shuffle": False})

images, labels = next(iter(train_loader))
print("training images:", len(train_set), " test images:", len(test_set))
print("one batch: images", tuple(images.shape), images.dtype, " labels", tuple(labels.shape), labels.dtype)
print("pixel values from", round(images.min().item(), 3), "to", round(images.max().item(), 3))"""),
    ("md", """## 3. The model

`FinetuneNet` loads the pretrained backbone, freezes it and adds a new head with one output per
class. Only the head's parameters should be trainable."""),
    ("code", """model = submitted.build_model()
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
print(f"trainable parameters: {trainable:,}")
print(f"frozen parameters:    {frozen:,}")
with torch.no_grad():
    print("output for one batch:", tuple(model(images).shape))"""),
    ("md", """## 4. Training

Training for one epoch (one pass over the training images) takes a few minutes on a laptop: the
time of each epoch is printed when it ends. The loss function is wrapped so that every batch's
loss is recorded for the plot below."""),
    ("code", """EPOCHS = 1
loss_fn = torch.nn.CrossEntropyLoss()
optimizer = submitted.build_optimizer("Adam", [p for p in model.parameters() if p.requires_grad], {"lr": 1e-3})

losses = []
def recorded_loss(outputs, targets):
    loss = loss_fn(outputs, targets)
    losses.append(loss.item())
    return loss

for epoch in range(1, EPOCHS + 1):
    start = time.perf_counter()
    submitted.train(train_loader, model, recorded_loss, optimizer)
    seconds = time.perf_counter() - start
    print(f"epoch {epoch}/{EPOCHS}: {len(train_loader)} batches in {seconds // 60:.0f} min {seconds % 60:.0f} s, "
          f"mean loss {np.mean(losses[-len(train_loader):]):.4f}")"""),
    ("code", """window = 10  # a moving average makes the trend easier to see
smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
plt.figure(figsize=(7, 4))
plt.plot(losses, alpha=0.3, label="batch loss")
plt.plot(np.arange(window - 1, len(losses)), smooth, label=f"average of {window}")
plt.xlabel("batch")
plt.ylabel("cross-entropy loss")
plt.legend()
plt.show()"""),
    ("md", """## 5. Testing

`test` returns the fraction of test images classified correctly."""),
    ("code", f"""accuracy = submitted.test(test_loader, model)
print(f"{ACCURACY_LINE}{{accuracy:.4f}}")"""),
    ("md", """The confusion matrix shows which classes the model mixes up: row = true class,
column = predicted class."""),
    ("code", """model.eval()
confusion = np.zeros((len(class_names), len(class_names)), dtype=int)
with torch.no_grad():
    for images, labels in test_loader:
        predicted = model(images).argmax(dim=1)
        np.add.at(confusion, (labels.numpy(), predicted.numpy()), 1)

fig, ax = plt.subplots(figsize=(7, 6))
ax.imshow(confusion, cmap="Blues")
ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
ax.set_yticks(range(len(class_names)), class_names)
ax.set_xlabel("predicted")
ax.set_ylabel("true")
for i in range(len(class_names)):
    for j in range(len(class_names)):
        ax.text(j, i, confusion[i, j], ha="center", va="center",
                color="white" if confusion[i, j] > confusion.max() / 2 else "black", fontsize=8)
plt.tight_layout()
plt.show()"""),
    ("md", """## 6. Before you submit

The visible tests: a quick subset of the autograder's checks, numbered like the rows of
Gradescope's results. (A `!` line runs a command; `{sys.executable}` is this notebook's Python,
so the tests see the same packages as the notebook.)"""),
    ("code", """!"{sys.executable}" -m pytest tests -q"""),
    ("md", """The autograder also calls your `run_model()` (it must train and return the model within the
time limit) and measures the returned model's accuracy on hidden images of the same 8 classes.
To try the whole run, from the MP folder:

    .venv/bin/python -c "import submitted; submitted.run_model()"

Then upload `submitted.py` to Gradescope."""),
]


def build():
    cells = []
    for i, (kind, source) in enumerate(CELLS):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell.id = f"mp09-{i:02d}"
        cells.append(cell)
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the notebook is not the generator's output")
    parser.add_argument("--out", type=Path, default=C.NOTEBOOK)
    args = parser.parse_args(argv)
    text = build()
    if args.check:
        if args.out.is_file() and args.out.read_text() == text:
            print(f"make_notebook: {args.out} is up to date")
            return 0
        print(f"make_notebook: {args.out} differs from the generator's output; "
              f"run: python -m reference.make_notebook", file=sys.stderr)
        return 1
    write_text(args.out, text)
    print(f"make_notebook: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
