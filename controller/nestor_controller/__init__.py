"""Nestor controller: studies, search strategies, store and executor pool."""
