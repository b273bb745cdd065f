"""The MP's hidden autograder: ``python -m grader grade --submission DIR``.

Student code never runs in the grading process: grader/sandbox/ runs it in isolated child
processes (probes) and the suites judge the plain data they return against the reference.
"""
