"""the Dataset stores torch tensors and returns 0-d tensor labels"""

EXPECTED = {"score": 100}
EDITS = [
    ("        self.images = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)\n"
     "        self.labels = labels\n",
     "        data = torch.from_numpy(np.concatenate(images))\n"
     "        self.images = data.reshape(-1, 3, 32, 32).permute(0, 2, 3, 1).contiguous()\n"
     "        self.labels = torch.tensor(labels)\n"),
    ("        image = self.images[idx]\n", "        image = self.images[idx].numpy()\n"),
]
