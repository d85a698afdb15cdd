"""Typed application state of the receiver (aiohttp `web.AppKey`s)."""

from __future__ import annotations

from aiohttp import web

from hopstream.settings import Settings
from schemas.messages import Offer
from services.receiver.publisher import Publisher

SETTINGS = web.AppKey("settings", Settings)
OFFERS = web.AppKey("offers", dict[str, Offer])
PUBLISHER = web.AppKey("publisher", Publisher)
