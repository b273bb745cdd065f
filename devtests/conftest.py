import sys
from pathlib import Path

# The repo root holds mpconfig.py, models.py and the reference/ and grader/ packages.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
