"""The hidden checks: the reference earns every point, and the judges refuse wrong answers.

The end-to-end grade runs once per module (children, run_model: slow); the judge tests feed the
parent-side comparison functions hand-made data and run no child.
"""
import io
import json
import math
import unittest

import pytest
import torch
from gradescope_utils.autograder_utils.json_test_runner import JSONTestRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

import mpconfig as C
from grader import context
from grader.probes import fixtures
from grader.protocol import FUNCTIONS_PROBE, IMPORT_PROBE, RUN_MODEL_PROBE
from grader.suites import base, dataset, loader, model, optimizer, run_model, testing, training


def run_suites(submission):
    ctx = context.for_submission(submission)
    stream = io.StringIO()
    JSONTestRunner(stream=stream).run(context.load_suites(ctx))
    return json.loads(stream.getvalue()), ctx


class _Graded(tuple):
    """(results, context) of a grade, with a short repr: hypothesis prints its test's arguments."""
    def __repr__(self):
        return "<the reference's grade>"


@pytest.fixture(scope="module")
def reference_grade():
    return _Graded(run_suites(C.REFERENCE_SOLUTION.parent))


@pytest.fixture(scope="session")
def knowledge():
    return context.load()


# --- end to end ------------------------------------------------------------------------------
@pytest.mark.slow
def test_reference_scores_full_marks(reference_grade):
    results, ctx = reference_grade
    failed = {t["number"]: t.get("output", "") for t in results["tests"] if t["status"] != "passed"}
    assert not failed, failed
    assert {t["number"] for t in results["tests"]} == set(C.TESTS)
    for t in results["tests"]:
        assert t["score"] == t["max_score"] == C.TESTS[t["number"]][0]
        assert t["visibility"] == C.TESTS[t["number"]][1]
        assert t.get("output", "").strip(), f"test {t['number']} says nothing to the student"
    assert math.isclose(results["score"], 100.0)
    board = {e["name"]: e for e in results["leaderboard"]}
    assert set(board) == set(C.LEADERBOARD)
    assert board["accuracy"]["value"] >= C.ACCURACY_TIERS[0][0]
    assert 0 < board["seconds"]["value"] <= ctx.knowledge.run_model_limit_s
    # Three children per grade: the import check, the cheap checks, run_model.
    assert set(ctx.seconds) == {IMPORT_PROBE, FUNCTIONS_PROBE, RUN_MODEL_PROBE}
    print({name: round(s, 1) for name, s in ctx.seconds.items()})


@pytest.mark.slow
def test_import_failure_fails_everything_with_one_child(tmp_path):
    (tmp_path / "submitted.py").write_text("import torch\ndef broken(:\n    pass\n")
    results, ctx = run_suites(tmp_path)
    assert results["score"] == 0
    assert len(results["tests"]) == len(C.TESTS)
    for t in results["tests"]:
        assert t["status"] == "failed"
        assert "could not be imported" in t["output"] and "SyntaxError" in t["output"]
    assert list(ctx.seconds) == [IMPORT_PROBE]
    assert all(isinstance(e["value"], (int, float)) for e in results["leaderboard"])


# --- configuration ---------------------------------------------------------------------------
def test_points_total_100_and_every_test_is_configured():
    assert math.isclose(sum(p for p, _ in C.TESTS.values()), 100.0)
    numbers = set()
    for case in _iter_cases(context.load_suites()):
        fn = getattr(type(case), case._testMethodName)
        if getattr(fn, "__leaderboard_column__", None):
            assert fn.__leaderboard_column__ in C.LEADERBOARD
            continue
        numbers.add(fn.__number__)
        assert fn.__weight__ == C.TESTS[fn.__number__][0]
        assert fn.__visibility__ == C.TESTS[fn.__number__][1]
        assert case.shortDescription().startswith(fn.__number__ + " ")
    assert numbers == set(C.TESTS)


