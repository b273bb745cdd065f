"""Pretrain the ResNet-18 backbone on the 10-class CIFAR-10 training split, then write its card.

    python -m reference.pretrain train [--epochs N] [--out resnet18.pt]   # ~1 h on 2 cores
    python -m reference.pretrain card [--ckpt resnet18.pt] [--train-meta build/resnet18.pt.train.json]

Recipe (why: see the card's "why" field): torchvision's ResNet-18 layout, SGD with Nesterov
momentum and a one-cycle schedule, random crops (4-pixel padding) and flips, label smoothing,
channels-last. Each training image is given one of the three common input conventions at random
(ToTensor, Normalize(0.5, 0.5), CIFAR mean/std) so the features do not depend on which one a
student uses. Seeds are fixed; only training images are ever used for training.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mpconfig as C  # noqa: E402
from models import BasicBlock, resnet18, load_checkpoint  # noqa: E402
from grader.probes.cifar_batch import rows_and_labels  # noqa: E402
from reference import build_data  # noqa: E402
from reference.build_data import find_source, read_source, sha256_file  # noqa: E402

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CONVENTIONS = ("totensor", "half", "meanstd")
# The committed resnet18.pt's recipe. Experiments (see NOTES), off here: zero_init_residual (each
# block's last batch-norm scale at 0, Goyal et al. 2017); eval_every (the ~4 s test pass every N epochs).
RECIPE = dict(epochs=40, batch_size=256, peak_lr=0.2, momentum=0.9, weight_decay=5e-4,
              label_smoothing=0.1, pad=4, seed=0, warmup_frac=0.25)


def apply_convention(x, name):
    """x: float images in [0, 1]."""
    if name == "totensor":
        return x
    if name == "half":
        return (x - 0.5) / 0.5
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def random_conventions(x, gen):
    """A convention drawn per image, so batch-norm statistics see the mixture."""
    pick = torch.randint(0, 3, (x.shape[0],), generator=gen)
    out = x.clone()
    for i, name in enumerate(CONVENTIONS):
        m = pick == i
        if m.any():
            out[m] = apply_convention(x[m], name)
    return out


def augment(xb, gen, pad):
    """Random crop after zero padding, and random horizontal flip, on a uint8 batch."""
    n = xb.shape[0]
    padded = F.pad(xb, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    idx = torch.arange(32)
    rows = (dy[:, None] + idx[None, :])[:, None, :, None].expand(n, 3, 32, 32)
    cols = (dx[:, None] + idx[None, :])[:, None, None, :].expand(n, 3, 32, 32)
    out = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def to_images(data):
    return torch.from_numpy(np.asarray(data).reshape(-1, 3, 32, 32).copy())


def make_optimizer(model, recipe, steps_per_epoch):
    """SGD with Nesterov momentum and the one-cycle schedule of the recipe."""
    opt = torch.optim.SGD(model.parameters(), lr=recipe["peak_lr"], momentum=recipe["momentum"],
                          nesterov=True, weight_decay=recipe["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe["peak_lr"], epochs=recipe["epochs"],
                                                steps_per_epoch=steps_per_epoch,
                                                pct_start=recipe["warmup_frac"])
    return opt, sched


def train_step(model, opt, sched, x_uint8, y, gen, recipe=RECIPE):
    """One step on a uint8 (N, 3, 32, 32) batch (augment, pick conventions, SGD): (loss, logits)."""
    model.train()
    xb = augment(x_uint8, gen, recipe["pad"]).float().div_(255)
    xb = random_conventions(xb, gen).contiguous(memory_format=torch.channels_last)
    logits = model(xb)
    loss = F.cross_entropy(logits, y, label_smoothing=recipe["label_smoothing"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss.item(), logits.detach()


def train(epochs, out, log=print, init=None, peak_lr=None, seed=None, **options):
    """One one-cycle run. init: a checkpoint to continue from; options: the experiments in NOTES."""
    R = dict(RECIPE, epochs=epochs, **options)
    if peak_lr is not None:
        R["peak_lr"] = peak_lr
    if seed is not None:
        R["seed"] = seed
    if init is not None:
        R["init"] = str(init)
    torch.manual_seed(R["seed"])
    gen = torch.Generator().manual_seed(R["seed"])
    src = read_source(find_source())
    x_train, y_train = to_images(src["train"][0]), torch.from_numpy(src["train"][1])
    x_test, y_test = to_images(src["test"][0]), torch.from_numpy(src["test"][1])
    model = resnet18(num_classes=10).to(memory_format=torch.channels_last)
    if init is not None:
        model.load_state_dict(load_checkpoint(init))
    elif R.get("zero_init_residual"):
        for m in model.modules():
            if isinstance(m, BasicBlock):
                torch.nn.init.zeros_(m.bn2.weight)
    steps_per_epoch = len(y_train) // R["batch_size"]
    opt, sched = make_optimizer(model, R, steps_per_epoch)
    start = time.time()
    for epoch in range(epochs):
        perm = torch.randperm(len(y_train), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * R["batch_size"]:(s + 1) * R["batch_size"]]
            yb = y_train[idx]
            loss, logits = train_step(model, opt, sched, x_train[idx], yb, gen, R)
            loss_sum += loss * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            total += len(yb)
        every = R.get("eval_every", 1)
        acc = (f" test_acc10 {evaluate(model, x_test, y_test):.4f}"
               if (epoch + 1) % every == 0 or epoch + 1 == epochs else "")
        log(f"epoch {epoch + 1}/{epochs} loss {loss_sum / total:.4f} train_acc {correct / total:.4f}"
            f"{acc} elapsed {time.time() - start:.0f}s")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, out)
    meta = {"recipe": R, "wall_time_s": round(time.time() - start, 1),
            "test_accuracy_10class": round(evaluate(model, x_test, y_test), 4),
            "torch": torch.__version__, "threads": torch.get_num_threads()}
    Path(str(out) + ".train.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


@torch.no_grad()
def features(model, x_uint8, convention="totensor", batch=1000, head=False):
    """The backbone's features (with head: the logits) of uint8 images, in eval mode."""
    model.eval()
    outs = []
    for i in range(0, len(x_uint8), batch):
        xb = apply_convention(x_uint8[i:i + batch].float().div(255), convention)
        outs.append((model if head else model.features)(xb.contiguous(memory_format=torch.channels_last)))
    return torch.cat(outs)


