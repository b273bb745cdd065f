"""The student-visible tests (tests/) pass on every correct variant of the catalogue, each built
from its recipe: a submission the hidden grader accepts must not fail a visible test."""
import pytest

from grader import catalogue
from test_visible_tests import make_submission, run_visible

pytestmark = pytest.mark.slow

VARIANTS = [e for e in catalogue.entries() if e.kind == "variants"]


def test_there_are_variants_to_run():
    assert len(VARIANTS) >= 6


@pytest.mark.parametrize("variant", VARIANTS, ids=[e.name for e in VARIANTS])
def test_visible_tests_pass_on_a_correct_variant(variant, tmp_path):
    results, proc = run_visible(make_submission(tmp_path / variant.name, variant.source()))
    failing = {name: message for name, (outcome, message) in results.items() if outcome != "passed"}
    assert len(results) >= 10 and not failing, (
        f"{variant.label} ({variant.description}) fails visible tests: {failing}\n{proc.stdout[-3000:]}")
    assert proc.returncode == 0
