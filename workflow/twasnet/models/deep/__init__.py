"""Deep models that nest the cross-validated elastic net (:mod:`.nested`).

Modules: :mod:`.config` (defaults and checks), :mod:`.networks` (the one network builder),
:mod:`.loop` (the one training loop), :mod:`.nested` (the estimators ``cnn``/``cnn_annot``),
:mod:`.prior` (the across-gene annotation prior of ``cnn_annot``).
"""

from twasnet.models.deep.nested import AnnotatedCNNModel, CNNModel, load_model

__all__ = ["AnnotatedCNNModel", "CNNModel", "load_model"]
