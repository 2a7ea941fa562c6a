"""Scanning: evaluate policies over the inventory and keep findings (open / resolved).

- :mod:`qrie.scan.engine`: one scan task (account x service), the resource item mapping and the
  resolution of findings whose resources were deleted;
- :mod:`qrie.scan.findings`: the finding item mapping and the finding queries;
- :mod:`qrie.scan.export`: streaming JSON, CSV and OCSF exports.
"""
