"""CIFAR10 without a transform gives CHW float tensors of the exact pixel values 0..255"""

EXPECTED = {"score": 100}
EDITS = [
    ("        if self.transform is not None:\n            image = self.transform(image)\n",
     "        if self.transform is not None:\n            image = self.transform(image)\n"
     "        else:\n"
     "            image = torch.tensor(self.images[idx], dtype=torch.float32).reshape(3, 32, 32)\n"),
]
