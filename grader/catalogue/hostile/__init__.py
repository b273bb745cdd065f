"""Hostile submissions: attacks on the grader. Each must get no more than its EXPECTED allows."""
