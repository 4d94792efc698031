"""Start-up errors the operator fixes (configuration, model files): stdlib only, so the model
converter's separate venv can import it too."""


class StartupError(Exception):
    """A node cannot start for a reason its message explains: reported as one FATAL line, exit status 2."""
