"""Figures: one function per figure, data in, a matplotlib Figure out."""
