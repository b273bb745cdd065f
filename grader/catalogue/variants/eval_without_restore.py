"""test() switches to eval mode and leaves the model there"""

EXPECTED = {"score": 100}
EDITS = [
    ("    # Testing must not change the model: remember its mode and restore it at the end.\n"
     "    was_training = model.training\n",
     ""),
    ("    model.train(was_training)\n", ""),
]
