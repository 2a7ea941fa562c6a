"""The local stack: a moto server standing in for AWS with ``template.yaml`` deployed on it as a
CloudFormation stack (:mod:`qrie_local.provision`), and a runner that plays Lambda for the deployed
functions: their event source mappings, schedules and Invoke, as the local AWS's APIs describe
them (:mod:`qrie_local.deployed`). :mod:`qrie_local.rehearsal` deploys a ``sam build`` artifact
onto it with the SAM CLI.

``qrie_local.template`` reads and translates the template. Nothing is imported here, so importing
a submodule has no side effects and pulls in only what it needs.
"""
