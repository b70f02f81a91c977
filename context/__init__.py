"""Conversation context: stored conversations, history fitted to each model, similar past interactions."""
