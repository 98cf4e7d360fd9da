"""LLM adapters over the official ``openai`` SDK (``meshq.openai.tools`` keeps the reference's name)."""
