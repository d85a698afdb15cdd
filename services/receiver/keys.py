"""Typed application state of the receiver (aiohttp `web.AppKey`s)."""

from __future__ import annotations

from aiohttp import web

from hopstream.receiver_sections import ClickBankAccount
from hopstream.settings import Settings
from schemas.messages import Offer
from services.receiver.metrics import ReceiverMetrics
from services.receiver.publisher import Publisher
from services.receiver.security import AccessPolicy

SETTINGS = web.AppKey("settings", Settings)
OFFERS = web.AppKey("offers", dict[str, Offer])
PUBLISHER = web.AppKey("publisher", Publisher)
METRICS = web.AppKey("metrics", ReceiverMetrics)
ACCESS = web.AppKey("access", AccessPolicy)
CLICKBANK_ACCOUNTS = web.AppKey("clickbank_accounts", dict[str, ClickBankAccount])
