"""nn.Sequential of the backbone's children without fc, flatten, new Linear"""
from grader.catalogue.shared import FREEZE, HEAD, HEAD_COMMENT

EXPECTED = {"score": 100}
EDITS = [
    ("        self.backbone = resnet18(pretrained=True)\n" + FREEZE + HEAD_COMMENT + HEAD,
     "        resnet = resnet18(pretrained=True)\n"
     "        # Every layer but the last (fc): the output is the pooled 512 features.\n"
     "        self.features = nn.Sequential(*list(resnet.children())[:-1])\n"
     "        for param in self.features.parameters():\n"
     "            param.requires_grad = False\n"
     "        self.classifier = nn.Linear(512, 8)\n"),
    ("        return self.backbone(x)\n",
     "        x = self.features(x)\n"
     "        x = torch.flatten(x, 1)\n"
     "        return self.classifier(x)\n"),
]
