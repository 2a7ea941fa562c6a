"""``qrie console``: a local web console for a qrie stack (the local one or a deployed one).

It starts jobs and shows them live account by account, and reads findings, accounts and
policies, through the same service layer as the CLI (:mod:`qrie_cli.target`: job requests go
to the job handler, reads to the table) with the user's own AWS credentials. Nothing of it is
packaged into the functions.

- :mod:`.command`     the ``qrie console`` command: target, access token, uvicorn
- :mod:`.app`         routes and pages (Starlette, Jinja2 templates in ``templates/``)
- :mod:`.security`    token, cookie, CSRF, Host check, CSP and other response headers
- :mod:`.connection`  the target, opened lazily, and failures explained to a person
- :mod:`.queries`     what each page reads; :mod:`.live` job rate/ETA and task changes;
  :mod:`.findings` filters and keyset pagination; :mod:`.exports` streamed downloads;
  :mod:`.compliance` the CIS scores, once the table keeps them
- ``static/console.js`` polls once a second while a job runs (short polling) and updates the
  page; ``static/console.css``. No JavaScript library, no build step.
"""
