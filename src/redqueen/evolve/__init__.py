"""Populations of models that recombine (merge) and mutate in weight space."""
