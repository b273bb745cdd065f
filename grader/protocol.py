"""What the grading process and its children agree on: probe names, file names, wording.

A leaf (imports nothing of the project), so the context, the suites and grade.py name the same
probes without importing one another. Never copied into a probe's box: children get args.
"""
# Probes, as "module:function" of grader/probes/.
IMPORT_PROBE = "common:import_check"   # runs first; when it fails, no other probe runs
FUNCTIONS_PROBE = "functions:probe"    # the cheap checks of tests 1-6, one part per check
RUN_MODEL_PROBE = "run_model:probe"    # test 7: run_model() and the hidden images

STUB_DEFS_ARG = "stub_definitions"   # in every probe's args: the stub's names (grader/probes/common.py)
HIDDEN_SCRATCH_NAME = "grader_hidden_batch"   # the hidden images' file in the child's folder
# The names the import check describes: every function and class the MP asks for.
API_NAMES = ("CIFAR10", "get_preprocess_transform", "build_dataset", "build_dataloader",
             "FinetuneNet", "build_model", "build_optimizer", "train", "test", "run_model")

# Said to the student when a probe's answer could only come from patched torch, numpy or builtins.
TAMPERING = "Does submitted.py change torch, numpy or Python's builtins? It must not."
