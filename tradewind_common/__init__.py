"""What every Tradewind process shares, servers and clients alike.

Settings from flags and ``TRADEWIND_*`` variables (:mod:`tradewind_common.config`), channels
to the services with TLS, tokens and retries (:mod:`tradewind_common.channels`,
:mod:`tradewind_common.tls`) and the installed release (:mod:`tradewind_common.version`). It
sits below both the services and the client, so that neither imports the other, and imports
nothing of Tradewind's. (Its name is long on purpose: a DAG folder's own ``common`` module
must not be shadowed by it.)
"""