def _iter_cases(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _iter_cases(item)
        else:
            yield item


def test_no_training_mode_forward_on_a_single_image():
    """Issue 13, item 3: batch norm in training mode raises on one image (layer4's maps are 1x1),
    so every check that runs a model in training mode feeds it batches of at least 2: 3.4's
    backward pass, train()'s loader (5.x), test()'s loaders (6.x: test() may forget eval()).
    Batches of one run in eval mode only (3.3's MODEL_CHECK_BATCH_SIZES)."""
    assert C.MODEL_CHECK_GRAD_IMAGES >= 2
    n, size = C.TRAIN_CHECK["images"], C.TRAIN_CHECK["batch_size"]
    assert min(n, size) >= 2 and n % size != 1
    n = C.TEST_CHECK["images"]
    for size in C.TEST_CHECK["batch_sizes"]:
        assert min(n, size) >= 2 and n % size != 1, size
    assert 1 in C.MODEL_CHECK_BATCH_SIZES     # eval mode (grader/probes/model.py model_outputs)


def test_tiers_are_ordered_and_shares_monotone():
    thresholds = [t for t, _ in C.ACCURACY_TIERS]
    shares = [s for _, s in C.ACCURACY_TIERS]
    assert thresholds == sorted(thresholds, reverse=True) and shares == sorted(shares, reverse=True)
    assert run_model.tier_share(1.0) == 1.0 and run_model.tier_share(0.0) == 0.0
    assert run_model.tier_share(thresholds[0]) == shares[0]
    assert run_model.tier_share(thresholds[1] - 1e-9) == shares[2]


def test_time_limit_scales_with_machine_speed_and_is_clamped():
    ref = C.CALIBRATION_REFERENCE_S
    assert context.run_model_limit(ref) == C.RUN_MODEL_TIMEOUT_S
    assert context.run_model_limit(ref * 1.5) == pytest.approx(C.RUN_MODEL_TIMEOUT_S * 1.5)
    assert context.run_model_limit(ref * 100) == C.RUN_MODEL_TIMEOUT_CAP_S
    assert context.run_model_limit(ref / 100) == C.RUN_MODEL_TIMEOUT_FLOOR_S


# --- gradescope-utils keeps scores on the function: a second grade must not inherit them ------
def test_partial_score_does_not_leak_into_the_next_grade():
    class Case(base.GradedCase):
        fail_early = False

        @base.graded("7.3", partial=True)
        def test_partial(self, set_score=None):
            if Case.fail_early:
                raise RuntimeError("broke before scoring")
            set_score(C.TESTS["7.3"][0])

    def grade():
        stream = io.StringIO()
        JSONTestRunner(stream=stream).run(unittest.TestSuite([Case("test_partial")]))
        return json.loads(stream.getvalue())["tests"][0]

    assert grade()["score"] == C.TESTS["7.3"][0]
    Case.fail_early = True
    second = grade()
    assert second["score"] == 0 and second["status"] == "failed"


# --- judges: test() --------------------------------------------------------------------------
TEST_ANS = {"accuracies": [0.25, 0.25], "images": 100, "batch_sizes": [32, 7]}


def _test_result(value, batch_size=32, changed=()):
    return {"batch_size": batch_size, "value": value, "describe": {"type": "builtins.float"},
            "changed": list(changed)}


def test_test_judge_accepts_the_fraction_and_refuses_a_percentage():
    assert testing.judge_accuracy([_test_result(0.25), _test_result(0.25, 7)], TEST_ANS) == []
    problems = testing.judge_accuracy([_test_result(25.0), _test_result(0.25, 7)], TEST_ANS)
    assert len(problems) == 1 and "percentage" in problems[0]


def test_test_judge_refuses_non_numbers_and_near_misses():
    none = dict(_test_result(None), describe={"type": "builtins.str"})
    assert "builtins.str" in testing.judge_accuracy([none, _test_result(0.25, 7)], TEST_ANS)[0]
    # 8/32 right in the first batch vs 25/100 overall: close, still wrong.
    assert testing.judge_accuracy([_test_result(0.24), _test_result(0.25, 7)], TEST_ANS)
    assert testing.judge_accuracy([_test_result(float("nan")), _test_result(0.25, 7)], TEST_ANS)


def test_test_judge_refuses_a_changed_model():
    assert testing.judge_unchanged([_test_result(0.25)]) == []
    assert "bn1.running_mean" in testing.judge_unchanged(
        [_test_result(0.25, changed=["backbone.bn1.running_mean"])])[0]


# --- judges: run_model -----------------------------------------------------------------------
def _hidden_ans(n=40, m=20, seed=0):
    labels = torch.randint(0, C.NUM_CLASSES, (n,), generator=torch.Generator().manual_seed(seed))
    return {"labels": labels, "flip_images": m}


def _perfect_logits(labels):
    return torch.nn.functional.one_hot(labels, C.NUM_CLASSES).float() * 5


def test_run_model_judge_scores_a_perfect_model_fully():
    ans = _hidden_ans()
    logits = _perfect_logits(ans["labels"])
    verdict = run_model.judge_accuracy({"logits": logits, "flip_logits": logits[:20]}, ans)
    assert verdict["share"] == 1.0 and verdict["accuracy"] == 1.0 and not verdict["flagged"]


@pytest.mark.parametrize("bad", [
    lambda l: l[:, :7],                                  # 7 classes
    lambda l: l[None],                                   # 3-d
    lambda l: l[:-1],                                    # a row missing
    lambda l: l.t(),                                     # transposed
    lambda l: torch.where(torch.arange(len(l))[:, None] == 3, float("nan"), l),
    lambda l: l.argmax(1),                               # predictions, not logits
])
def test_run_model_judge_refuses_malformed_logits(bad):
    ans = _hidden_ans()
    logits = _perfect_logits(ans["labels"])
    verdict = run_model.judge_accuracy({"logits": bad(logits), "flip_logits": logits[:20]}, ans)
    assert verdict["share"] == 0.0 and verdict["accuracy"] is None
    assert "expected" in verdict["lines"][0] or "NaN" in verdict["lines"][0]


def test_run_model_judge_scores_extra_columns_and_counts_their_predictions_wrong():
    """One defect, one deduction: a 10-way head loses 3.3, not 7.3; the argmax runs over every
    column, and a prediction of class 8 or 9 is simply wrong."""
    ans = _hidden_ans()
    labels = ans["labels"]
    logits = torch.cat([_perfect_logits(labels), torch.zeros(len(labels), 2)], dim=1)
    verdict = run_model.judge_accuracy({"logits": logits, "flip_logits": logits[:20]}, ans)
    assert verdict["share"] == 1.0 and verdict["accuracy"] == 1.0
    assert any("10 logits per image" in line for line in verdict["lines"])
    logits[30:, 9] = 100.0                               # 10 of 40 images predicted as class 9
    verdict = run_model.judge_accuracy({"logits": logits, "flip_logits": logits[:20]}, ans,
                                       flip_gap_max=1.0)
    assert verdict["accuracy"] == pytest.approx(30 / 40)
    assert any("the 10 images predicted as class 8 or above count as wrong" in line
               for line in verdict["lines"])


def test_run_model_judge_flags_a_memorised_lookup_table():
    ans = _hidden_ans()
    logits = _perfect_logits(ans["labels"])
    wrong = _perfect_logits((ans["labels"][:20] + 1) % C.NUM_CLASSES)   # mirrored: all wrong
    verdict = run_model.judge_accuracy({"logits": logits, "flip_logits": wrong}, ans)
    assert verdict["flagged"] and verdict["share"] == 0.0 and verdict["accuracy"] == 1.0
    assert any("mirrored" in line for line in verdict["lines"])


@given(st.integers(0, 40))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_run_model_judge_share_follows_the_tiers(correct):
    ans = _hidden_ans()
    labels = ans["labels"].clone()
    predicted = labels.clone()
    predicted[correct:] = (labels[correct:] + 1) % C.NUM_CLASSES
    logits = _perfect_logits(predicted)
    verdict = run_model.judge_accuracy({"logits": logits, "flip_logits": logits[:20]}, ans,
                                       flip_gap_max=1.0)
    assert verdict["accuracy"] == pytest.approx(correct / 40)
    assert verdict["share"] == run_model.tier_share(correct / 40)


def test_run_model_judge_refuses_a_non_module():
    problems = run_model.judge_run({"run": {"value": {"type": "builtins.NoneType", "is_module": False}}}, 600)
    assert "NoneType" in problems[0] and "return model" in problems[0]
    timeout = run_model.judge_run({"run": {"error": "Traceback...\nPartTimeout: stopped after 600 s"}}, 600)
    assert "time limit" in timeout[0]


# --- judges: model (value matching) ----------------------------------------------------------
def test_backbone_matched_by_value_whatever_the_names(knowledge):
    backbone = model.checkpoint_backbone(knowledge.checkpoint)
    net = fixtures.GraderNet(knowledge.checkpoint, 0, lock_backbone_eval=False)
    fp = fixtures.fingerprint(net)
    assert all(e["name"].startswith(("backbone.", "head.")) for e in fp)
    build = {"is_module": True, "fingerprint": fp}
    assert model.judge_loaded(build, {"backbone": backbone}) == []
    assert model.judge_frozen(build, {"backbone": backbone}) == []
    with torch.no_grad():
        net.backbone.layer2[0].conv1.weight[0, 0, 0, 0] += 1e-6    # one value, barely
    problems = model.judge_loaded({"is_module": True, "fingerprint": fixtures.fingerprint(net)},
                                  {"backbone": backbone})
    assert problems and "layer2.0.conv1.weight" in problems[0]


def test_frozen_judge_refuses_a_trainable_backbone_and_a_frozen_head(knowledge):
    backbone = model.checkpoint_backbone(knowledge.checkpoint)
    net = fixtures.GraderNet(knowledge.checkpoint, 0, lock_backbone_eval=False)
    net.backbone.layer4[1].bn2.weight.requires_grad = True
    net.head.weight.requires_grad = False
    net.head.bias.requires_grad = False
    problems = model.judge_frozen({"is_module": True, "fingerprint": fixtures.fingerprint(net)},
                                  {"backbone": backbone})
    assert len(problems) == 2 and "layer4.1.bn2.weight" in problems[0]


def test_gradient_and_output_judges():
    build = {"is_module": True, "fingerprint": [
        {"name": "b.w", "kind": "param", "digest": "x", "requires_grad": False, "shape": [2]},
        {"name": "h.w", "kind": "param", "digest": "y", "requires_grad": True, "shape": [8, 512]}]}
    ans = {"backbone": [{"key": "conv1.weight", "kind": "param", "digest": "x"}], "batch_sizes": [1]}
    assert model.judge_gradients({"b.w": "none", "h.w": "nonzero"}, build, ans) == []
    assert model.judge_gradients({"b.w": "nonzero", "h.w": "nonzero"}, build, ans)
    assert model.judge_gradients({"b.w": "none", "h.w": "none"}, build, ans)
    assert model.judge_gradients({"b.w": "none", "h.w": "nonfinite"}, build, ans)
    assert model.gradient_notes({"b.w": "none", "h.w": "nonzero"}, build, ans) == []
    good = {"type": "torch.Tensor", "shape": [1, 8], "dtype": "torch.float32", "finite": True}
    assert model.judge_outputs([{"n": 1, "output": good}], ans) == []
    assert model.judge_outputs([{"n": 1, "output": dict(good, shape=[1, 10])}], ans)
    assert model.judge_outputs([{"n": 1, "output": dict(good, finite=False)}], ans)


def test_gradient_judge_notes_an_unused_layer_without_failing():
    """3.4 judges the backbone (no gradient) and the head (a gradient); an unused trainable layer
    outside the backbone is a printed note, not a lost point."""
    def param(name, grad):
        return {"name": name, "kind": "param", "digest": name, "requires_grad": grad, "shape": [8]}
    build = {"is_module": True, "fingerprint": [param("b.w", False), param("h.w", True),
                                                 param("left.w", True), param("left.b", True)]}
    ans = {"backbone": [{"key": "conv1.weight", "kind": "param", "digest": "b.w"}]}
    grads = {"b.w": "none", "h.w": "nonzero", "left.w": "none", "left.b": "none"}
    assert model.judge_gradients(grads, build, ans) == []
    notes = model.gradient_notes(grads, build, ans)
    assert len(notes) == 1 and "2 trainable parameters" in notes[0] and "left.w" in notes[0]
    # The head unused too: no gradient anywhere outside the backbone is a lost point, no note.
    unused = dict(grads, **{"h.w": "none"})
    assert "is the new head used" in model.judge_gradients(unused, build, ans)[0]
    assert model.gradient_notes(unused, build, ans) == []
    # A gradient reaching the backbone still fails, whatever the head does.
    assert "backbone must be frozen" in model.judge_gradients(dict(grads, **{"b.w": "nonzero"}),
                                                              build, ans)[0]


# --- judges: train() ---------------------------------------------------------------------------
def test_train_judge_names_the_missing_step_and_zero_grad(knowledge):
    ans = knowledge.expected["training"]
    as_data = lambda head: {"weight": head[0], "bias": head[1], "backbone_changed": []}  # noqa: E731
    assert training.judge_head(as_data(ans["reference"]), ans) == []
    assert "unchanged" in training.judge_head(as_data(ans["initial"]), ans)[0]
    assert "zero_grad" in training.judge_head(as_data(ans["no_zero_grad"]), ans)[0]
    # The slips must be far outside the tolerance, or the check could not tell them apart.
    for slip in ("initial", "no_zero_grad"):
        gap = max(float((a - b).abs().max()) for a, b in zip(ans[slip], ans["reference"]))
        assert gap > 100 * C.TRAIN_CHECK_ATOL
    nudged = (ans["reference"][0] + 1e-3, ans["reference"][1])
    assert "differ" in training.judge_head(as_data(nudged), ans)[0]
    assert training.judge_backbone({"backbone_changed": ["layer1.0.bn1.running_mean"]})


# --- judges: dataloader and optimizer ----------------------------------------------------------
@given(length=st.integers(1, 120), batch_size=st.integers(1, 40), shuffle=st.booleans())
@settings(max_examples=40, deadline=None, derandomize=True)
def test_loader_judge_accepts_torch_dataloader_and_refuses_drop_last(length, batch_size, shuffle):
    case = [length, batch_size, shuffle, 7]
    torch.manual_seed(7)
    batches = [b[0].tolist() for b in DataLoader(fixtures.IndexDataset(length),
                                                 batch_size=batch_size, shuffle=shuffle)]
    assert loader.judge_case(case, {"value": batches}) is None
    if length % batch_size:
        assert "batches" in loader.judge_case(case, {"value": batches[:-1]})
    if not shuffle and length > 1:
        flat = sum(batches, [])[::-1]
        reordered = [flat[i:i + batch_size] for i in range(0, length, batch_size)]
        assert "order" in loader.judge_case(case, {"value": reordered})


def test_loader_judge_refuses_an_unshuffled_shuffle():
    case = [50, 10, True, 0]
    batches = [list(range(i, i + 10)) for i in range(0, 50, 10)]
    assert "shuffled" in loader.judge_case(case, {"value": batches})
    assert "error" in loader.judge_case(case, {"error": "TypeError: boom"})


def test_optimizer_judge():
    want = {"lr": 0.01, "class": optimizer.class_path(torch.optim.SGD)}
    good = {"is_optimizer": True, "describe": {"type": want["class"]}, "given": 2,
            "groups": [{"lr": 0.01, "params": [0, 1]}]}
    assert optimizer.judge_optimizer("SGD", good, want) == []
    adam = dict(good, describe={"type": optimizer.class_path(torch.optim.Adam)})
    assert optimizer.judge_optimizer("SGD", adam, want)
    assert optimizer.judge_optimizer("SGD", dict(good, groups=[{"lr": 0.001, "params": [0, 1]}]), want)
    assert optimizer.judge_optimizer("SGD", dict(good, groups=[{"lr": 0.01, "params": [0]}]), want)
    assert optimizer.judge_optimizer("SGD", dict(good, is_optimizer=False), want)


# --- probe answers: checked where the parent receives them ------------------------------------
def _nodes(data, path=()):
    """(path, value) of the nodes of a nested answer, the root included; of a long list only the
    first two items and the last (its thousands of labels are alike)."""
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(data, (list, tuple)):
        n = len(data)
        for i in (range(n) if n <= 8 else (0, 1, n - 1)):
            yield from _nodes(data[i], path + (i,))


def _set(data, path, value):
    """A copy of data with the node at path replaced (value DELETE removes a dict key)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        out = dict(data)
        if rest or value is not DELETE:
            out[head] = _set(data[head], rest, value)
        else:
            del out[head]
        return out
    out = list(data)
    out[head] = _set(data[head], rest, value)
    return type(data)(out)


DELETE = object()
MUTATIONS = {
    "delete": lambda v: DELETE, "none": lambda v: None, "error": lambda v: {"error": "boom"},
    "empty_list": lambda v: [], "empty_dict": lambda v: {}, "string": lambda v: "",
    "negative": lambda v: -1, "nan": lambda v: float("nan"), "huge": lambda v: 10 ** 9,
    "true": lambda v: True, "short_tensor": lambda v: torch.zeros(3),
    "nan_tensor": lambda v: torch.full(v.shape, float("nan")) if isinstance(v, torch.Tensor) else v,
    "truncated": lambda v: v[:1] if isinstance(v, (list, tuple)) else v,
}


@pytest.mark.slow
def test_every_answer_of_the_reference_fits_its_schema(reference_grade):
    _, ctx = reference_grade
    assert set(ctx.results) == set(context.SCHEMAS)
    for name, result in ctx.results.items():
        assert result.ok and context.schema_problem(name, result.data) is None, name


@pytest.mark.slow
def test_every_mutated_answer_is_refused_by_its_schema_or_judged_without_a_crash(reference_grade):
    """What a submission that patches torch.save could send, node by node of the reference's
    answers, each mutation in turn: the parent refuses it, naming where, or every judge gives a
    verdict (pass or fail). An exception out of a judge is a grader bug. (About 5,000 answers,
    a quarter of them judged: all of them, not a sample.)"""
    from grader.sandbox import ProbeResult
    _, ref_ctx = reference_grade
    refused, judged, crashes = 0, 0, []
    for probe, original in ((name, r.data) for name, r in ref_ctx.results.items()):
        for path, value in list(_nodes(original))[1:]:
            for kind, mutate in MUTATIONS.items():
                changed = mutate(value)
                if changed is value:    # the mutation does not apply to this node
                    continue
                result = context.checked(probe, ProbeResult(ok=True, data=_set(original, path, changed)))
                if not result.ok:
                    assert "could not make sense" in result.error and "(answer" in result.error
                    refused += 1
                    continue
                judged += 1
                outcome = _judged(ref_ctx.knowledge, dict(ref_ctx.results, **{probe: result}))
                crashes += [(probe, path, kind, text.splitlines()[-1]) for _, text in outcome.errors]
    print(f"{refused} refused, {judged} judged")
    assert refused and judged
    assert not crashes, crashes[:5]


def _judged(knowledge, results, modules=context.SUITES):
    """The unittest result of the suites (default: all) judging these probe results; no child runs."""
    ctx = context.Context(knowledge=knowledge, submission=C.ROOT, results=results)
    outcome = unittest.TestResult()
    context.load_suites(ctx, modules).run(outcome)
    return outcome


def test_a_finetunenet_that_is_no_module_fails_every_model_test_saying_so(knowledge):
    from grader.sandbox import ProbeResult
    build = {"value": {"is_module": False, "describe": {"type": "builtins.str"}}}
    answer = {"model": {"value": {"build": build}}}
    results = {IMPORT_PROBE: ProbeResult(ok=True), FUNCTIONS_PROBE: ProbeResult(ok=True, data=answer)}
    outcome = _judged(knowledge, results, [model])
    assert not outcome.errors and outcome.testsRun == 4
    assert len(outcome.failures) == 4
    assert all("not a torch.nn.Module" in text for _, text in outcome.failures)


def test_each_test_judges_the_context_it_was_loaded_with(knowledge):
    """Two submissions' suites side by side: no global decides whose results a test reads."""
    from grader.sandbox import ProbeResult
    no_module = {"model": {"value": {"build": {"value": {"is_module": False,
                                                          "describe": {"type": "builtins.str"}}}}}}
    broken = context.Context(knowledge, C.ROOT, results={
        IMPORT_PROBE: ProbeResult(ok=False, error="SyntaxError: invalid syntax")})
    no_net = context.Context(knowledge, C.ROOT, results={
        IMPORT_PROBE: ProbeResult(ok=True), FUNCTIONS_PROBE: ProbeResult(ok=True, data=no_module)})
    suites = {"broken": context.load_suites(broken, [model]), "no_net": context.load_suites(no_net, [model])}
    outcomes = {name: unittest.TestResult() for name in suites}
    for name in ("broken", "no_net"):
        suites[name].run(outcomes[name])
    for name, why in (("broken", "could not be imported"), ("no_net", "not a torch.nn.Module")):
        outcome = outcomes[name]
        assert not outcome.errors and len(outcome.failures) == outcome.testsRun == 4
        assert all(why in text for _, text in outcome.failures), name
    assert broken.seconds == no_net.seconds == {}, "no child runs for results in hand"


def test_lengths_judge_names_a_wrong_label_and_a_short_label_list():
    ans = {"files": ["a", "b"], "first_length": 2, "length": 4, "labels": [0, 1, 2, 3],
           "label_indices": [0, 1, 2, 3]}
    data = {"single_length": 2, "length": 4, "labels": [0, 1, 5, 3]}
    assert "[2] has label 5; expected 2" in dataset.judge_lengths(data, ans)[0]
    data = dict(data, labels=[0, 1, 2])
    assert "asked for 4 labels and got 3" in dataset.judge_lengths(data, ans)[0]
    assert dataset.judge_lengths(dict(data, labels=[0, 1, 2, 3]), ans) == []
    # A sample: the labels answer the sampled indices, in their order.
    sampled = dict(ans, label_indices=[1, 3])
    assert dataset.judge_lengths(dict(data, labels=[1, 3]), sampled) == []
    assert "[3] has label 2; expected 3" in dataset.judge_lengths(dict(data, labels=[1, 2]), sampled)[0]


def test_the_checks_read_no_more_items_than_run_model_s_limit_allows(knowledge):
    """A __getitem__ just fast enough for run_model (its limit over one epoch of the training
    images, nothing left for the model) still finishes every dataset part within half its limit."""
    per_item = C.RUN_MODEL_TIMEOUT_S / sum(len(knowledge.public(f)[1]) for f in C.TRAIN_FILES)
    args = knowledge.probe_args[FUNCTIONS_PROBE]["parts"]["dataset"]
    reads = {"dataset_lengths": len(args["dataset_lengths"]["label_indices"]),
             "dataset_items": len(args["dataset_items"]["indices"]),
             "dataset_transforms": 3 * len(args["dataset_transforms"]["indices"])}
    for part, items in reads.items():
        assert items * per_item < C.CHECK_PART_TIMEOUT_S / 2, (part, items, per_item)


# --- judges: dataset items (1.2) -------------------------------------------------------------
def _items_case(image, seed=3):
    """(data, expected) for judge_items: one item whose image is `image(row)`, a function of the
    file's row of 3072 values, described as the probe describes it."""
    import numpy as np
    from grader.probes import common
    from grader.probes import dataset as child
    row = np.random.default_rng(seed).integers(0, 256, 3072, dtype=np.uint8)
    hwc = row.reshape(3, 32, 32).transpose(1, 2, 0)
    want = torch.from_numpy(np.ascontiguousarray(hwc))
    tensor = want.permute(2, 0, 1).float().div(255)
    expected = {"files": ["a", "b"], "first_length": 1, "indices": [0], "labels": [3],
                "raw": [want], "tensor": [tensor]}
    given = image(row)
    data = {"raw": [{"describe": common.describe(given), "label": 3,
                     "label_describe": common.describe(3), "image": child._pixels(given)}]}
    return data, expected


def test_items_judge_accepts_every_exact_form_of_the_image():
    """1.2 checks that the pixels are the file's, in the right order: HWC, CHW or the file's row;
    numpy, tensor or PIL; integers, floats in [0, 1] or floats holding the values 0..255."""
    import numpy as np
    from PIL import Image
    hwc = lambda row: row.reshape(3, 32, 32).transpose(1, 2, 0)   # noqa: E731
    exact = {
        "HWC uint8 numpy": hwc,
        "CHW uint8 numpy": lambda row: row.reshape(3, 32, 32),
        "CHW uint8 tensor": lambda row: torch.from_numpy(row.reshape(3, 32, 32)),
        "HWC uint8 tensor": lambda row: torch.from_numpy(np.ascontiguousarray(hwc(row))),
        "CHW float tensor (ToTensor)": lambda row: torch.from_numpy(row.reshape(3, 32, 32)).float() / 255,
        "HWC float64 numpy / 255.0": lambda row: hwc(row) / 255.0,
        "CHW float tensor of the values 0..255": lambda row: torch.from_numpy(row.reshape(3, 32, 32)).float(),
        "HWC float32 numpy of the values 0..255": lambda row: hwc(row).astype("float32"),
        "HWC int64 numpy": lambda row: hwc(row).astype("int64"),
        "the file's row": lambda row: row,
        "the file's row as a tensor": lambda row: torch.from_numpy(row.copy()),
        "PIL image": lambda row: Image.fromarray(np.ascontiguousarray(hwc(row))),
    }
    for name, image in exact.items():
        assert dataset.judge_items(*_items_case(image)) == [], name


def test_items_judge_refuses_lost_or_reordered_pixels_and_says_what_differs():
    hwc = lambda row: row.reshape(3, 32, 32).transpose(1, 2, 0)   # noqa: E731
    scrambled = dataset.judge_items(*_items_case(lambda row: row.reshape(32, 32, 3)))
    assert len(scrambled) == 1 and "pixel values differ" in scrambled[0]
    assert "reshaped to (32, 32, 3) directly" in scrambled[0]
    bgr = dataset.judge_items(*_items_case(lambda row: hwc(row)[:, :, ::-1].copy()))
    assert "reverse order" in bgr[0]
    swapped = dataset.judge_items(*_items_case(lambda row: row.reshape(3, 32, 32).transpose(2, 1, 0)))
    assert "rows and columns are swapped" in swapped[0]
    halved = dataset.judge_items(*_items_case(lambda row: torch.from_numpy(row.reshape(3, 32, 32)).float() / 510))
    assert "pixel values differ" in halved[0]
    doubled = dataset.judge_items(*_items_case(lambda row: hwc(row).astype("float32") * 2))
    assert "dtype float32 with values from" in doubled[0] and "torch." not in doubled[0]
    wide = dataset.judge_items(*_items_case(lambda row: row.reshape(32, 96)))
    assert "shape (32, 96)" in wide[0]
    boolean = dataset.judge_items(*_items_case(lambda row: torch.from_numpy(hwc(row) > 127)))
    assert "dtype torch.bool; expected torch.uint8" in boolean[0]


# --- test() checks: one defect, one deduction --------------------------------------------------
def test_a_test_without_eval_loses_6_2_only(monkeypatch):
    """The child side of 6.x run in this process on the reference and on the catalogue's
    test_train_mode (test() never calls model.eval()): the accuracy it returns is right (6.1 is
    judged on a model whose output does not depend on its mode), the batch-norm statistics it
    overwrites fail 6.2."""
    import sys
    import types
    from grader import catalogue
    from grader.probes import testing as child
    monkeypatch.chdir(C.ROOT)
    args = dict(C.TEST_CHECK, batch_sizes=list(C.TEST_CHECK["batch_sizes"]), file=C.TEST_FILE,
                seed=C.FIXTURE_SEED)
    no_eval = next(e for e in catalogue.entries() if e.name == "test_train_mode")
    answers = {}
    for name, source in (("reference", C.REFERENCE_SOLUTION.read_text()), ("no_eval", no_eval.source())):
        module = types.ModuleType("submitted")
        exec(compile(source, "submitted.py", "exec"), module.__dict__)
        monkeypatch.setitem(sys.modules, "submitted", module)
        answers[name] = child.test_check(args)
    expected = {"accuracies": [r["value"] for r in answers["reference"]],
                "images": C.TEST_CHECK["images"], "batch_sizes": args["batch_sizes"]}
    assert testing.judge_unchanged(answers["reference"]) == []
    assert testing.judge_accuracy(answers["no_eval"], expected) == []
    problems = testing.judge_unchanged(answers["no_eval"])
    assert problems and "running_" in problems[0], problems
