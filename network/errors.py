"""The errors this package raises on purpose, one class per kind of fault.

Every error is a ``ValueError`` (through ``NNDLError``) so callers that already
catch ``ValueError`` keep working, and the command line can catch ``NNDLError``
alone to print one line instead of a traceback.

Message rule (STYLE.md, lesson 11): name the offending file or value, say what
is wrong with it, and say what to do instead, e.g.

    train-images-idx3-ubyte.gz: truncated: header declares 60000 images of
    28x28 (47040000 bytes) but the file holds 1234; re-download it or delete
    it so it is fetched again

Left out on purpose: error codes, exception chaining helpers, warnings. A
class exists here only when some caller needs to tell it apart.
"""


class NNDLError(ValueError):
    """Base class: a fault the user can fix, reported in one sentence."""


class DataError(NNDLError):
    """A data set is missing, corrupt, or not what its header says."""


class ModelFileError(NNDLError):
    """A saved network file cannot be read back (format, shapes, fields)."""


class UsageError(NNDLError):
    """Bad arguments or options; the command line exits with status 2."""


class TrainingDiverged(NNDLError):
    """A loss or a parameter became NaN or infinite: every trainer stops with this.

    ``epoch`` (counted from 0), ``batch`` (the first mini-batch after which a parameter
    was not finite, or None when unknown) and ``cause`` (one sentence) say where and why.
    """

    def __init__(self, message, epoch, batch, cause):
        super().__init__(message)
        self.epoch, self.batch, self.cause = epoch, batch, cause
