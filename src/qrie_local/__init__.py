"""The local stack: a moto server standing in for AWS, provisioned from ``template.yaml``, and a
runner that plays Lambda's event source mappings and schedules for the template's functions.

``qrie_local.template`` reads and translates the template. Nothing is imported here, so importing
a submodule has no side effects and pulls in only what it needs.
"""
