"""Experiments built from the loop's stages: the data-efficiency grid (self-generated against human preference pairs)
and the safety-helpfulness reward sweep (online RL per logit scale of the safety term).
"""
