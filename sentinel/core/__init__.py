"""The daemon core: the CouchDB client, the batch pipeline and its context, checkpoint, infodocs,
lineage, parking, retry, errors, Sentinel's lookup index (contacts by normalised phone: `phones`) and
its cache, the duplicate-message counts saved with each batch (`history`), design documents, the
embedded server, settings values and CHT's tolerance for them, clock, metrics. Imports only itself.
"""
