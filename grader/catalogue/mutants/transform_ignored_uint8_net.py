"""CIFAR10 ignores its transform and gives CHW uint8 tensors; the network converts uint8 input"""
from grader.catalogue.shared import points

# One defect, one deduction: only 1.3 judges what the dataset does with its transform.
EXPECTED = {"must_fail": ["1.3"], "min_lost": points("1.3"), "max_lost": points("1.3")}
EDITS = [
    ("        image = self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)\n",
     "        image = torch.from_numpy(self.images[idx].reshape(3, 32, 32).copy())\n"),
    ("        if self.transform is not None:\n            image = self.transform(image)\n", ""),
    ("        return self.backbone(x)\n",
     "        if x.dtype == torch.uint8:\n"
     "            x = x.float() / 255\n"
     "        return self.backbone(x)\n"),
]
