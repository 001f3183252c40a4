"""Old home of the progress rule; the loop contract now lives in :mod:`genlab.train.loop`."""

from genlab.train.loop import ProgressBar, progress_bar, show_progress

__all__ = ["ProgressBar", "progress_bar", "show_progress"]
