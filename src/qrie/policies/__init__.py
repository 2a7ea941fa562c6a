"""Security policies, one module per service, registered in ``qrie.policies.registry``."""
