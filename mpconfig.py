"""The one place for the MP's facts: classes, paths, data layout, thresholds, points, limits.

Pure Python (no third-party imports) so that dev.py can read it before the virtualenv exists.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# --- classes ---------------------------------------------------------------------------
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CLASSES = ("airplane", "automobile", "bird", "deer", "frog", "horse", "ship", "truck")
NUM_CLASSES = len(CLASSES)
IMAGE_SHAPE = (3, 32, 32)

# --- data --------------------------------------------------------------------------------
SOURCE_ENV = "MP09_CIFAR_SOURCE"                      # image-folder tree / tar.gz / official archive
DEFAULT_SOURCES = (ROOT.parent / "shared" / "data" / "cifar10-images.tar.gz",
                   ROOT / "downloads" / "cifar-10-python.tar.gz")
OFFICIAL_ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
DATA_DIR = ROOT / "cifar10_batches"                   # public: shipped to students
HIDDEN_DIR = ROOT / "hidden_data"                     # grader only: never in the student bundle
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
HIDDEN_FILE = "eval_batch"
DATA_MANIFEST = ROOT / "reference" / "data_manifest.json"
SPLIT_SEED = 20261122                                 # fixes class mixing and the test/hidden split
PUBLIC_TEST_PER_CLASS = 500                           # the other 500 of each class are hidden

# --- backbone ----------------------------------------------------------------------------
CHECKPOINT = ROOT / "resnet18.pt"
MODEL_CARD = ROOT / "reference" / "model_card.json"

# --- student side ------------------------------------------------------------------------
REFERENCE_SOLUTION = ROOT / "reference" / "submitted.py"   # the truth, with solution markers
STUBS = ROOT / "submitted.py"                               # generated from the reference
NOTEBOOK = ROOT / "mp09_notebook.ipynb"
VISIBLE_TESTS = ROOT / "tests"
DIST_DIR = ROOT / "dist"
STUDENT_BUNDLE = DIST_DIR / "student"
AUTOGRADER_ZIP = DIST_DIR / "autograder.zip"

# --- grading: probes (owned by grader/sandbox.py) ----------------------------------------
PROBE_USER = "mp09probe"            # unprivileged user for probes when the grader runs as root
PROBE_MEMORY_MB = 4096              # address-space cap per probe
PROBE_MAX_PROCS = 256               # process/thread cap for the probe user
PROBE_MAX_FILE_MB = 256             # largest file a probe may write
PROBE_OUTPUT_KEEP_BYTES = 4096      # of captured stdout/stderr, the first and the last N bytes
PROBE_TIMEOUT_S = 90                # default wall-clock limit of one probe

# --- grading: suites, points, thresholds (owned by grader/suites) -------------------------
# (filled in by the grader's suites; thresholds are set from the reference's measured accuracy)
