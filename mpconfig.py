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

# --- grading: probes (owned by grader/sandbox/) -------------------------------------------
PROBE_USER = "mp09probe"            # unprivileged user for probes when the grader runs as root
PROBE_MEMORY_MB = 4096              # memory cap per probe (the message students see names it)
# In a container with a memory limit (Gradescope's), a probe's cap is the limit minus the grader's
# own memory minus this reserve (run_autograder's shell, page cache the kernel cannot drop), but
# never under PROBE_MEMORY_MIN_MB: below that the container is too small (CONTAINER_MIN_MB).
CONTAINER_RESERVE_MB = 100
PROBE_MEMORY_MIN_MB = 256
PROBE_MAX_PROCS = 256               # process/thread cap for the probe user
PROBE_MAX_FILE_MB = 256             # largest file a probe may write
PROBE_OUTPUT_KEEP_BYTES = 4096      # of captured stdout/stderr, the first and the last N bytes
PROBE_TIMEOUT_S = 90                # default wall-clock limit of one probe
PROBE_IMPORT_TIMEOUT_S = 60         # the first probe (import check): python + torch + import submitted
# This torch wheel maps ~3.5 GB of address space (CUDA libraries) before it allocates anything,
# so the RLIMIT_AS backstop is PROBE_MEMORY_MB plus this; the real cap is a memory cgroup (v1)
# where the grader can make one (root), else this address-space limit alone.
PROBE_ADDRESS_SPACE_EXTRA_MB = 4096
PROBE_SLOTS = 4                     # probes that may run at once; each has its own user (mp09probe, mp09probe1, ...)
PROBE_MAX_COPY_MB = 512             # of the submission folder copied into the child's scratch
PROBE_MAX_RESULT_MB = 256           # largest answer file the parent accepts from a probe
PROBE_TRACEBACK_LINES = 15          # of a student's traceback, the last N lines are reported
PROBE_THREADS = 2                   # torch/OpenMP threads in a probe (unless PROBE_THREADS_ENV says otherwise)
PROBE_THREADS_ENV = "MP09_PROBE_THREADS"   # set by a grading worker that shares the cores out

# --- grading: suites, points, thresholds (owned by grader/suites) -------------------------
# Every graded test: number -> (points, Gradescope visibility). The numbers order the rows on
# Gradescope and name the tests in grader/suites/; the points add up to 100.
TESTS = {
    "1.1": (4, "visible"),          # CIFAR10: length, several files concatenated in order
    "1.2": (4, "visible"),          # CIFAR10: items pixel-exact, label types
    "1.3": (2, "visible"),          # CIFAR10: transform and target_transform applied
    "2.1": (6, "visible"),          # build_dataloader: batch_size and shuffle honoured
    "2.2": (2, "visible"),          # build_dataloader: batch shapes and dtypes on real data
    "3.1": (4, "visible"),          # FinetuneNet: loads resnet18.pt
    "3.2": (4, "visible"),          # FinetuneNet: backbone frozen, head trainable
    "3.3": (2, "visible"),          # FinetuneNet: (N, 8) outputs
    "3.4": (2, "visible"),          # FinetuneNet: gradients reach the head only
    "4.1": (2.5, "visible"),        # build_optimizer: SGD
    "4.2": (2.5, "visible"),        # build_optimizer: Adam
    "5.1": (10, "visible"),         # train: same head weights as the reference
    "5.2": (2, "visible"),          # train: backbone untouched
    "6.1": (6, "visible"),          # test: same accuracy as the reference
    "6.2": (2, "visible"),          # test: model left unchanged
    "7.1": (2, "visible"),          # run_model: finishes in time, returns a model
    "7.2": (3, "visible"),          # run_model: backbone still the checkpoint's
    "7.3": (40, "visible"),         # run_model: hidden-set accuracy (tiered)
}
LEADERBOARD = {"accuracy": "desc", "seconds": "asc"}   # column -> sort order

# Hidden-set accuracy -> share of 7.3's points; the first tier reached counts. From the table
# of reference/recipe_sweep.csv (python -m reference.recipe_sweep; docs/changing.md), by its rule
# tiers_from_table: a threshold is a recipe's worst seed minus 0.01, rounded down to 0.005.
# Full credit: the worst sound recipe (PyTorch's CIFAR-10 tutorial, batch size 4 with batch
# norm in training mode: 0.8618), so every sound recipe clears it by 0.01 on every seed.
# 75 %: a training loop left with a `break` after 5 batches (0.6975); 50 %: plain SGD without
# momentum at lr 1e-3 for one epoch (0.6105); 25 %: a `break` after 3 batches (0.4220).
# devtests/test_recipe_sweep.py checks these numbers against the committed table.
ACCURACY_TIERS = ((0.85, 1.0), (0.685, 0.75), (0.6, 0.5), (0.41, 0.25))
# A real classifier is about as accurate on mirrored images as on the originals; a lookup
# table of memorised images is not. A larger gap forfeits 7.3's points.
FLIP_GAP_MAX = 0.10
FLIP_CHECK_IMAGES = 1000            # the first N hidden images are also scored mirrored