def evaluate(model, x_uint8, y, convention="totensor"):
    return (features(model, x_uint8, convention, head=True).argmax(1) == y).sum().item() / len(y)


def linear_probe(f_train, y_train, evals, epochs=100, seed=0):
    """Multinomial logistic regression on standardised frozen features (full-batch L-BFGS)."""
    torch.manual_seed(seed)
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    head = torch.nn.Linear(f_train.shape[1], C.NUM_CLASSES)
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=epochs, history_size=20,
                            line_search_fn="strong_wolfe")
    z = (f_train - mu) / sd

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(z), y_train) + 1e-4 * head.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        return {k: ((head((f - mu) / sd).argmax(1) == y).float().mean().item()) for k, (f, y) in evals.items()}


def load_batch(path):
    """(uint8 images, labels) of a built batch, checked against the data manifest."""
    rows, labels = rows_and_labels(build_data.load_batch(path), str(path))
    return to_images(rows), torch.from_numpy(labels)


def card(ckpt=C.CHECKPOINT, card_path=C.MODEL_CARD, train_meta=None):
    """Linear probes of the checkpoint's frozen features, its SHA-256 and train_meta, into the card."""
    train_meta = Path(train_meta or str(ckpt) + ".train.json")
    if not train_meta.is_file():
        raise SystemExit(f"pretrain card: {train_meta} not found; pass --train-meta "
                         f"(train writes it next to its --out checkpoint)")
    model = resnet18(num_classes=10).to(memory_format=torch.channels_last)
    model.load_state_dict(load_checkpoint(ckpt))
    train_sets = [load_batch(C.DATA_DIR / n) for n in C.TRAIN_FILES]
    x_tr = torch.cat([x for x, _ in train_sets])
    y_tr = torch.cat([y for _, y in train_sets])
    x_pub, y_pub = load_batch(C.DATA_DIR / C.TEST_FILE)
    x_hid, y_hid = load_batch(C.HIDDEN_DIR / C.HIDDEN_FILE)
    probes = {}
    for conv in CONVENTIONS:
        t0 = time.time()
        f_tr, f_pub, f_hid = (features(model, x, conv) for x in (x_tr, x_pub, x_hid))
        rate = (len(x_tr) + len(x_pub) + len(x_hid)) / (time.time() - t0)
        res = linear_probe(f_tr, y_tr, {"public_test": (f_pub, y_pub), "hidden": (f_hid, y_hid)})
        probes[conv] = {k: round(v, 4) for k, v in res.items()}
        probes[conv]["inference_images_per_s"] = round(rate)
        print(conv, probes[conv], flush=True)
    train_meta = json.loads(train_meta.read_text())
    doc = {
        "model": "ResNet-18 (models.py), torchvision parameter names, fc 512->10",
        "input_contract": "ToTensor() images in [0, 1]; the model standardises each image itself",
        "trained_on": "CIFAR-10 training split, 10 classes, 50,000 images; no test image",
        "recipe": train_meta["recipe"], "wall_time_s": train_meta["wall_time_s"], "torch": train_meta["torch"],
        "test_accuracy_10class": train_meta["test_accuracy_10class"], "linear_probe_8class": probes,
        "why": WHY, "notes": NOTES, "sha256": sha256_file(ckpt),
    }
    Path(card_path).write_text(json.dumps(doc, indent=2) + "\n")
    return doc


