"""CIFAR10 falls back to ToTensor() without a transform, so its items are CHW float tensors"""

EXPECTED = {"score": 100}
EDITS = [
    ("        self.transform = transform\n",
     "        # No transform given: return tensors anyway, the model wants (3, 32, 32) floats.\n"
     "        if transform is None:\n"
     "            transform = transforms.ToTensor()\n"
     "        self.transform = transform\n"),
]
