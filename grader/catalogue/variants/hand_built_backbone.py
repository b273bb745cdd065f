"""backbone re-assembled by hand from resnet's named children, no train() override, one Linear head"""
from grader.catalogue.shared import FREEZE, HEAD, HEAD_COMMENT

TRAIN_OVERRIDE = '''    def train(self, mode=True):
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

'''

EXPECTED = {"score": 100}
EDITS = [
    ("        self.backbone = resnet18(pretrained=True)\n" + FREEZE + HEAD_COMMENT + HEAD,
     "        resnet = resnet18(pretrained=True)\n"
     "        self.backbone = nn.Sequential(\n"
     "            resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,\n"
     "            resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,\n"
     "            resnet.avgpool,\n"
     "        )\n"
     "        for param in self.backbone.parameters():\n"
     "            param.requires_grad = False\n"
     "        self.fc = nn.Linear(512, 8)\n"),
    (TRAIN_OVERRIDE, ""),
    ("        return self.backbone(x)\n",
     "        x = self.backbone(x)\n"
     "        x = x.view(x.size(0), -1)\n"
     "        return self.fc(x)\n"),
]
