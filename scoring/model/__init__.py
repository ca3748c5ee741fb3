"""The learned model (学习模型): features of a household when an alert is raised, training, scoring, explanations.

It estimates for each alert the chance that a home visit confirms it, ranks the queue and says why.
It never raises, suppresses or closes an alert (docs/model.md).
"""
