"""CIFAR mean/std Normalize in both the train and the test transform"""

EXPECTED = {"score": 100}
EDITS = [
    ("def get_preprocess_transform(mode):\n",
     "CIFAR_MEAN = (0.4914, 0.4822, 0.4465)\nCIFAR_STD = (0.2470, 0.2435, 0.2616)\n\n\n"
     "def get_preprocess_transform(mode):\n"),
    ("        return transforms.Compose([transforms.ToTensor(), transforms.RandomHorizontalFlip()])\n",
     "        return transforms.Compose([transforms.ToTensor(), transforms.RandomHorizontalFlip(),\n"
     "                                   transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])\n"),
    ("        return transforms.ToTensor()\n",
     "        return transforms.Compose([transforms.ToTensor(),\n"
     "                                   transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])\n"),
]