# run_model's time limit: RUN_MODEL_TIMEOUT_S on the machine where CALIBRATION_REFERENCE_S was
# measured (2 cores), scaled by how long the calibration workload takes on the grading machine,
# then clamped, so that a slower Gradescope machine does not fail a correct submission.
RUN_MODEL_TIMEOUT_S = 600
RUN_MODEL_TIMEOUT_FLOOR_S = 300
RUN_MODEL_TIMEOUT_CAP_S = 1500
RUN_MODEL_EXTRA_S = 60              # on top: child start-up and the hidden-set inference
CALIBRATION_IMAGES = 128            # the workload: a ResNet-18 forward pass on these many images
CALIBRATION_REPEATS = 3             # its median time counts
# The workload's median seconds on the idle 2-core dev machine (5 readings 0.047-0.051).
CALIBRATION_REFERENCE_S = 0.048
# run_model's limit while validating the grader: well above a correct submission's run_model
# time, far below production's calibrated limit. Scaled by the machine's speed as the checks'
# limits are (context.speed_factor: at most 2.5x, so 200 s on a slow machine, where a correct
# variant's whole grade took 124-194 s with two entries at once and variants/slow_getitem adds
# about a minute). Entries that must time out cost this limit each, so it weighs on CI's time.
VALIDATE_RUN_MODEL_LIMIT_S = 80
# Entries graded at once by `grader validate` (and so in CI). Measured on the 2-core machine,
# the whole catalogue: 910 s with 2 (one probe thread each); 1,394 s with 1 (limit then 150 s).
VALIDATE_JOBS = 2
# CI's share of the catalogue: its validate grades the entries that time out and the reference,
# then starts no other entry after this many minutes, the others rotated by the day; so that the
# suite fits CI's 90 minutes on a slow machine (the whole catalogue took about an hour on one
# whose calibration read 0.26 s on 1 thread). `grader validate` without --budget-min grades all.
VALIDATE_CI_BUDGET_MIN = 20
RUN_MODEL_SEED = 0                  # torch, numpy and random are seeded with it before run_model

# The cheap checks (tests 1-6) share one probe; each of its 12 parts has its own time limit so
# that one hanging function does not cost the others their points (the probe's limit covers all
# twelve timing out, plus start-up).
# A part's limit is CHECK_PART_TIMEOUT_S on the dev machine, scaled by the calibration as
# run_model's limit is (never below it): a loaded or slower machine does not fail correct code.
CHECK_PART_TIMEOUT_S = 20
CHECK_PARTS = 12
CHECKS_STARTUP_S = 60
CHECK_SCALE_MAX = 2.5                # at most this many times the dev machine's limits
CHECKS_TIMEOUT_S = CHECK_PARTS * CHECK_PART_TIMEOUT_S + CHECKS_STARTUP_S   # before scaling

# Inputs of the checks; all derived from FIXTURE_SEED, so every grade asks the same questions.
FIXTURE_SEED = 20261122
DATASET_CHECK_FILES = TRAIN_FILES[:2]       # concatenated: the file boundary is checked too
DATASET_CHECK_RANDOM_INDICES = 12           # plus the first, the boundary and the last items
DATASET_CHECK_LABEL_INDICES = 200           # 1.1 reads labels here, not at every item (and the ends)
TARGET_TRANSFORM_OFFSET = 100               # the check's target_transform adds this to labels
LOADER_CHECK_CASES = 25                     # (length, batch_size, shuffle) drawn by hypothesis
LOADER_CHECK_MAX_LENGTH = 300
LOADER_CHECK_MAX_BATCH = 64
LOADER_SHUFFLE_MIN_LENGTH = 10              # shorter shuffled orders may equal 0..n-1 by chance
LOADER_CHECK_REAL_BATCH = 32
MODEL_CHECK_BATCH_SIZES = (1, 7, 64)
MODEL_CHECK_GRAD_IMAGES = 16                # test_batch images used for the backward pass
OPTIMIZER_CHECK_LR = {"SGD": 0.0123, "Adam": 0.00456}
TRAIN_CHECK = {"first": 0, "images": 48, "batch_size": 16, "lr": 0.5}
TRAIN_CHECK_ATOL = 1e-5                     # head weights after train(): vs the reference's
TRAIN_CHECK_RTOL = 1e-4
TEST_CHECK = {"first": 48, "images": 100, "batch_sizes": (32, 7)}
TEST_CHECK_ATOL = 1e-9                      # accuracies are ratios of the same integers

