"""The account registry: member accounts qrie reaches, registered by hand or synced from AWS
Organizations (see :mod:`qrie.accounts.registry`)."""
