"""The hidden checks, one module per part of the MP, in Gradescope order (see grader.context)."""
