"""Nestor executor: runs registered trainables in worker processes."""
