"""CIFAR10.__getitem__ stacks the image row by row with np.vstack, about 1 ms an item"""

EXPECTED = {"score": 100}
EDITS = [
    ("        image = self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)\n",
     "        row = self.images[idx]\n"
     "        planes = [np.vstack([row[c * 1024 + r * 32:c * 1024 + (r + 1) * 32] for r in range(32)])\n"
     "                  for c in range(3)]\n"
     "        image = np.dstack(planes)\n"),
]
