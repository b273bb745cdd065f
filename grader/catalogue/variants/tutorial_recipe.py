"""PyTorch's tutorial recipe: Sequential backbone, 512->8 head, no train() override, Adam 1e-3, batch 4"""
import mpconfig as C
from grader.catalogue.shared import RUN_MODEL_START
from grader.catalogue.variants.sequential_backbone import EDITS as SEQUENTIAL_BACKBONE

# 10,000 steps of 4 images: about 4 times the reference's run_model (docs/changing.md), so it is
# graded with production's run_model limit rather than validate's shorter one.
EXPECTED = {"score": 100, "run_model_limit_s": C.RUN_MODEL_TIMEOUT_S}
EDITS = [
    *SEQUENTIAL_BACKBONE,
    # Batch norm stays in training mode: the recipe keeps nn.Module's own train().
    ("    def train(self, mode=True):\n", "    def train_keeping_frozen_bn(self, mode=True):\n"),
    (RUN_MODEL_START + "    BATCH_SIZE = 128\n", RUN_MODEL_START + "    BATCH_SIZE = 4\n"),
]
