"""train() prints the loss every 50 batches"""

EXPECTED = {"score": 100}
EDITS = [
    ("    for images, labels in train_dataloader:\n"
     "        loss = loss_fn(model(images), labels)\n"
     "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n",
     "    for batch, (images, labels) in enumerate(train_dataloader):\n"
     "        loss = loss_fn(model(images), labels)\n"
     "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n"
     "        if batch % 50 == 0:\n"
     "            print(f\"batch {batch:4d}/{len(train_dataloader)}  loss {loss.item():.4f}\")\n"),
]
