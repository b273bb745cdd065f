"""the course notebook uploaded as submitted.py (JSON with "cells"): said once, no test runs"""
import mpconfig as C

EXPECTED = {"max_points": 0, "output_has": ["is a Jupyter notebook",
                                            "Not run: submitted.py is a Jupyter notebook"],
            "output_lacks": ["NameError"]}
# The whole reference becomes the notebook's text: what a student uploads by mistake.
EDITS = [(C.REFERENCE_SOLUTION.read_text(), (C.ROOT / "mp09_notebook.ipynb").read_text())]
