"""decodes every image pixel by pixel in Python: run_model runs out of time"""
from grader.catalogue.shared import RUN_MODEL, points

# 1.1 indexes enough items to hit the 20 s per-check limit at this speed too.
EXPECTED = {
    "must_fail": list(RUN_MODEL),
    "min_lost": points(*RUN_MODEL),
    "max_lost": points(*RUN_MODEL, "1.1"),
    "times_out": True,
}
EDITS = [
    ("        image = self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)\n",
     "        row = self.images[idx]\n"
     "        # Plane c holds channel c, row by row: pixel (i, j, c) is at c*1024 + i*32 + j.\n"
     "        image = np.zeros((32, 32, 3), dtype=np.uint8)\n"
     "        for i in range(32):\n"
     "            for j in range(32):\n"
     "                for c in range(3):\n"
     "                    value = 0\n"
     "                    for bit in range(8):  # copy the value bit by bit\n"
     "                        value |= ((int(row[c * 1024 + i * 32 + j]) >> bit) & 1) << bit\n"
     "                    image[i, j, c] = value\n"),
]
