"""Bilevel strategies: DARTS (alpha) and hypergradient HPO, whose outer variables the controller holds.

They are samplers too, registered in `nestor_controller.samplers`; importing that registry first lets
either package be imported first without a circular import.
"""

import nestor_controller.samplers  # noqa: F401
