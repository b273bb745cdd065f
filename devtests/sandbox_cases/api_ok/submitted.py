"""A stand-in submission with the MP's API names (trivial bodies): import_check's subject."""
from torch import nn
from torch.utils.data import Dataset

print("hello from submitted")


class CIFAR10(Dataset):
    def __init__(self, data_files, transform=None, target_transform=None):
        self.items = []

    def __len__(self):
        return 0

    def __getitem__(self, idx):
        raise IndexError(idx)


class FinetuneNet(nn.Module):
    pass


def get_preprocess_transform(mode):
    return None


def build_dataset(data_files, transform=None):
    return CIFAR10(data_files, transform)


def divide(a, b):
    return helper(a, b)


def helper(a, b):
    return a / b


answer = 42
