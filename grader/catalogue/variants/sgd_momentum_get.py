"""build_optimizer reads hparams["lr"] and hparams.get("momentum", 0.9); run_model trains with SGD"""

EXPECTED = {"score": 100}
EDITS = [
    ('    if optim_type == "SGD":\n'
     '        return torch.optim.SGD(model_params, **hparams)\n'
     '    if optim_type == "Adam":\n'
     '        return torch.optim.Adam(model_params, **hparams)\n',
     '    lr = hparams["lr"]\n'
     '    if optim_type == "SGD":\n'
     '        momentum = hparams.get("momentum", 0.9)\n'
     '        return torch.optim.SGD(model_params, lr=lr, momentum=momentum)\n'
     '    elif optim_type == "Adam":\n'
     '        return torch.optim.Adam(model_params, lr=lr)\n'),
    ('    OPTIMIZER = "Adam"\n    HPARAMS = {"lr": 1e-3}\n',
     '    OPTIMIZER = "SGD"\n    HPARAMS = {"lr": 0.05}\n'),
]
