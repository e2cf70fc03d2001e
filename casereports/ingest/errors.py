"""The one error of reading a file: it cannot be read as the core data set."""


class InputError(Exception):
    """The file cannot be read as the core data set; the message says why, in plain words."""
