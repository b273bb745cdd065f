"""self.data = [] then += each batch's b'data'; __getitem__ stacks each row's R, G, B planes to HWC"""

EXPECTED = {"score": 100}
EDITS = [
    ("        self.images, self.labels = [], []\n"
     "        for file in data_files:\n"
     "            batch = unpickle(file)\n"
     "            self.images += batch[b'data']      # one array of 3072 values per image\n"
     "            self.labels += batch[b'labels']\n",
     "        self.data = []\n"
     "        self.labels = []\n"
     "        for f in data_files:\n"
     "            batch = unpickle(f)\n"
     "            self.data += batch[b'data']\n"
     "            self.labels += batch[b'labels']\n"),
    ("        return len(self.labels)\n", "        return len(self.data)\n"),
    ("        # 3 planes of 32x32 (R, G, B) -> a 32x32x3 (HWC) image, as ToTensor expects.\n"
     "        image = self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)\n",
     "        row = self.data[idx]\n"
     "        r = row[0:1024].reshape(32, 32)\n"
     "        g = row[1024:2048].reshape(32, 32)\n"
     "        b = row[2048:3072].reshape(32, 32)\n"
     "        image = np.dstack((r, g, b))\n"),
]
