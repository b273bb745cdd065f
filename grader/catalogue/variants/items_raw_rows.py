"""CIFAR10 without a transform gives the file's own row of 3072 values, as b'data' stores it"""

EXPECTED = {"score": 100}
EDITS = [
    ("        image = self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)\n",
     "        image = self.images[idx]\n"),
    ("        if self.transform is not None:\n            image = self.transform(image)\n",
     "        if self.transform is not None:\n"
     "            image = self.transform(image.reshape(3, 32, 32).transpose(1, 2, 0))\n"),
]
