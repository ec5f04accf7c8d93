"""llmsim: a fast, trace-driven simulator of LLM serving clusters."""