# --- Gradescope deployment (grader/deadline.py, grader/package.py, grader/rehearse.py) ----------
# The autograder timeout the course sets on Gradescope, in minutes (Gradescope's default 10, its
# maximum 40): one setting. `build-autograder --timeout-min N` writes N into the zip (DEPLOY_FILE)
# and the grader reads it back at start (grader/deadline.py); when Gradescope's timeout fires, the
# student gets 0 and no feedback at all, so the grader must be done well before it.
GRADESCOPE_TIMEOUT_MIN = 10
GRADESCOPE_TIMEOUT_MAX_MIN = 40
# Every stage's limit is what is left of that timeout (grader/deadline.py: Budget), so that
# results.json is written this long before it, whatever the submission does: 30 s as promised,
# plus room for the clock starting before the grader and for killing a probe's processes.
DEADLINE_RESERVE_S = 45
# What an earlier stage must leave for the later ones: a hung import or check never takes all
# of run_model's time. A stage left with less than STAGE_MIN_S is not run (and says why).
CHECKS_MIN_S = 60
RUN_MODEL_MIN_S = 150
STAGE_MIN_S = 5
# Start-up, import check and checks of a correct submission at 1 CPU / 1.5 GB, rounded up: what
# the student README subtracts from the timeout when it states run_model's limit. A rehearsal
# there (python -m grader rehearse, docs/figures.md): the grade took 88 s, run_model 61 s of it.
TYPICAL_EARLIER_STAGES_S = 40
# The smallest Gradescope container the grader supports (memory, MB): below it the grader says
# so at start and gives "grader error, contact staff", not a zero for the student's code.
CONTAINER_MIN_MB = 1536
DEPLOY_FILE = "deploy.json"                 # at the zip's top level, i.e. /autograder/source
PREPARED_KNOWLEDGE = "prepared_knowledge.pt"  # the reference's results, computed at zip build
# What setup.sh installs on Gradescope's Ubuntu 22.04 (Python 3.10): requirements.txt's pins where
# they support 3.10, older ones where they do not, and only what grading imports.
GRADING_REQUIREMENTS = ROOT / "requirements-grading.txt"
MIN_PYTHON = (3, 10)                        # Gradescope's image; devtests/test_python_version.py
# Gradescope's container sizes, (CPUs, memory MB): 0.5/0.75 GB is the default.
GRADESCOPE_SIZES = ((0.5, 768), (1.0, 1536), (2.0, 3072), (4.0, 6144))
REHEARSAL_SAMPLE_S = 0.2                    # how often a rehearsal samples the container's memory
REHEARSAL_SUMMARY = DIST_DIR / "rehearsal.json"

# --- Code similarity across a course (grader/similarity.py, docs/similarity.md) -----------------
# copydetect's winnowing on pygments tokens (names become V, F, O, strings S; comments and blanks
# dropped): a fingerprint is every SIMILARITY_K tokenized characters (the library's default noise
# and guarantee thresholds, 25, so the window is 1 and every k-gram counts: runs are reproducible).
SIMILARITY_K = 25
# A pair is listed when the mean of its two scores (the share of each file's own code, beyond the
# stub, also found in the other) reaches this. Measured on 14 public submissions of the original
# MP (91 independent pairs): median 0.23, largest 0.46; a normal fit to them puts the largest of a
# 100-student course's 4,950 pairs near 0.58. Copies with a statement inserted after every 2nd
# line of code still scored 0.61 or more (docs/similarity.md).
SIMILARITY_THRESHOLD = 0.60
# ...and when the pair shares at least this many tokenized characters (the reference's train
# loop is 42): two nearly empty submissions that wrote the same few obvious lines are not listed.
SIMILARITY_MIN_SHARED = 150
# Only pairs whose shared-fingerprint share (mean of the two, a cheap count over all pairs) reaches
# this are compared exactly. Measured: 126 disguised copies scoring 0.6 or more had a share of
# 0.315 or more (at least 0.47 times their score); independent pairs, 0.12-0.57 times their score.
SIMILARITY_PREFILTER = 0.20
SIMILARITY_MAX_LISTED = 100                 # pairs listed (and shown side by side), best first
SIMILARITY_REGIONS = 3                      # longest shared regions named per file of a pair
SIMILARITY_MAX_BYTES = 1_000_000            # a larger submitted.py is skipped, with the reason
