# submitted.py

"""
This is the module you will submit to the autograder.

There are several function and method definitions here that raise NotImplementedError.
Replace each "raise NotImplementedError" line (between the "Your Code Starts Here" and
"Your Code Ends here" markers) with code that does what the docstring above it says.

The pretrained backbone comes from models.py (resnet18(pretrained=True) loads the local
file resnet18.pt; nothing is downloaded). It expects images as produced by
transforms.ToTensor(): float tensors of shape (3, 32, 32) with values in [0, 1].

If you are not sure how to use PyTorch, you may want to take a look at the tutorial:
https://pytorch.org/tutorials/beginner/basics/intro.html
"""

import pickle

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset, DataLoader
from torchvision import transforms

from models import resnet18


def unpickle(file):
    """
    Read one CIFAR-10 batch file.

    Parameters:
        file:       path of a batch file, e.g. "cifar10_batches/data_batch_1"

    Outputs:
        batch:      a dict with the keys
                    b'data':        a Python list of N numpy uint8 arrays, one per image, each of
                                    3072 values: the 1024 red values of the 32x32 image row by
                                    row, then the 1024 green, then the 1024 blue
                    b'labels':      a Python list of N ints in 0..7 (the classes, in order:
                                    airplane, automobile, bird, deer, frog, horse, ship, truck)
                    b'filenames':   a list of N bytes
                    b'batch_label': bytes

    b'data' is a list, not one array: np.array(batch[b'data']) stacks it into an (N, 3072)
    uint8 array, and np.array(batch[b'data'][i]).reshape(3, 32, 32).transpose(1, 2, 0) is
    image i as a 32x32x3 (HWC) array.
    """
    with open(file, 'rb') as fo:
        batch = pickle.load(fo, encoding='bytes')
    return batch


"""
1.  Define and build a PyTorch Dataset
"""
class CIFAR10(Dataset):
    def __init__(self, data_files, transform=None, target_transform=None):
        """
        Initialize your dataset here. Note that transform and target_transform
        correspond to your data transformations for the images and the labels.

        Parameters:
            data_files:         a list of strings, e.g. ["cifar10_batches/data_batch_1"]; the
                                dataset holds the images of all of them, in this order
            transform:          applied to every image (a 32x32x3 HWC uint8 numpy array), or None
            target_transform:   applied to every label (an int), or None

        The grader calls CIFAR10(files), CIFAR10(files, transform=transforms.ToTensor()) and
        CIFAR10(files, transform=..., target_transform=...) with transform functions of its own.
        """
        ################# Your Code Starts Here #################
        self.images, self.labels = [], []
        for file in data_files:
            batch = unpickle(file)
            self.images += batch[b'data']      # one array of 3072 values per image
            self.labels += batch[b'labels']
        self.transform = transform
        self.target_transform = target_transform
        ################## Your Code Ends here ##################

    def __len__(self):
        """
        Return the length of your dataset here.
        """
        ################# Your Code Starts Here #################
        return len(self.labels)
        ################## Your Code Ends here ##################

    def __getitem__(self, idx):
        """
        Obtain a sample from your dataset.

        Parameters:
            idx:    an integer, used to index into your data.

        Outputs:
            y:      a tuple (image, label). Without a transform, the image is the file's image,
                    usually as a 32x32x3 (HWC) uint8 numpy array (any form that keeps every
                    pixel in place is accepted: HWC or CHW; numpy, tensor or PIL; uint8, floats
                    in [0, 1] or floats holding 0..255; or the file's row of 3072 values). With
                    a transform, whatever the transform returns for the HWC uint8 array (a
                    (3, 32, 32) float tensor for the transforms of get_preprocess_transform).
                    The label is an int in 0..7 (after target_transform, if any).
        """
        ################# Your Code Starts Here #################
        # 3 planes of 32x32 (R, G, B) -> a 32x32x3 (HWC) image, as ToTensor expects.
        image = self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)
        label = self.labels[idx]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label
        ################## Your Code Ends here ##################


def get_preprocess_transform(mode):
    """
    Parameters:
        mode:           "train" or "test" mode to obtain the corresponding transform
    Outputs:
        transform:      a torchvision transforms object e.g. transforms.Compose([...]) etc.

    The transform receives each image as your CIFAR10 gives it: a 32x32x3 (HWC) uint8 numpy
    array. It must return a (3, 32, 32) float tensor; transforms.ToTensor() makes one (values
    in [0, 1]). Random transforms such as transforms.RandomHorizontalFlip() accept a tensor or
    a PIL image, not a numpy array: put them after ToTensor(), or start with
    transforms.ToPILImage(). transforms.Normalize is optional (see models.py).
    The grader uses your "test" transform for the images it scores run_model's model on.
    """
    ################# Your Code Starts Here #################
    if mode == "train":
        # A mirrored image shows the same class: a free, cheap augmentation.
        return transforms.Compose([transforms.ToTensor(), transforms.RandomHorizontalFlip()])
    if mode == "test":
        return transforms.ToTensor()
    raise ValueError(f'mode must be "train" or "test", not {mode!r}')
    ################## Your Code Ends here ##################


