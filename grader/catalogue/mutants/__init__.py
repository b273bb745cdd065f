"""Mutants: the reference with one realistic bug. Each must fail the tests its EXPECTED names."""
