"""ResNet-18 for 32x32 CIFAR images: the backbone you fine-tune in this MP.

Input: a float tensor of shape (N, 3, 32, 32), as ``transforms.ToTensor()`` makes of each image
(values in [0, 1]). ``transforms.Normalize`` is optional: ``conv1`` standardises every image
(subtracts its mean, divides by its standard deviation) before it convolves, so ToTensor alone,
``Normalize((0.5,)*3, (0.5,)*3)`` and the CIFAR-10 mean/std all give (almost) the same features.

Layers, in order, with torchvision's names (the state-dict keys are torchvision's too):
``conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool, fc``. ``avgpool`` gives
512 features per image and ``fc`` maps them to the 10 CIFAR-10 classes (``fc.in_features`` is
512). Every usual way of taking the backbone without ``fc`` gives the same 512 features:
``model.fc = nn.Identity()``, ``nn.Sequential(*list(model.children())[:-1])`` (then flatten), or
an ``nn.Sequential`` of the named layers above.

Loading the pretrained weights works offline::

    model = resnet18(pretrained=True)                      # loads ./resnet18.pt
    model.load_state_dict(torch.load("resnet18.pt"))       # also fine, same weights

``pretrained=True`` never downloads: it loads the local checkpoint ``resnet18.pt`` (the
file next to this module, or the path given as ``checkpoint``).
"""
from pathlib import Path

import torch
from torch import nn

CHECKPOINT = Path(__file__).resolve().parent / "resnet18.pt"


def standardize(x):
    """Each image minus its mean, divided by its standard deviation (over all its pixels and
    channels). Any per-image affine rescaling of the input, such as the three usual
    normalisation conventions, then reaches the convolution (almost) unchanged."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / (std + 1e-5)


class StandardizingConv2d(nn.Conv2d):
    """A Conv2d that standardises each input image first. Inside conv1 (and not a layer of its
    own) so that no way of re-assembling the backbone from its named layers can skip it; its
    parameters are a plain Conv2d's (same state-dict keys)."""

    def forward(self, x):
        return super().forward(standardize(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers=(2, 2, 2, 2), num_classes=10):
        super().__init__()
        # torchvision's stem: 32x32 -> 16x16 (conv) -> 8x8 (max pool), kept for speed (a 3x3
        # stride-1 stem infers about 4 times slower on a CPU). conv1 standardises each image first.
        self.conv1 = StandardizingConv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = 64
        self.layer1 = self._make_layer(64, layers[0], 1)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Convolution weights in channels-last order: on a CPU, oneDNN then runs every conv about
        # 1.8 times faster at these small maps (same values; outputs agree to ~1e-6). Loading a
        # state dict copies into these tensors and keeps the order; so does any re-assembly.
        self.to(memory_format=torch.channels_last)

    def _make_layer(self, planes, blocks, stride):
        layers = [BasicBlock(self.inplanes, planes, stride)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        """The 512-d pooled features (everything but fc)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def load_checkpoint(path=CHECKPOINT):
    """Read a ResNet-18 state dict, with a clear error for a missing or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found: it ships with the MP as resnet18.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged zip/pickle
        raise RuntimeError(f"checkpoint {path} is corrupt or not a PyTorch file: {exc}") from exc
    if not isinstance(state, dict) or "conv1.weight" not in state or "fc.weight" not in state:
        raise RuntimeError(f"checkpoint {path} is not a ResNet-18 state dict (no conv1/fc weights)")
    return state


def resnet18(num_classes=10, pretrained=False, checkpoint=CHECKPOINT, **kwargs):
    """ResNet-18 with torchvision's parameter names.

    pretrained=True loads the local checkpoint (never a download); it needs
    num_classes=10, the checkpoint's fc size. Extra keyword arguments
    (e.g. ``progress``) are accepted and ignored, as torchvision's are not needed here.
    """
    model = ResNet(num_classes=num_classes)
    if pretrained:
        if num_classes != 10:
            raise ValueError("pretrained=True needs num_classes=10 (the checkpoint's fc is 512->10)")
        model.load_state_dict(load_checkpoint(checkpoint))
    return model
