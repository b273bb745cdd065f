"""reference/recipe_sweep.py and its committed table: mpconfig's accuracy tiers come from it.

The tier checks read the committed CSV (no training); the shortcut check trains on a few
hundred images.
"""
import pytest
import torch

import mpconfig as C
from reference import recipe_sweep as S


@pytest.fixture(scope="module")
def table():
    return S.read_table()


def test_the_table_covers_every_recipe_with_three_seeds_or_more(table):
    seeds = {}
    for row in table:
        seeds.setdefault(row["recipe"], set()).add(row["seed"])
    assert set(seeds) == {r.name for r in S.RECIPES}, "rerun python -m reference.recipe_sweep"
    assert all(len(s) >= 3 for s in seeds.values()), seeds
    assert sum(r.kind == "sound" for r in S.RECIPES) >= 10
    assert all(row["kind"] == next(r.kind for r in S.RECIPES if r.name == row["recipe"]) for row in table)
    assert all(0 <= row["accuracy"] <= 1 and row["seconds"] > 0 for row in table)


def test_every_sound_recipe_clears_full_credit_by_the_margin_on_every_seed(table):
    full = C.ACCURACY_TIERS[0]
    assert full[1] == 1.0
    short = [(row["recipe"], row["seed"], row["accuracy"]) for row in table
             if row["kind"] == "sound" and row["accuracy"] < full[0] + S.MARGIN]
    assert not short, f"below the full-credit line {full[0]} + {S.MARGIN}: {short}"


def test_mpconfig_tiers_are_the_rule_applied_to_the_committed_table(table):
    assert tuple(C.ACCURACY_TIERS) == S.tiers_from_table(table), \
        "mpconfig.ACCURACY_TIERS differs from reference/recipe_sweep.py's rule on its table"
    thresholds = [t for t, _ in C.ACCURACY_TIERS]
    shares = [s for _, s in C.ACCURACY_TIERS]
    assert thresholds == sorted(thresholds, reverse=True) and len(set(thresholds)) == len(thresholds)
    assert shares == sorted(shares, reverse=True) and shares[0] == 1.0 and shares[-1] > 0


def test_the_rule_follows_the_table():
    """The rule reads the worst seeds: lowering one sound row lowers the full-credit line."""
    rows = [{"recipe": "a", "kind": "sound", "seed": s, "accuracy": acc, "seconds": 1.0}
            for s, acc in enumerate((0.90, 0.895, 0.893))]
    rows += [{"recipe": f"f{i}", "kind": "flawed", "seed": 0, "accuracy": acc, "seconds": 1.0}
             for i, acc in enumerate((0.86, 0.70, 0.45))]
    assert S.tiers_from_table(rows) == ((0.88, 1.0), (0.85, 0.75), (0.69, 0.5), (0.44, 0.25))
    rows[2]["accuracy"] = 0.871
    assert S.tiers_from_table(rows)[0] == (0.86, 1.0)
    # A flawed recipe as accurate as a sound one sets no tier; an unsound one counts for nothing.
    rows += [{"recipe": "f9", "kind": "flawed", "seed": 0, "accuracy": 0.872, "seconds": 1.0},
             {"recipe": "u", "kind": "unsound", "seed": 0, "accuracy": 0.5, "seconds": 1.0}]
    assert S.tiers_from_table(rows) == ((0.86, 1.0), (0.85, 0.75), (0.69, 0.5), (0.44, 0.25))


def _tiny_data():
    rows, labels = S.read_rows(C.DATA_DIR / C.TRAIN_FILES[0])
    hidden_rows, hidden_labels = S.read_rows(C.HIDDEN_DIR / C.HIDDEN_FILE)
    return (rows[:192], labels[:192]), (hidden_rows[:100], hidden_labels[:100])


@pytest.mark.parametrize("recipe", [
    S.Recipe("flip_two_layer_named", flip="tensor", batch_size=64, head="two", backbone="named"),
    S.Recipe("pilflip_meanstd_sgd_children", flip="pil", batch_size=64, norm="meanstd",
             optimizer="SGD", lr=0.1, backbone="children"),
    S.Recipe("logits_head_b4_sgd", head="logits", batch_size=4, optimizer="SGD", lr=1e-3),
], ids=lambda r: r.name)
def test_the_feature_shortcut_trains_the_same_head_as_the_whole_network(recipe):
    torch.set_num_threads(C.PROBE_THREADS)
    train, hidden = _tiny_data()
    accuracy, _, head = S.run(recipe, 0, train, hidden)
    cache = S.FeatureCache(train[0], hidden[0])
    accuracy_f, _, head_f = S.run_on_features(recipe, 0, train[1], hidden[1], cache)
    assert accuracy == accuracy_f
    full, short = head.state_dict(), head_f.state_dict()
    assert full.keys() == short.keys()
    assert all(torch.allclose(full[k], short[k], atol=1e-6) for k in full)
    # The heads moved from their initialisation, so equal heads are not a trivial match.
    torch.manual_seed(0)
    assert not torch.allclose(S.head_of(S.Net(recipe)).state_dict()[next(iter(full))], full[next(iter(full))])


def test_the_shortcut_refuses_a_backbone_in_training_mode():
    with pytest.raises(ValueError, match="eval mode"):
        S.run_on_features(S.Recipe("x", override=False), 0, [], [], None)
