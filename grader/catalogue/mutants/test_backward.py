"""test() computes the test loss with backward(), leaving gradients behind"""
from grader.catalogue.shared import TEST_COUNT, TEST_LOOP, points

EXPECTED = {"must_fail": ["6.2"], "min_lost": points("6.2")}
EDITS = [
    (TEST_LOOP,
     "    for images, labels in test_dataloader:\n"
     "        outputs = model(images)\n"
     "        loss = nn.functional.cross_entropy(outputs, labels)  # the test loss, for the log\n"
     "        loss.backward()\n" + TEST_COUNT),
]
