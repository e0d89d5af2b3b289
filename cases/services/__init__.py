"""Writes for cases, one module per concern: intake, review, productions, sharing."""
