"""the Dataset stores torch tensors and returns 0-d tensor labels"""

EXPECTED = {"score": 100}
EDITS = [
    ("        self.transform = transform\n",
     "        data = torch.from_numpy(np.stack(self.images))\n"
     "        self.images = data.reshape(-1, 3, 32, 32).permute(0, 2, 3, 1).contiguous()\n"
     "        self.labels = torch.tensor(self.labels)\n"
     "        self.transform = transform\n"),
    ("        image = self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)\n",
     "        image = self.images[idx].numpy()\n"),
]
