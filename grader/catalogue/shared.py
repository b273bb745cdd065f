"""What several catalogue recipes share: texts of the reference they edit, and helpers."""
import mpconfig as C

IMPORTS_END = "from models import resnet18\n"


def at_import(code):
    """An edit that inserts module-level code right after the submission's imports."""
    return (IMPORTS_END, IMPORTS_END + "\n" + code.strip("\n") + "\n")


def points(*numbers):
    """The points the given tests are worth (mpconfig.TESTS)."""
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
