"""Curated measurements: ``base`` is the machinery vendor mappings are written in, ``lines`` turns a raw record
into its JSON lines through the vendor's mapping."""
