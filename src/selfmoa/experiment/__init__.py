"""Experiments built from the loop's stages: the data-efficiency grid (self-generated against human preference pairs).
"""
