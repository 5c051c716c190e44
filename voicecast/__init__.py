"""Shared core of voicecast: settings, user-facing errors, object storage, ffmpeg."""

__version__ = "0.1.0"