def build_dataset(data_files, transform=None):
    """
    Parameters:
        data_files:      a list of strings e.g. "cifar10_batches/data_batch_1" corresponding to the CIFAR10 files to load data
        transform:       the preprocessing transform to be used when loading a dataset sample
    Outputs:
        dataset:      a PyTorch dataset object to be used in training/testing
    """
    ################# Your Code Starts Here #################
    return CIFAR10(data_files, transform=transform)
    ################## Your Code Ends here ##################


"""
2.  Build a PyTorch DataLoader
"""
def build_dataloader(dataset, loader_params):
    """
    Parameters:
        dataset:         a PyTorch dataset to load data
        loader_params:   a dict containing all the parameters for the loader.

    The grader passes loader_params with exactly the keys "batch_size" (an int) and "shuffle" (a
    bool), meant as the DataLoader parameters of those names. Your own run_model() may pass
    more (e.g. "drop_last").

    Outputs:
        dataloader:      a PyTorch dataloader object to be used in training/testing
    """
    ################# Your Code Starts Here #################
    return DataLoader(dataset, **loader_params)
    ################## Your Code Ends here ##################


"""
3. (a) Build a neural network class.
"""
class FinetuneNet(torch.nn.Module):
    def __init__(self):
        """
        Initialize your neural network here. Remember that you will be performing finetuning
        in this network so follow these steps:

        1. Initialize convolutional backbone with pretrained model parameters.
        2. Freeze convolutional backbone.
        3. Initialize linear layer(s).
        """
        super().__init__()
        ################# Your Code Starts Here #################
        self.backbone = resnet18(pretrained=True)
        for param in self.backbone.parameters():
            param.requires_grad = False
        # The pretrained fc predicts the 10 CIFAR-10 classes; ours are 8, so it gets replaced
        # by a new, trainable layer (512 features in, 8 logits out).
        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, 8)
        ################## Your Code Ends here ##################

    def train(self, mode=True):
        """
        Switch training mode on (mode=True) or off, like nn.Module.train, but keep every frozen
        batch-norm layer in eval mode. This part is given: you need not change it.

        Why: in training mode a batch-norm layer normalises with the statistics of the current
        batch and overwrites its stored running statistics, even when its parameters are
        frozen. Keeping frozen layers in eval mode makes the backbone compute exactly the
        features it was pretrained to compute.
        """
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                if not any(p.requires_grad for p in module.parameters()):
                    module.eval()
        return self

    def forward(self, x):
        """
        Perform a forward pass through your neural net.

        Parameters:
            x:      an (N, 3, 32, 32) tensor of images, where N is arbitrary.

        Outputs:
            y:      an (N, 8) tensor of output (logits) from the network
        """
        ################# Your Code Starts Here #################
        return self.backbone(x)
        ################## Your Code Ends here ##################


"""
3. (b)  Build a model
"""
def build_model(trained=False):
    """
    Parameters:
        trained:         a bool value specifying whether to use a model checkpoint
                         (True: load the weights saved in "trained_model.pt")

    Outputs:
        model:           the model to be used for training/testing

    The grader never calls build_model(trained=True) and never writes "trained_model.pt": it
    grades the model that run_model() returns. trained=True is for you, e.g. to reload a model
    you saved with torch.save(model.state_dict(), "trained_model.pt") without training again.
    """
    ################# Your Code Starts Here #################
    net = FinetuneNet()
    if trained:
        net.load_state_dict(torch.load("trained_model.pt", map_location="cpu", weights_only=True))
    return net
    ################## Your Code Ends here ##################


"""
4.  Build a PyTorch optimizer
"""
def build_optimizer(optim_type, model_params, hparams):
    """
    Parameters:
        optim_type:      the optimizer type, "Adam" or "SGD"
        model_params:    the model parameters to be optimized
        hparams:         the hyperparameters, a dict

    Outputs:
        optimizer:       a PyTorch optimizer object to be used in training

    The grader calls build_optimizer("SGD", params, {"lr": ...}) and build_optimizer("Adam",
    params, {"lr": ...}): hparams holds the key "lr" and nothing else. Use hparams["lr"] as the
    learning rate; other hyper-parameters are yours to choose, with a default for when they are
    not given, e.g. hparams.get("momentum", 0.9).
    """
    ################# Your Code Starts Here #################
    if optim_type == "SGD":
        return torch.optim.SGD(model_params, **hparams)
    if optim_type == "Adam":
        return torch.optim.Adam(model_params, **hparams)
    raise ValueError(f'optim_type must be "SGD" or "Adam", not {optim_type!r}')
    ################## Your Code Ends here ##################


