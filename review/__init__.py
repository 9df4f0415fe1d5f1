"""The labelling and review page: people label what the cascade needs, and see what it decided.

:mod:`review.queue` chooses the pairs to label (the active queue, with random and stratified
controls), :mod:`review.people` knows who may label, :mod:`review.labelling` hands pairs out and
records grades (and the settled grade in ``human_labels``, which calibration reads),
:mod:`review.agreement` measures people against each other and the cascade and lists conflicts,
:mod:`review.views` browses what the cascade and the curriculum decided, and :mod:`review.app`
serves it all (``dissent review``). The package reads the other stages only through the store.
"""

__all__: list[str] = []
