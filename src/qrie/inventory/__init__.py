"""Inventory collectors, one module per service, registered in ``qrie.inventory.registry``."""
