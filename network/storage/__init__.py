"""Files in and out, trusting nothing that is read: atomic writes, size caps, the one
strict-JSON reader, the one ``.npz`` reader, the one checkpoint header frame, and
SIGTERM handled like Ctrl-C so an interrupted run leaves its files whole.

Every format of the library (model files, checkpoints, grid results) is read through
these; each format's own fields are checked by its reader in ``mlp/``, ``conv/``,
``vae/`` or ``grid/``.
"""