WHY = ("Layout: torchvision's stem (7x7 stride-2 conv, max pool) so that 32x32 images reach "
       "layer1 at 8x8. A 3x3 stride-1 stem is about 4x slower at inference (665 vs 2,900 "
       "images/s measured here), which would push one epoch of fine-tuning over 40,000 images "
       "past the 30 s the MP allows. Other ways to keep more resolution are slow too: layer4 at "
       "stride 1 trains at 137 s per epoch against 56 s and infers 1,200 images/s against 3,100; "
       "without the max pool, 215 s and 569 images/s (batch 256, this machine). Per-image "
       "standardisation inside the model plus a random input convention per training image make "
       "the three usual normalisations equivalent.")


NOTES = "Measured alternatives, not adopted. (1) A second one-cycle stage from this checkpoint (train --init resnet18.pt --epochs 20 --peak-lr 0.05 --seed 1): 1,487 s more, 0.8426 10-class test accuracy, 0.8975 hidden linear probe (+0.1 point); averaging the two stages' weights with recomputed batch-norm statistics: 0.8898. (2) A fresh run of 48 epochs with zero-initialised residual branches (train --epochs 48 --zero-init-residual --eval-every 8): 3,287 s, 0.8382 10-class, hidden probe 0.8885 (public 0.8928): lower, so run-to-run spread (about half a point) outweighs 8 more epochs. (3) 5-epoch runs side by side: without the per-image standardisation and the random conventions, training accuracy after 3 epochs was 0.597 against 0.629 with them. (4) The probe itself: L2 from 0 to 1e-2, 100 or 500 L-BFGS iterations, gives 0.890-0.8975 on the hidden batch; it is not the bottleneck. (5) The issue's starting recipe replicated (no per-image standardisation, ToTensor only, 30 epochs, model and optimiser otherwise as here): 1,900 s, 0.8393 10-class, hidden probe 0.8942 with ToTensor but 0.6798 with Normalize 0.5 and 0.6553 with mean/std: it matched this checkpoint's 10-class accuracy in 30 epochs instead of 40, so the standardisation may cost epochs on long schedules; the 0.852 / 0.900 reported for that recipe did not reproduce here, and it loses 20+ points for students who normalise. (6) Batch 128 at peak learning rate 0.1 (the issue's 75 s per epoch suggests its recipe used batch 128; here 70 s against 65 s at batch 256): train --epochs 40 --batch-size 128 --peak-lr 0.1 --eval-every 10, 2,783 s, 0.8408 10-class, hidden probe 0.8905 / 0.8905 / 0.8863 (public 0.9007 / 0.9010 / 0.8963): within the spread of the runs above. (7) Faster epochs, measured as training steps of batch 256: bfloat16 autocast was no faster (314-345 ms against 310-381 ms in fp32, although the CPU has AMX), torch.compile about 12 % faster after 35 s of compiling: too little to buy the epochs a higher plateau would need. So runs of 30 to 60 epochs (six recipes) all land at 0.8885-0.8975 on the hidden batch: the 0.90 goal is missed, and what bounds it is the layout, which the MP's time limits fix (see 'why')."


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    t.add_argument("--out", type=Path, default=C.CHECKPOINT)
    t.add_argument("--init", type=Path, default=None, help="continue from this checkpoint")
    t.add_argument("--peak-lr", type=float, default=None)
    t.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--zero-init-residual", action="store_true")
    t.add_argument("--eval-every", type=int, default=1, help="10-class test pass every N epochs")
    c = sub.add_parser("card")
    c.add_argument("--ckpt", type=Path, default=C.CHECKPOINT)
    c.add_argument("--train-meta", type=Path, default=None,
                   help="train's .train.json (default: next to --ckpt)")
    args = ap.parse_args(argv)
    if args.cmd == "train":
        print(train(args.epochs, args.out, log=lambda s: print(s, flush=True),
                    init=args.init, peak_lr=args.peak_lr, seed=args.seed, batch_size=args.batch_size,
                    zero_init_residual=args.zero_init_residual, eval_every=args.eval_every))
    else:
        card(args.ckpt, train_meta=args.train_meta)


if __name__ == "__main__":
    main()