"""
5. Training loop for model
"""
def train(train_dataloader, model, loss_fn, optimizer):
    """
    Train your neural network.

    Iterate over all the batches in dataloader:
        1.  The model makes a prediction.
        2.  Calculate the error in the prediction (loss).
        3.  Zero the gradients of the optimizer.
        4.  Perform backpropagation on the loss.
        5.  Step the optimizer.

    Parameters:
        train_dataloader:   a dataloader for the training set and labels
        model:              the model to be trained
        loss_fn:            loss function
        optimizer:          optimizer

    Nothing is returned: train() updates the model in place. The grader calls it with its own
    model (a frozen backbone and a linear head), a loader of (ToTensor images, int64 labels)
    batches, nn.CrossEntropyLoss() and an SGD optimizer over the head.
    """
    ################# Your Code Starts Here #################
    model.train()
    for images, labels in train_dataloader:
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ################## Your Code Ends here ##################


"""
6. Testing loop for model
"""
def test(test_dataloader, model):
    """
    This function should test your model's performance on a test set.

    Parameters:
        test_dataloader:    a dataloader for the testing set and labels
        model:              the model that you will use to make predictions

    Outputs:
        test_acc:           the output test accuracy, a float: the fraction of the loader's
                            images whose largest logit is their label (0.0 <= acc <= 1.0)

    Testing must not change the model: predict in eval mode (model.eval(), else batch norm
    uses each batch's statistics and overwrites its stored ones) and without gradients
    (torch.no_grad()). You may leave the model in eval mode or switch it back to the mode it
    was in: the grader accepts both. It gives test() a model in training mode.
    """
    ################# Your Code Starts Here #################
    # Testing must not change the model: remember its mode and restore it at the end.
    was_training = model.training
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for images, labels in test_dataloader:
            predictions = model(images).argmax(dim=1)
            correct += (predictions == labels).sum().item()
            total += len(labels)
    model.train(was_training)
    return correct / total
    ################## Your Code Ends here ##################


"""
7. Full model training and testing
"""
def run_model():
    """
    The autograder will call this function and measure the accuracy of the returned model.
    Make sure you understand what this function does.
    Do not modify the signature of this function (names and parameters).

    Please run your model for 1 epoch(s).

    Outputs:
        model:              trained model

    The grader calls run_model() once, from the folder of submitted.py (with cifar10_batches/
    and resnet18.pt in it), after seeding random, numpy and torch. It then scores the returned
    model in eval mode on hidden images of the same 8 classes, prepared by your build_dataset
    with get_preprocess_transform("test"): the accuracy of the largest logit of each image.
    The reference solution's run_model (one epoch over the 40,000 training images, then one
    pass over the test batch) took about 35 s on an idle 2-core machine without a GPU, and
    many minutes while such a machine was shared with a dozen other heavy jobs. The grader's
    time limit is many times one epoch, scaled to the speed of the machine it runs on.

    A last batch of one image: the training set holds 40,000 images, so a batch size that
    leaves one over (40,000 % batch_size == 1: 3, 67, 199, 201 or 597, among others) ends each
    epoch on one image. In training mode, batch norm cannot normalise one image (layer4's maps
    are 1x1 here) and raises "Expected more than 1 value per channel when training". Pass
    drop_last=True to the training DataLoader, or keep the frozen backbone's batch norm in eval
    mode (as FinetuneNet.train does). The grader itself never runs your model in training mode
    on a batch of one.
    """
    ################# Your Code Starts Here #################
    # Hyperparameters, in one place so that they are easy to tune.
    EPOCHS = 1
    BATCH_SIZE = 128
    OPTIMIZER = "Adam"
    HPARAMS = {"lr": 1e-3}

    train_files = [f"cifar10_batches/data_batch_{i}" for i in range(1, 6)]
    train_dataset = build_dataset(train_files, transform=get_preprocess_transform("train"))
    test_dataset = build_dataset(["cifar10_batches/test_batch"], transform=get_preprocess_transform("test"))
    train_dataloader = build_dataloader(train_dataset, {"batch_size": BATCH_SIZE, "shuffle": True})
    test_dataloader = build_dataloader(test_dataset, {"batch_size": BATCH_SIZE, "shuffle": False})

    model = build_model()
    loss_fn = nn.CrossEntropyLoss()
    # Only the new head is trainable: the optimizer gets just the parameters that need grads.
    optimizer = build_optimizer(OPTIMIZER, [p for p in model.parameters() if p.requires_grad], HPARAMS)

    for epoch in range(EPOCHS):
        train(train_dataloader, model, loss_fn, optimizer)
        print(f"epoch {epoch + 1}/{EPOCHS}: test accuracy {test(test_dataloader, model):.4f}")
    return model
    ################## Your Code Ends here ##################
