"""test() takes optimizer steps on the test data"""
from grader.catalogue.shared import TEST_COUNT, TEST_LOOP, points

EXPECTED = {"must_fail": ["6.2"], "min_lost": points("6.2")}
EDITS = [
    (TEST_LOOP,
     "    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)\n"
     "    for images, labels in test_dataloader:\n"
     "        outputs = model(images)\n"
     "        loss = nn.functional.cross_entropy(outputs, labels)\n"
     "        optimizer.zero_grad()\n"
     "        loss.backward()\n"
     "        optimizer.step()\n" + TEST_COUNT),
]
