"""Correct variants: the reference in another style. Each must score 100 %."""
