"""run_model allocates memory until it fails"""
from grader.catalogue.shared import RUN_MODEL, RUN_MODEL_START, TOTAL, points

EXPECTED = {"max_points": TOTAL - points(*RUN_MODEL), "min_points": TOTAL - points(*RUN_MODEL)}
EDITS = [
    (RUN_MODEL_START,
     "    hoard = []\n"
     "    for _ in range(48):  # 12 GB at most: enough to overrun any sane limit\n"
     "        hoard.append(bytearray(256 * 2**20))  # zero-filled, so really resident\n"
     '    raise MemoryError("12 GB allocated: no memory limit")\n' + RUN_MODEL_START),
]
