"""qrie: serverless multi-account AWS inventory and security-policy scanning."""

__version__ = "0.1.0"
