"""test() never switches the model to eval mode"""
from grader.catalogue.shared import points

# One defect, one deduction: 6.1 judges the accuracy on a model whose output does not depend on
# its mode; 6.2 the batch-norm statistics test() overwrites in training mode.
EXPECTED = {"must_fail": ["6.2"], "min_lost": points("6.2"), "max_lost": points("6.2")}
EDITS = [
    ("    was_training = model.training\n    model.eval()\n", ""),
    ("    model.train(was_training)\n", ""),
]
