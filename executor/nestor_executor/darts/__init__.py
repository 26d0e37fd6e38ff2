"""DARTS on the executor: the operations, the weight-sharing search network, the network a genotype
describes, and the gradient of the validation loss with respect to alpha (first and second order)."""
