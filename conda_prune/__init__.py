"""conda-prune: free disk from conda package caches and environments without breaking anything."""

from __future__ import annotations

__version__ = "0.1.0"
