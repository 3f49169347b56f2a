"""Helpers for the RAG-with-LLM-judges notebook suite.

Nothing happens on import: each module is imported where it is used, e.g.
``from helpers import transcripts``.
"""

__version__ = "0.1.0"
