"""NAS model builders: any architecture of the chain, multi-branch and cell-based spaces as a PyTorch network."""

from nestor_executor.nas.build import build_network, network_for

__all__ = ["build_network", "network_for"]
