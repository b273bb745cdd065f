"""run_model as in PyTorch's CIFAR-10 tutorial: batch size 4, SGD lr 1e-3 momentum 0.9, batch norm in training mode"""
from grader.catalogue.shared import RUN_MODEL_START

EXPECTED = {"score": 100}
EDITS = [
    ("    def train(self, mode=True):\n", "    def train_keeping_frozen_bn(self, mode=True):\n"),
    (RUN_MODEL_START + '    BATCH_SIZE = 128\n    OPTIMIZER = "Adam"\n    HPARAMS = {"lr": 1e-3}\n',
     RUN_MODEL_START + '    BATCH_SIZE = 4\n    OPTIMIZER = "SGD"\n    HPARAMS = {"lr": 1e-3, "momentum": 0.9}\n'),
]
