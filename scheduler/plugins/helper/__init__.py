"""Helpers shared by the built-in plugins (argument validation, score normalisation,
the pod's claim keys, the solver's instance tables). No plugin lives here."""
