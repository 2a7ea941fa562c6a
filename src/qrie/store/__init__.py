"""The only code that talks to DynamoDB (single-table design, see qrie.store.keys)."""

from qrie.store.table import Store

__all__ = ["Store"]
