"""loads resnet18.pt after attaching the 8-way head: size mismatch"""
from grader.catalogue.shared import FREEZE, HEAD, HEAD_COMMENT, points

EXPECTED = {
    "must_fail": ["3.1", "3.3", "7.1", "7.3"],
    "min_lost": points("3.1", "3.3", "7.1", "7.3"),
}
EDITS = [
    ("        self.backbone = resnet18(pretrained=True)\n" + FREEZE + HEAD_COMMENT + HEAD,
     "        self.backbone = resnet18()\n" + FREEZE + HEAD_COMMENT + HEAD +
     '        self.backbone.load_state_dict(torch.load("resnet18.pt"))\n'),
]
