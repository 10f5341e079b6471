"""Offline tools: code the agent never runs (model training), kept out of its package."""
