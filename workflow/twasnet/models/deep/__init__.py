"""Deep models that nest the cross-validated elastic net (:mod:`.nested`).

Modules: :mod:`.config` (defaults and checks), :mod:`.networks` (the one network builder),
:mod:`.loop` (the one training loop), :mod:`.nested` (the estimators ``cnn``/``cnn_annot``),
:mod:`.prior` (the across-gene annotation prior of ``cnn_annot``). The estimators load on first
use, so importing :mod:`.config` (as ``enet_features`` does) does not import torch.
"""

__all__ = [
    "AnnotatedCNNModel",
    "CNNModel",
    "batch_size",
    "fit_encoders",
    "fit_together",
    "load_model",
]


def __getattr__(name: str):
    if name in __all__:
        from twasnet.models.deep import nested

        return getattr(nested, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
