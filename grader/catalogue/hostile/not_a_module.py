"""run_model returns the test accuracy instead of the model"""
from grader.catalogue.shared import RUN_MODEL, TOTAL, points

EXPECTED = {"max_points": TOTAL - points(*RUN_MODEL)}
EDITS = [
    ("    return model\n    ################## Your Code Ends here",
     "    return test(test_dataloader, model)\n    ################## Your Code Ends here"),
]
