"""Exports of trained models: PredictDB files, per-gene artefacts, and the stage-2 steps."""
