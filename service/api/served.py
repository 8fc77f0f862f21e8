"""The app as ``exim-ledger serve`` runs it, in each worker process: the logging this
process was asked for, then the API."""

from __future__ import annotations

from fastapi import FastAPI

from service import logs
from service.api.app import create_app
from service.settings import Settings


def create() -> FastAPI:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)
