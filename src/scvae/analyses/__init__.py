"""Analyses: pure functions that write files and return the paths written."""
