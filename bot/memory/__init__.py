"""Conversation memory and audit records in SQLModel (SQLite by default, PostgreSQL in production)."""

from bot.memory.models import AuditEntry, Conversation, Decision, Feedback, Message, PolicyVersion
from bot.memory.store import SqlMemoryStore, build_memory_store

__all__ = [
    "AuditEntry", "Conversation", "Decision", "Feedback", "Message", "PolicyVersion", "SqlMemoryStore",
    "build_memory_store",
]
