"""A REDCap-compatible API at /redcap/api/, so a registry's REDCap tools (PyCap, REDCapR,
redcapAPI) read the core data set's dictionary and the site's records, and import records.

One POST address, form-encoded `token` and `content`, answers and errors in REDCap's shapes
(`views`). The token is a REDCap token (`ApiToken.kind == "redcap"`, 32 hexadecimal characters)
bound to one site, of an active user who still imports rows there; every answer is about that
site only. Supported: `version` (answers as REDCap 14.5.0), `project`, `metadata`,
`exportFieldNames`, `instrument`, `record` export (flat, raw) and import (flat); formats json
and csv (xml is refused with a 400). Every request with a usable token is audited (channel
"redcap"); refusals of a known token go through the denial path.

Decisions (docs/redcap-api.md has them all):
- A record's name is the registry's own (`Case.registry_record`) for an imported record, the
  platform's pseudonym otherwise; `forceAutoNumber` is refused.
- Import is all or nothing, as REDCap's: the records become one row-import job (channel
  "redcap") that is validated at once; any refused row discards the job, writes nothing and
  answers REDCap's error lines; otherwise the job is committed at once (`importing`).
- `overwriteBehavior=overwrite` makes blank values clear stored ones; with it every JSON record
  must name the same fields, so a field left out is never taken for a blank.
"""
